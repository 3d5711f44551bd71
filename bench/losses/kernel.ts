/**
 * Two parts of one RS@k step timed apart on one benchmark batch (its similarity matrix computed
 * once beforehand): the fused ranking kernel on all rows, single-threaded (loss and d loss / d S),
 * and the embedding gradient (G + G^T) E. Process CPU seconds; on a busy machine take the smallest
 * of the repetitions.
 * Usage (from bench/): npx tsx --conditions=source losses/kernel.ts KIND B [reps]
 */
import { tf, useBackend } from '@recallkit/core';
import { gramBackward, kernelTask } from '../../packages/losses/src/fused/index';
import { rankingKernel } from '../../packages/losses/src/fused/kernel';
import { positivesFromLabels } from '../../packages/losses/src/positives';
import type { RankingSpec } from '../../packages/losses/src/spec';
import { batchOf, type Kind } from './embeddings';

/** RS@k with the authors' defaults, the query in its own ranking. */
const RSK: RankingSpec = {
  kind: 'rsk',
  name: 'rsk',
  tau: 0.01,
  ks: [1, 2, 4, 8, 16],
  tauKs: [1, 1, 1, 1, 1],
  useSelf: true,
};
const kind = (process.argv[2] ?? 'emoji-untrained') as Kind;
const rows = Number(process.argv[3] ?? 4000);
const reps = Number(process.argv[4] ?? 3);
await useBackend('wasm', { threads: 1 });
const { e, labels } = await batchOf(kind, rows);
const scores = tf.tidy(() => tf.matMul(e, e, false, true)).dataSync() as Float32Array;
const positives = positivesFromLabels(labels);
const self = new Int32Array(rows).map((_, i) => i);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
for (let r = 0; r < reps; r++) {
  const grad = new Float32Array(rows * rows);
  const rowTouched = new Uint8Array(rows);
  const queryLoss = new Float64Array(rows);
  const c0 = cpu();
  rankingKernel(kernelTask(RSK, RSK.ks, scores, grad, rowTouched, queryLoss, rows, rows, positives, self));
  const c1 = cpu();
  const g = tf.tidy(() => gramBackward({ loss: 0, grad, rowTouched }, e, 1 << 21));
  g.dataSync();
  const c2 = cpu();
  let loss = 0;
  for (let q = 0; q < rows; q++) loss += queryLoss[q]!;
  let nonZero = 0;
  for (let i = 0; i < grad.length; i++) if (grad[i] !== 0) nonZero++;
  console.log(
    `${kind} B=${rows}: kernel ${(c1 - c0).toFixed(3)} CPU s, backward ${(c2 - c1).toFixed(3)} CPU s, ` +
      `loss ${loss / positives.withPositives}, G ${((100 * nonZero) / grad.length).toFixed(1)}% non-zero`,
  );
  g.dispose();
}
