import { RecallkitError, tf } from '@recallkit/core';
import { DEFAULT_BLOCK_ELEMENTS } from './composite';
import { unaryCustomGrad } from './custom-grad';
import { assertFiniteRows, labelArray } from './positives';
import type { EmbeddingLoss, Labels, LossStats, ScoreBlock } from './types';

export interface ContrastiveOptions {
  /** Positive pairs are pulled until their cosine similarity exceeds this (default 0.9). */
  posMargin?: number;
  /** Negative pairs are pushed until their cosine similarity falls below this (default 0.6). */
  negMargin?: number;
  /**
   * Bound on one query block of the similarity matrix, in elements (default 2^21): the batch's
   * B x B similarities are visited `floor(blockElements / B)` rows at a time and never held whole.
   */
  blockElements?: number;
}

/** The pairs of a batch: positives are the other rows of the same class, negatives all other rows. */
interface PairCounts {
  positives: number;
  negatives: number;
  /** Rows with at least one positive. */
  withPositives: number;
}

/** Rows [r0, r1) of u u^T, read back (`uT` is u's materialised transpose). */
function similarityRows(u: tf.Tensor, uT: tf.Tensor2D, r0: number, r1: number): Float32Array {
  const block = tf.tidy(() => tf.matMul(tf.slice(u, [r0, 0], [r1 - r0, -1]), uT));
  const data = block.dataSync() as Float32Array;
  block.dispose();
  return data;
}

function countPairs(labels: Int32Array): PairCounts {
  const classSize = new Map<number, number>();
  for (const y of labels) classSize.set(y, (classSize.get(y) ?? 0) + 1);
  let positives = 0;
  let withPositives = 0;
  for (const m of classSize.values()) {
    positives += m * (m - 1);
    if (m > 1) withPositives += m;
  }
  const rows = labels.length;
  return { positives, negatives: rows * (rows - 1) - positives, withPositives };
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
  const blockElements = options.blockElements ?? DEFAULT_BLOCK_ELEMENTS;
  if (!Number.isInteger(blockElements) || blockElements < 1) {
    throw new RecallkitError(
      'BAD_OPTION',
      `option blockElements must be a positive integer, got ${blockElements}`,
    );
  }
  let lastStats: LossStats | undefined;

  const noPositive = () =>
    new RecallkitError(
      'NO_POSITIVE_PAIR',
      'contrastive: no positive pair in the batch (every label occurs once)',
    );

  /**
   * One pass over the similarity rows [r0, r0 + rows) of a batch (`s` row-major, `n` columns):
   * adds the hinge terms to `sums` (float64) and, when `grad` is given, writes d loss / d s there
   * (-pullWeight on pulled positives, pushWeight on pushed negatives, 0 elsewhere). The margins are
   * taken in float32, like the similarities, and a hinge's derivative at its margin is 0 (as tf.relu's).
   */
  const visitRows = (
    s: Float32Array,
    r0: number,
    rows: number,
    y: Int32Array,
    sums: { pull: number; push: number },
    grad?: { out: Float32Array; pullWeight: number; pushWeight: number },
  ) => {
    const n = y.length;
    const pos = Math.fround(posMargin);
    const neg = Math.fround(negMargin);
    let pull = 0;
    let push = 0;
    for (let i = 0; i < rows; i++) {
      const q = r0 + i;
      const yq = y[q]!;
      const off = i * n;
      for (let j = 0; j < n; j++) {
        const v = s[off + j]!;
        if (y[j] === yq) {
          if (j === q || v >= pos) continue;
          pull += pos - v;
          if (grad) grad.out[off + j] = -grad.pullWeight;
        } else if (v > neg) {
          push += v - neg;
          if (grad) grad.out[off + j] = grad.pushWeight;
        }
      }
    }
    sums.pull += pull;
    sums.push += push;
  };

  /**
   * The loss of unit embeddings u (B x d) with its own gradient, query block by query block: each
   * block's similarities S_blk = u_blk u^T are computed, reduced and dropped; the backward pass
   * recomputes them and accumulates d loss / d u = G u + G^T u block by block (G = d loss / d S).
   * Scratch memory is O(blockElements + B d), never B x B.
   */
  const blocked = (y: Int32Array, counts: PairCounts) =>
    unaryCustomGrad((u: tf.Tensor, save: tf.GradSaveFunc) => {
      save([u]);
      const n = y.length;
      const step = Math.max(1, Math.floor(blockElements / n));
      // Materialised transpose: wasm's matMul(a, b, false, true) is about 10x slower.
      const uT = tf.transpose(u) as tf.Tensor2D;
      const sums = { pull: 0, push: 0 };
      for (let r0 = 0; r0 < n; r0 += step) {
        const r1 = Math.min(n, r0 + step);
        visitRows(similarityRows(u, uT, r0, r1), r0, r1 - r0, y, sums);
      }
      uT.dispose();
      const value = sums.pull / counts.positives + (counts.negatives > 0 ? sums.push / counts.negatives : 0);
      return {
        value: tf.scalar(value),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const e = saved[0] as tf.Tensor2D;
          const upstream = dy.dataSync()[0]!;
          const weights = {
            pullWeight: upstream / counts.positives,
            pushWeight: counts.negatives > 0 ? upstream / counts.negatives : 0,
          };
          const eT = tf.transpose(e) as tf.Tensor2D;
          const rowsPart: tf.Tensor2D[] = []; // (G u)[block]
          let columnsPart = tf.zerosLike(e) as tf.Tensor2D; // sum over blocks of G_blk^T u_blk
          for (let r0 = 0; r0 < n; r0 += step) {
            const r1 = Math.min(n, r0 + step);
            const g = new Float32Array((r1 - r0) * n);
            const s = similarityRows(e, eT, r0, r1);
            visitRows(s, r0, r1 - r0, y, { pull: 0, push: 0 }, { out: g, ...weights });
            const next = tf.tidy(() => {
              const gBlock = tf.tensor2d(g, [r1 - r0, n]);
              rowsPart.push(tf.keep(tf.matMul(gBlock, e)));
              const eBlock = tf.slice(e, [r0, 0], [r1 - r0, -1]);
              return tf.add(columnsPart, tf.matMul(tf.transpose(gBlock), eBlock)) as tf.Tensor2D;
            });
            columnsPart.dispose();
            columnsPart = next;
          }
          eT.dispose();
          const grad = tf.tidy(() => tf.add(tf.concat(rowsPart, 0), columnsPart));
          tf.dispose([...rowsPart, columnsPart]);
          return grad;
        },
      };
    });

  /** Loss from a score block and 0/1 masks of positive and negative pairs (counts from the CPU). */
  const fromMasks = (scores: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D, nPos: number, nNeg: number) =>
    tf.tidy(() => {
      const pull = tf.div(tf.sum(tf.mul(tf.relu(tf.sub(posMargin, scores)), pos)), nPos);
      if (nNeg === 0) return pull as tf.Scalar;
      return tf.add(pull, tf.div(tf.sum(tf.mul(tf.relu(tf.sub(scores, negMargin)), neg)), nNeg)) as tf.Scalar;
    });

  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 2) {
      throw new RecallkitError('BAD_INPUT', 'contrastive: embeddings must be a 2-D tensor');
    }
    const [rows, dim] = embeddings.shape;
    const y = labelArray(labels, rows);
    assertFiniteRows(embeddings.dataSync(), rows, dim, 'contrastive: embeddings');
    const counts = countPairs(y);
    if (counts.positives === 0) throw noPositive();
    lastStats = {
      queries: rows,
      queriesWithoutPositives: rows - counts.withPositives,
      implementation: 'composite',
    };
    return tf.tidy(() => {
      const unit = tf.div(embeddings, tf.norm(embeddings, 'euclidean', 1, true));
      return blocked(y, counts)(unit);
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
