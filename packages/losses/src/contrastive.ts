import { RecallkitError, tf } from '@recallkit/core';
import { gramMatrix } from './gram';
import { assertFiniteRows, labelArray } from './positives';
import type { EmbeddingLoss, Labels, LossStats, ScoreBlock } from './types';

export interface ContrastiveOptions {
  /** Positive pairs are pulled until their cosine similarity exceeds this (default 0.9). */
  posMargin?: number;
  /** Negative pairs are pushed until their cosine similarity falls below this (default 0.6). */
  negMargin?: number;
}

/**
 * Contrastive loss on cosine similarity, "calibration" form:
 * mean over positive pairs of relu(posMargin - s) + mean over negative pairs of relu(s - negMargin),
 * both means over all pairs (i != j). The defaults 0.9 / 0.6 are those of the project's PyTorch
 * baseline (`loss_contrastive_cos` in the MNIST peer), so results compare one to one.
 * Embeddings are L2-normalised inside the graph.
 */
export function contrastive(options: ContrastiveOptions = {}): EmbeddingLoss {
  const posMargin = options.posMargin ?? 0.9;
  const negMargin = options.negMargin ?? 0.6;
  for (const [name, v] of [
    ['posMargin', posMargin],
    ['negMargin', negMargin],
  ] as const) {
    if (!Number.isFinite(v) || v < -1 || v > 1) {
      throw new RecallkitError(
        'BAD_OPTION',
        `option ${name} must be a cosine similarity in [-1, 1], got ${v}`,
      );
    }
  }
  let lastStats: LossStats | undefined;

  /** Loss from a score block and 0/1 masks of positive and negative pairs (counts from the CPU). */
  const fromMasks = (scores: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D, nPos: number, nNeg: number) =>
    tf.tidy(() => {
      const pull = tf.div(tf.sum(tf.mul(tf.relu(tf.sub(posMargin, scores)), pos)), nPos);
      if (nNeg === 0) return pull as tf.Scalar;
      return tf.add(pull, tf.div(tf.sum(tf.mul(tf.relu(tf.sub(scores, negMargin)), neg)), nNeg)) as tf.Scalar;
    });

  const noPositive = () =>
    new RecallkitError(
      'NO_POSITIVE_PAIR',
      'contrastive: no positive pair in the batch (every label occurs once)',
    );

  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 2) {
      throw new RecallkitError('BAD_INPUT', 'contrastive: embeddings must be a 2-D tensor');
    }
    const [rows, dim] = embeddings.shape;
    const y = labelArray(labels, rows);
    assertFiniteRows(embeddings.dataSync(), rows, dim, 'contrastive: embeddings');
    const posMask = new Float32Array(rows * rows);
    const negMask = new Float32Array(rows * rows);
    let nPos = 0;
    let withPositives = 0;
    for (let i = 0; i < rows; i++) {
      let any = false;
      for (let j = 0; j < rows; j++) {
        if (i === j) continue;
        if (y[i] === y[j]) {
          posMask[i * rows + j] = 1;
          nPos++;
          any = true;
        } else negMask[i * rows + j] = 1;
      }
      if (any) withPositives++;
    }
    if (nPos === 0) throw noPositive();
    const nNeg = rows * (rows - 1) - nPos;
    lastStats = { queries: rows, queriesWithoutPositives: rows - withPositives, implementation: 'composite' };
    return tf.tidy(() => {
      const e = tf.div(embeddings, tf.norm(embeddings, 'euclidean', 1, true));
      const s = gramMatrix(e as tf.Tensor2D);
      return fromMasks(s, tf.tensor2d(posMask, [rows, rows]), tf.tensor2d(negMask, [rows, rows]), nPos, nNeg);
    });
  };

  const onScores = ({ scores, relevant, self }: ScoreBlock): tf.Scalar => {
    const [rows, n] = scores.shape;
    const rel = relevant.dataSync();
    const negMask = new Float32Array(rows * n);
    let nPos = 0;
    for (let i = 0; i < rows * n; i++) {
      if (rel[i] === 1) nPos++;
      else if (self?.[Math.floor(i / n)] !== i % n) negMask[i] = 1;
    }
    if (nPos === 0) throw noPositive();
    const nNeg = negMask.reduce((a, b) => a + b, 0);
    return tf.tidy(() => fromMasks(scores, relevant, tf.tensor2d(negMask, [rows, n]), nPos, nNeg));
  };

  return Object.defineProperties(loss, {
    id: { value: 'contrastive', enumerable: true },
    onScores: { value: onScores, enumerable: true },
    lastStats: { get: () => lastStats, enumerable: true },
  }) as EmbeddingLoss;
}
