import {
  type Labels,
  l2Normalize,
  labelArray,
  RecallkitError,
  releasingTapeOnError,
  similarity,
  tf,
} from '@recallkit/core';
import { DEFAULT_BLOCK_ELEMENTS } from './composite';
import { unaryCustomGrad } from './custom-grad';
import { knownOptions } from './options';
import { assertFloatMatrix, checkRows, checkScoreBlock } from './positives';
import type { EmbeddingLoss, LossStats, ScoreBlock } from './types';

export interface ContrastiveOptions {
  /**
   * 'cosine' (default): hinges on cosine similarity, relu(posMargin - s) on positive pairs and
   * relu(s - negMargin) on negative pairs, each averaged over all its pairs (the project's PyTorch
   * baseline, `loss_contrastive_cos` in the peers). 'pml': pytorch-metric-learning's default
   * `ContrastiveLoss` (with its `AvgNonZeroReducer`): hinges on the Euclidean distance of the unit
   * vectors, relu(d - posMargin) and relu(negMargin - d), each averaged over its pairs with a
   * non-zero hinge (`loss_contrastive_pml` in the peers).
   */
  form?: 'cosine' | 'pml';
  /**
   * Positive pairs are pulled until their cosine similarity exceeds this ('cosine', default 0.9),
   * or their distance falls below it ('pml', default 0).
   */
  posMargin?: number;
  /**
   * Negative pairs are pushed until their cosine similarity falls below this ('cosine', default
   * 0.6), or their distance exceeds it ('pml', default 1).
   */
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

/** Hinge sums of a pass and, for the 'pml' form, how many pairs had a non-zero hinge. */
interface Sums {
  pull: number;
  push: number;
  pulled: number;
  pushed: number;
}

/** Rows [r0, r1) of u u^T, read back. */
function similarityRows(u: tf.Tensor2D, r0: number, r1: number): Float32Array {
  const block = tf.tidy(() => similarity(tf.slice(u, [r0, 0], [r1 - r0, -1]), u));
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

/** Smallest squared distance of the 'pml' form (PyTorch peer: clamp(2 - 2 s, min = 1e-12)). */
const MIN_SQUARED_DISTANCE = 1e-12;

/**
 * Contrastive loss in one of two forms (`form`), on the L2-normalised embeddings (normalised inside
 * the graph):
 * - 'cosine' (default, margins 0.9 / 0.6): mean over positive pairs of relu(posMargin - s) plus
 *   mean over negative pairs of relu(s - negMargin), both means over all pairs (i != j);
 * - 'pml' (margins 0 / 1): with d = ||u_i - u_j|| = sqrt(max(2 - 2 s, 1e-12)), the mean of
 *   relu(d - posMargin) over the positive pairs where it is non-zero plus the mean of
 *   relu(negMargin - d) over the negative pairs where it is non-zero (a term with no such pair is
 *   0): pytorch-metric-learning's default `ContrastiveLoss`.
 */
export function contrastive(options: ContrastiveOptions = {}): EmbeddingLoss {
  knownOptions(options, ['form', 'posMargin', 'negMargin', 'blockElements'], 'contrastive');
  const form = options.form ?? 'cosine';
  if (form !== 'cosine' && form !== 'pml') {
    throw new RecallkitError('INVALID_OPTION', `option form must be 'cosine' or 'pml', got '${form}'`);
  }
  const pml = form === 'pml';
  const posMargin = options.posMargin ?? (pml ? 0 : 0.9);
  const negMargin = options.negMargin ?? (pml ? 1 : 0.6);
  const [low, high, kind] = pml ? [0, 2, 'a distance of unit vectors'] : [-1, 1, 'a cosine similarity'];
  for (const [name, v] of [
    ['posMargin', posMargin],
    ['negMargin', negMargin],
  ] as const) {
    if (!Number.isFinite(v) || v < low || v > high) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `option ${name} must be ${kind} in [${low}, ${high}] (form '${form}'), got ${v}`,
      );
    }
  }
  const blockElements = options.blockElements ?? DEFAULT_BLOCK_ELEMENTS;
  if (!Number.isInteger(blockElements) || blockElements < 1) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option blockElements must be a positive integer, got ${blockElements}`,
    );
  }
  let lastStats: LossStats | undefined;

  const noPositive = () =>
    new RecallkitError(
      'NO_POSITIVE_PAIR',
      'contrastive: no positive pair in the batch (every label occurs once)',
    );

  /** The loss from its hinge sums: means over all pairs ('cosine') or over non-zero ones ('pml'). */
  const combine = (sums: Sums, counts: { positives: number; negatives: number }) => {
    if (pml) {
      return (
        (sums.pulled > 0 ? sums.pull / sums.pulled : 0) + (sums.pushed > 0 ? sums.push / sums.pushed : 0)
      );
    }
    return sums.pull / counts.positives + (counts.negatives > 0 ? sums.push / counts.negatives : 0);
  };

  /**
   * One pass over the similarity rows [r0, r0 + rows) of a batch (`s` row-major, `n` columns):
   * adds the hinge terms to `sums` (float64) and, when `grad` is given, writes d loss / d s there.
   * 'cosine': -pullWeight on pulled positives, pushWeight on pushed negatives, 0 elsewhere; the
   * margins are taken in float32, like the similarities. 'pml': d d / d s = -1 / d (0 where the
   * squared distance is clamped), times -pullWeight or pushWeight. A hinge's derivative at its
   * margin is 0 (as tf.relu's).
   */
  const visitRows = (
    s: Float32Array,
    r0: number,
    rows: number,
    y: Int32Array,
    sums: Sums,
    grad?: { out: Float32Array; pullWeight: number; pushWeight: number },
  ) => {
    const n = y.length;
    const pos = pml ? posMargin : Math.fround(posMargin);
    const neg = pml ? negMargin : Math.fround(negMargin);
    let pull = 0;
    let push = 0;
    let pulled = 0;
    let pushed = 0;
    for (let i = 0; i < rows; i++) {
      const q = r0 + i;
      const yq = y[q]!;
      const off = i * n;
      for (let j = 0; j < n; j++) {
        if (j === q) continue;
        const v = s[off + j]!;
        if (pml) {
          const squared = 2 - 2 * v;
          const d = Math.sqrt(Math.max(squared, MIN_SQUARED_DISTANCE));
          const slope = squared > MIN_SQUARED_DISTANCE ? -1 / d : 0; // d d / d s
          if (y[j] === yq) {
            if (d <= pos) continue;
            pull += d - pos;
            pulled++;
            if (grad) grad.out[off + j] = grad.pullWeight * slope;
          } else if (d < neg) {
            push += neg - d;
            pushed++;
            if (grad) grad.out[off + j] = -grad.pushWeight * slope;
          }
        } else if (y[j] === yq) {
          if (v >= pos) continue;
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
    sums.pulled += pulled;
    sums.pushed += pushed;
  };

  /**
   * The loss of unit embeddings u (B x d) with its own gradient, query block by query block: each
   * block's similarities S_blk = u_blk u^T are computed, read back, reduced on the CPU and dropped;
   * the backward pass recomputes them and accumulates d loss / d u = G u + G^T u block by block
   * (G = d loss / d S). Scratch memory is O(blockElements + B d), never B x B.
   */
  const blocked = (y: Int32Array, counts: PairCounts) =>
    unaryCustomGrad((u: tf.Tensor, save: tf.GradSaveFunc) => {
      save([u]);
      const n = y.length;
      const step = Math.max(1, Math.floor(blockElements / n));
      const sums: Sums = { pull: 0, push: 0, pulled: 0, pushed: 0 };
      for (let r0 = 0; r0 < n; r0 += step) {
        const r1 = Math.min(n, r0 + step);
        visitRows(similarityRows(u as tf.Tensor2D, r0, r1), r0, r1 - r0, y, sums);
      }
      // The means' denominators: every pair ('cosine') or the non-zero hinges of this pass ('pml').
      const pullers = pml ? sums.pulled : counts.positives;
      const pushers = pml ? sums.pushed : counts.negatives;
      return {
        value: tf.scalar(combine(sums, counts)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const e = saved[0] as tf.Tensor2D;
          const upstream = dy.dataSync()[0]!;
          const weights = {
            pullWeight: pullers > 0 ? upstream / pullers : 0,
            pushWeight: pushers > 0 ? upstream / pushers : 0,
          };
          const rowsPart: tf.Tensor2D[] = []; // (G u)[block]
          let columnsPart = tf.zerosLike(e) as tf.Tensor2D; // sum over blocks of G_blk^T u_blk
          for (let r0 = 0; r0 < n; r0 += step) {
            const r1 = Math.min(n, r0 + step);
            const g = new Float32Array((r1 - r0) * n);
            const s = similarityRows(e, r0, r1);
            visitRows(s, r0, r1 - r0, y, { pull: 0, push: 0, pulled: 0, pushed: 0 }, { out: g, ...weights });
            const next = tf.tidy(() => {
              const gBlock = tf.tensor2d(g, [r1 - r0, n]);
              rowsPart.push(tf.keep(tf.matMul(gBlock, e)));
              const eBlock = tf.slice(e, [r0, 0], [r1 - r0, -1]);
              return tf.add(columnsPart, tf.matMul(gBlock, eBlock, true, false)) as tf.Tensor2D;
            });
            columnsPart.dispose();
            columnsPart = next;
          }
          const grad = tf.tidy(() => tf.add(tf.concat(rowsPart, 0), columnsPart));
          tf.dispose([...rowsPart, columnsPart]);
          return grad;
        },
      };
    });

  const report = (stats: LossStats) => {
    lastStats = stats;
  };

  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    // Bad input throws before any tensor is made; under tf.grad, the tape's saved tensors go too.
    const { rows, y, counts } = releasingTapeOnError(() => {
      const [rows] = assertFloatMatrix(embeddings, 'contrastive: embeddings');
      const y = labelArray(labels, 'labels', rows);
      checkRows(embeddings, 'contrastive: embeddings', 'normalize');
      const counts = countPairs(y);
      if (counts.positives === 0) throw noPositive();
      return { rows, y, counts };
    });
    const value = tf.tidy(() => {
      const unit = l2Normalize(embeddings);
      return blocked(y, counts)(unit);
    });
    // CPU loops over read-back similarity blocks, with their own gradient: the fused kind.
    report({ queries: rows, queriesWithoutPositives: rows - counts.withPositives, implementation: 'fused' });
    return value;
  };

  /** The loss on a caller's score block, from tfjs ops (differentiable with respect to `scores`). */
  const onScores = (block: ScoreBlock): tf.Scalar => {
    const { scores, relevance, rows, n, self, positives } = checkScoreBlock(block, 'contrastive');
    const nPos = positives.posIdx.length;
    if (nPos === 0) throw noPositive();
    checkRows(scores, 'contrastive: scores', 'finite');
    const negMask = new Float32Array(rows * n);
    let nNeg = 0;
    for (let q = 0; q < rows; q++) {
      for (let j = 0; j < n; j++) {
        if (relevance[q * n + j] === 0 && self[q] !== j) {
          negMask[q * n + j] = 1;
          nNeg++;
        }
      }
    }
    const value = tf.tidy(() => {
      // checkScoreBlock has checked the relevance is 0/1: it is the positives' mask as it is.
      const pos =
        block.relevant instanceof tf.Tensor
          ? block.relevant
          : tf.tensor2d(Float32Array.from(relevance), [rows, n]);
      const neg = tf.tensor2d(negMask, [rows, n]);
      let pullTerms: tf.Tensor;
      let pushTerms: tf.Tensor;
      let pullers: number | tf.Tensor = nPos;
      let pushers: number | tf.Tensor = Math.max(1, nNeg);
      if (pml) {
        const d = tf.sqrt(tf.maximum(tf.sub(2, tf.mul(2, scores)), MIN_SQUARED_DISTANCE));
        pullTerms = tf.mul(tf.relu(tf.sub(d, posMargin)), pos);
        pushTerms = tf.mul(tf.relu(tf.sub(negMargin, d)), neg);
        // The mean over the non-zero terms, counted on the backend (no read-back): the terms are
        // >= 0, so sign() is 1 exactly on the non-zero ones (and has a zero gradient). With no
        // non-zero term the sum is 0, and so is the mean.
        const nonZero = (x: tf.Tensor) => tf.maximum(1, tf.sum(tf.sign(x)));
        pullers = nonZero(pullTerms);
        pushers = nonZero(pushTerms);
      } else {
        pullTerms = tf.mul(tf.relu(tf.sub(posMargin, scores)), pos);
        pushTerms = tf.mul(tf.relu(tf.sub(scores, negMargin)), neg);
      }
      return tf.add(tf.div(tf.sum(pullTerms), pullers), tf.div(tf.sum(pushTerms), pushers)) as tf.Scalar;
    });
    report({
      queries: rows,
      queriesWithoutPositives: rows - positives.withPositives,
      implementation: 'composite',
    });
    return value;
  };

  return Object.defineProperties(loss, {
    id: { value: 'contrastive', enumerable: true },
    onScores: { value: onScores, enumerable: true },
    lastStats: { get: () => lastStats, enumerable: true },
  }) as EmbeddingLoss;
}
