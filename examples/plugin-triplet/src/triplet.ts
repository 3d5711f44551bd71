import { type Labels, labelArray, RecallkitError, tf } from '@recallkit/core';

export interface TripletOptions {
  /** Required gap between the anchor-positive and anchor-negative cosine similarities (default 0.2). */
  margin?: number;
}

/**
 * Batch-all triplet loss on cosine similarity: the mean over every triplet (a, p, n) with
 * label(p) = label(a), p != a, label(n) != label(a) of max(0, s_an - s_ap + margin).
 * Embeddings are expected L2-normalised (Recallkit's models end with an L2 norm).
 */
export function tripletLoss(options: TripletOptions = {}) {
  const margin = options.margin ?? 0.2;
  if (!Number.isFinite(margin) || margin < 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `triplet: margin must be a non-negative number, got ${margin}`,
    );
  }
  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    const n = embeddings.shape[0];
    const values = labelArray(labels, 'triplet: labels', n);
    // valid[a][p][n] = 1 where (a, p, n) is a triplet; built once on the CPU from the labels.
    const valid = new Float32Array(n * n * n);
    let count = 0;
    for (let a = 0; a < n; a++) {
      for (let p = 0; p < n; p++) {
        if (p === a || values[p] !== values[a]) continue;
        for (let q = 0; q < n; q++) {
          if (values[q] === values[a]) continue;
          valid[(a * n + p) * n + q] = 1;
          count++;
        }
      }
    }
    if (count === 0) {
      throw new RecallkitError(
        'NO_POSITIVE_PAIR',
        'triplet: the batch holds no (anchor, positive, negative) triplet',
      );
    }
    return tf.tidy(() => {
      const s = tf.matMul(embeddings, embeddings, false, true);
      const gap = s.expandDims(1).sub(s.expandDims(2)).add(margin); // [a, p, n] = s_an - s_ap + margin
      return tf
        .relu(gap)
        .mul(tf.tensor3d(valid, [n, n, n]))
        .sum()
        .div(count) as tf.Scalar;
    });
  };
  return Object.assign(loss, { id: 'triplet' });
}
