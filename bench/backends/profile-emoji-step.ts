/**
 * Per-kernel profile of one wasm training step of the emoji benchmark's network (@recallkit/models'
 * smallCnn on 32 x 32 x 3, 128-d embeddings), batch 400: forward, a scalar loss on the embeddings,
 * gradients of every weight. Prints the kernels above 1 ms, the sum, and the unprofiled step time.
 * RECALLKIT_THREADS and RECALLKIT_NATIVE_KERNELS=0 choose the threads and turn the native kernels off.
 *
 *   cd bench && RECALLKIT_THREADS=1 npx tsx --conditions=source backends/profile-emoji-step.ts [--batch 400]
 */
import { describeBackend, tf, useBackend } from '@recallkit/core';
import { smallCnn } from '@recallkit/models';
import { option } from '../args';

const BATCH = Number(option('--batch') ?? 400);
await useBackend('wasm');
const model = smallCnn({ inputShape: [32, 32, 3], seed: 0 });
const x = tf.randomUniform([BATCH, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
const target = tf.randomNormal([BATCH, 128], 0, 1, 'float32', 2);
const params = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
const step = async () => {
  const { value, grads } = tf.variableGrads(
    () => tf.mean(tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, target), 1)) as tf.Scalar,
    params,
  );
  await Promise.all(Object.values(grads).map((g) => g.data()));
  tf.dispose([value, ...Object.values(grads)]);
};
await step();
const reps = 3;
const totals = new Map<string, number>();
for (let r = 0; r < reps; r++) {
  const info = await tf.profile(step);
  for (const k of info.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    totals.set(key, (totals.get(key) ?? 0) + (k.kernelTimeMs as number) / reps);
  }
}
let sum = 0;
for (const [key, ms] of [...totals].sort((a, b) => b[1] - a[1])) {
  sum += ms;
  if (ms >= 1) console.log(`${ms.toFixed(1).padStart(8)} ms  ${key}`);
}
const start = performance.now();
for (let r = 0; r < reps; r++) await step();
const { threads, nativeKernels } = describeBackend();
console.log(
  `kernels ${sum.toFixed(0)} ms; unprofiled step ${((performance.now() - start) / reps).toFixed(0)} ms, batch ${BATCH}, ${threads} thread(s), native kernels: ${nativeKernels?.kernels.length ? nativeKernels.kernels.join(' ') : nativeKernels?.note}`,
);
