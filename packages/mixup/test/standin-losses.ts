/**
 * Private stand-in for the RS@k ranking core of @recallkit/losses (not yet exported), written from
 * the contract and from the reference README's description of the authors' computation:
 * rank_p = 1 + sum over j != p of sigmoid((s_j - s_p) / 0.01) (the query's own column included),
 * R_k = min(sum_p sigmoid((k - rank_p) / 1), k) / min(k, |P|), loss = mean over queries of
 * 1 - mean_k R_k. Dense Q x N x N: for small test batches only.
 */
import { tf } from '@recallkit/core';
import type { EmbeddingLoss, ScoreBlock } from '../src/index';

const clampedSigmoid = (x: tf.Tensor, temperature: number): tf.Tensor =>
  tf.div(1, tf.add(1, tf.exp(tf.clipByValue(tf.div(tf.neg(x), temperature), -50, 50))));

export function rskOnScores({ scores, relevant }: ScoreBlock, ks = [1, 2, 4, 8, 16]): tf.Scalar {
  return tf.tidy(() => {
    const [, n] = scores.shape;
    // diff[q, p, j] = s_qj - s_qp
    const diff = tf.sub(tf.expandDims(scores, 1), tf.expandDims(scores, 2));
    const notSame = tf.sub(1, tf.eye(n)).expandDims(0);
    const rank = tf.add(1, tf.sum(tf.mul(clampedSigmoid(diff, 0.01), notSame), 2));
    const positives = tf.sum(relevant, 1);
    let recall: tf.Tensor = tf.zeros(positives.shape);
    for (const k of ks) {
      const hits = tf.sum(tf.mul(clampedSigmoid(tf.sub(k, rank), 1), relevant), 1);
      recall = tf.add(recall, tf.div(tf.minimum(hits, k), tf.minimum(positives, k)));
    }
    return tf.mean(tf.sub(1, tf.div(recall, ks.length))) as tf.Scalar;
  });
}

export const rskStandIn: EmbeddingLoss = Object.assign(
  (embeddings: tf.Tensor2D, labels: tf.Tensor1D | Int32Array | number[]) =>
    tf.tidy(() => {
      const values = Array.from(labels instanceof tf.Tensor ? labels.dataSync() : labels);
      const b = values.length;
      const same = tf.tensor2d(
        Float32Array.from({ length: b * b }, (_, i) =>
          values[Math.floor(i / b)] === values[i % b] && Math.floor(i / b) !== i % b ? 1 : 0,
        ),
        [b, b],
      );
      const scores: tf.Tensor2D = tf.matMul(embeddings, embeddings, false, true);
      return rskOnScores({ scores, relevant: same, self: Int32Array.from({ length: b }, (_, i) => i) });
    }),
  { id: 'rsk-standin', onScores: (block: ScoreBlock) => rskOnScores(block) },
);
