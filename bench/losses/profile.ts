/**
 * Times RS@k forward + backward on one benchmark batch, repeatedly in this process (wall and CPU
 * seconds), after printing the range of its off-diagonal similarities.
 * Usage (from bench/): npx tsx --conditions=source losses/profile.ts KIND B [reps] [threads]
 */
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate, terminateWorkers } from '@recallkit/losses';
import { batchOf, type Kind } from './embeddings';

const kind = (process.argv[2] ?? 'cnn-untrained') as Kind;
const rows = Number(process.argv[3] ?? 4000);
const reps = Number(process.argv[4] ?? 2);
const threads = process.argv[5] ? Number(process.argv[5]) : undefined;
await useBackend('wasm');
const { e, labels } = await batchOf(kind, rows);
const s = tf.tidy(() => tf.matMul(e, e, false, true));
const sd = s.dataSync();
let lo = 1;
let hi = -1;
let sum = 0;
for (let i = 0; i < rows; i++)
  for (let j = 0; j < rows; j++)
    if (i !== j) {
      const v = sd[i * rows + j]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sum += v;
    }
s.dispose();
console.log(
  `${kind} B=${rows} d=${e.shape[1]}: similarities in [${lo.toFixed(3)}, ${hi.toFixed(3)}], mean ${(sum / rows / (rows - 1)).toFixed(3)}`,
);
const loss = recallAtKSurrogate(threads ? { threads } : {});
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const cpu = process.cpuUsage();
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
  grad.dataSync();
  const c = process.cpuUsage(cpu);
  console.log(
    `rep ${r}: ${((performance.now() - t0) / 1000).toFixed(3)} s wall, ${((c.user + c.system) / 1e6).toFixed(3)} CPU s, loss ${value.dataSync()[0]}`,
  );
  tf.dispose([value, grad]);
}
await terminateWorkers();
