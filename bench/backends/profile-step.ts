/**
 * Per-kernel profile of one wasm training step of the small MNIST CNN (the network of run.ts).
 *
 *   cd bench && npx tsx --conditions=source backends/profile-step.ts [--batch 400]
 */
import { createRng, tf, useBackend } from '@recallkit/core';

const args = process.argv.slice(2);
const batchArg = args.indexOf('--batch');
const BATCH = batchArg >= 0 ? Number(args[batchArg + 1]) : 400;
const rng = createRng('bench/backends/profile');
const randn = (shape: number[], scale: number) =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale),
    shape,
  );

await useBackend((process.env['RECALLKIT_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');
const v = (shape: number[], fanIn: number) => tf.variable(randn(shape, Math.sqrt(2 / fanIn)));
const w1 = v([3, 3, 1, 32], 9);
const b1 = tf.variable(tf.zeros([32]));
const w2 = v([3, 3, 32, 64], 288);
const b2 = tf.variable(tf.zeros([64]));
const w3 = v([5 * 5 * 64, 128], 1600);
const b3 = tf.variable(tf.zeros([128]));
const params = [w1, b1, w2, b2, w3, b3];
const x = tf.tidy(() => tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1)) as tf.Tensor4D;
const target = randn([BATCH, 128], 1);
const embed = (input: tf.Tensor4D) =>
  tf.tidy(() => {
    let h = tf.maxPool(
      tf.relu(tf.add(tf.conv2d(input, w1 as tf.Variable<tf.Rank.R4>, 1, 'valid'), b1)) as tf.Tensor4D,
      2,
      2,
      'valid',
    );
    h = tf.maxPool(
      tf.relu(tf.add(tf.conv2d(h, w2 as tf.Variable<tf.Rank.R4>, 1, 'valid'), b2)) as tf.Tensor4D,
      2,
      2,
      'valid',
    );
    const e = tf.add(tf.matMul(tf.reshape(h, [input.shape[0], -1]) as tf.Tensor2D, w3), b3) as tf.Tensor2D;
    return tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
  });
const step = async () => {
  const { value, grads } = tf.variableGrads(
    () => tf.mean(tf.sum(tf.mul(embed(x), target), 1)) as tf.Scalar,
    params,
  );
  await Promise.all(Object.values(grads).map((g) => g.data()));
  tf.dispose([value, ...Object.values(grads)]);
};
await step();
const totals = new Map<string, { ms: number; count: number }>();
const reps = 3;
let wall = 0;
for (let r = 0; r < reps; r++) {
  const start = performance.now();
  const info = await tf.profile(step);
  wall += performance.now() - start;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const t = totals.get(key) ?? { ms: 0, count: 0 };
    t.ms += ms;
    t.count += 1;
    totals.set(key, t);
  }
}
const rows = [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms);
let sum = 0;
for (const [key, t] of rows) {
  sum += t.ms / reps;
  if (t.ms / reps >= 2) console.log(`${(t.ms / reps).toFixed(1).padStart(8)} ms  x${t.count / reps}  ${key}`);
}
console.log(
  `kernels ${sum.toFixed(0)} ms, wall ${(wall / reps).toFixed(0)} ms per step (profiled), batch ${BATCH}`,
);
