/**
 * Per-kernel profile of one wasm training step of the small MNIST CNN (the network of run.ts).
 *
 *   cd bench && npx tsx --conditions=source backends/profile-step.ts [--batch 400]
 */
import { tf, useBackend } from '@recallkit/core';
import { randn, smallCnn } from './cnn';

const args = process.argv.slice(2);
const batchArg = args.indexOf('--batch');
const BATCH = batchArg >= 0 ? Number(args[batchArg + 1]) : 400;
await useBackend((process.env['RECALLKIT_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');
const { params, embed } = smallCnn();
const x = tf.tidy(() => tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1)) as tf.Tensor4D;
const target = randn([BATCH, 128], 1);
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
