/**
 * One measurement of RS@k forward + backward in a fresh process (so peak RSS belongs to it):
 * similarity matMul, loss, and the gradient back to the embeddings, on one of the batches of
 * `embeddings.ts` (synthetic 512-d, or a small CNN's 128-d embeddings of MNIST).
 * Usage: tsx --conditions=source losses/child.ts B KIND [implementation] [GRAD_FILE] [--warm]
 * (--warm: one untimed call on the same batch before the timed one)
 * Prints one JSON line (wall and CPU seconds of the timed call); with GRAD_FILE, also writes
 * d loss / d embeddings there (float32, row-major) and the batch file's path in the JSON line.
 */
import { writeFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate, terminateWorkers } from '@recallkit/losses';
import { batchFile, batchOf, KINDS, type Kind } from './embeddings';

const warmOnBatch = process.argv.includes('--warm');
const argv = process.argv.filter((a) => a !== '--warm');
const batch = Number(argv[2]);
const kind = (argv[3] ?? 'random') as Kind;
const implementation = (argv[4] ?? 'auto') as 'auto' | 'fused' | 'composite';
const gradFile = argv[5];
if (!KINDS.includes(kind)) throw new Error(`unknown embeddings '${kind}': one of ${KINDS.join(', ')}`);

await useBackend('wasm');

const loss = recallAtKSurrogate({ implementation });
const step = (e: tf.Tensor2D, labels: Int32Array) => {
  const t0 = performance.now();
  const cpu = process.cpuUsage();
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
  const g = grad.dataSync() as Float32Array;
  const used = process.cpuUsage(cpu);
  const out = {
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    loss: value.dataSync()[0]!,
    grad: g,
  };
  tf.dispose([value, grad]);
  return out;
};

const { e, labels } = await batchOf(kind, batch);
// Warm-up on a small batch: JIT, wasm kernels, worker threads.
const warm = tf.tidy(() => {
  const x = tf.randomNormal([256, e.shape[1]], 0, 1, 'float32', 1);
  return tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
});
step(
  warm,
  Int32Array.from({ length: 256 }, (_, i) => Math.floor(i / 4)),
);
tf.dispose(warm);

if (warmOnBatch) step(e, labels);
const r = step(e, labels);
const stats = loss.lastStats!;
if (gradFile) writeFileSync(gradFile, Buffer.from(r.grad.buffer, r.grad.byteOffset, r.grad.byteLength));
console.log(
  JSON.stringify({
    B: batch,
    d: e.shape[1],
    data: kind,
    implementation: stats.implementation,
    total_s: Number(r.seconds.toFixed(4)),
    cpu_s: Number(r.cpuSeconds.toFixed(4)),
    loss: r.loss,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    ...(gradFile ? { batch_file: await batchFile(kind, batch) } : {}),
  }),
);
await terminateWorkers();
