/**
 * One measurement of RS@k forward + backward in a fresh process (so peak RSS belongs to it):
 * similarity matMul, loss, and the gradient back to the embeddings, B x 512, 4 per class.
 * Usage: tsx --conditions=source losses/child.ts B random|clustered [implementation]
 * Prints one JSON line.
 */
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate, terminateWorkers } from '@recallkit/losses';

const batch = Number(process.argv[2]);
const data = process.argv[3] ?? 'random';
const implementation = (process.argv[4] ?? 'auto') as 'auto' | 'fused' | 'composite';
const dim = 512;

await useBackend('wasm');

/** Unit vectors, 4 per class; 'clustered' puts each class around its own centre (a trained-like batch). */
function batchOf(rows: number, seed: number): { e: tf.Tensor2D; labels: Int32Array } {
  return tf.tidy(() => {
    const labels = Int32Array.from({ length: rows }, (_, i) => Math.floor(i / 4));
    let x = tf.randomNormal([rows, dim], 0, 1, 'float32', seed);
    if (data === 'clustered') {
      const centres = tf.randomNormal([rows / 4, dim], 0, 1, 'float32', seed + 1);
      x = tf.add(tf.gather(centres, tf.tensor1d(labels, 'int32')), tf.mul(x, 0.8));
    }
    return { e: tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D, labels };
  });
}

const loss = recallAtKSurrogate({ implementation });
const step = (e: tf.Tensor2D, labels: Int32Array) => {
  const t0 = performance.now();
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
  grad.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  const out = { seconds, loss: value.dataSync()[0]! };
  tf.dispose([value, grad]);
  return out;
};

// Warm-up on a small batch: JIT, wasm kernels, worker threads.
const warm = batchOf(256, 1);
step(warm.e, warm.labels);
tf.dispose(warm.e);

const { e, labels } = batchOf(batch, 7);
const r = step(e, labels);
const stats = loss.lastStats!;
console.log(
  JSON.stringify({
    B: batch,
    d: dim,
    data,
    implementation: stats.implementation,
    total_s: Number(r.seconds.toFixed(4)),
    loss: r.loss,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
await terminateWorkers();
