// smallCnn against the PyTorch peer's Net on the same work: embedding a batch (inference) and one
// training step (forward, mean of the similarity matrix, backward, Adam), batch of 28x28x1 images.
//   cd bench && npx tsx --conditions=source models/run.ts [batch=400] [forwardReps=5] [trainReps=3]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { tf, useBackend } from '@recallkit/core';
import { smallCnn } from '@recallkit/models';

const [batch = 400, forwardReps = 5, trainReps = 3] = process.argv.slice(2).map(Number);

function medianMs(fn: () => void, reps: number): number {
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

const loadBefore = loadavg()[0]!;
const peer = JSON.parse(
  execFileSync(
    '/usr/bin/python3',
    [
      fileURLToPath(new URL('./peer.py', import.meta.url)),
      String(batch),
      String(forwardReps),
      String(trainReps),
    ],
    {
      encoding: 'utf8',
    },
  ),
) as { forward_ms: number; train_ms: number; torch: string; threads: number };

await useBackend('wasm');
const model = smallCnn({ seed: 0 });
const x = tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', 0);
const optimizer = tf.train.adam(1e-4);
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

const forwardMs = medianMs(() => {
  const e = model.predict(x) as tf.Tensor;
  e.dataSync();
  e.dispose();
}, forwardReps);
const trainMs = medianMs(() => {
  const loss = optimizer.minimize(
    () => {
      const e = model.apply(x, { training: true }) as tf.Tensor2D;
      return tf.mean(tf.matMul(e, e, false, true)) as tf.Scalar;
    },
    true,
    variables,
  )!;
  loss.dataSync();
  loss.dispose();
}, trainReps);
const loadAfter = loadavg()[0]!;

const rate = (ms: number) => Math.round((batch * 1000) / ms);
console.log(
  `batch ${batch}; tfjs ${tf.version.tfjs} wasm; torch ${peer.torch}, ${peer.threads} threads; load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}`,
);
console.log('| work | smallCnn, wasm (images/s) | PyTorch Net (images/s) | ours / peer |');
console.log('|---|---|---|---|');
for (const [work, ours, theirs] of [
  ['embed (inference forward)', forwardMs, peer.forward_ms],
  ['train step (forward, backward, Adam)', trainMs, peer.train_ms],
] as const) {
  console.log(`| ${work} | ${rate(ours)} | ${rate(theirs)} | ${(theirs / ours).toFixed(2)} |`);
}
