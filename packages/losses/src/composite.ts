import { similarity, tf } from '@recallkit/core';
import { unaryCustomGrad } from './custom-grad';
import type { Positives } from './positives';
import type { RankingSpec } from './spec';

/** Default bound on one query block's (queries x anchors x columns) working tensors. */
export const DEFAULT_BLOCK_ELEMENTS = 1 << 21;

/** sigmoid(x) with its argument clamped to [-50, 50]: constant, with zero gradient, beyond. */
function clampedSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.sigmoid(tf.clipByValue(x, -50, 50));
}

/** The anchors of one query block, padded to the block's largest count. */
interface BlockLayout {
  rowStart: number;
  rows: number;
  width: number;
  anchors: Int32Array; // rows x width (padding repeats column 0)
  anchorMask: Float32Array; // rows x width
  classMask: Float32Array; // rows x n: Smooth-AP's positive set (the query included when used)
  dbMask: Float32Array; // rows x n: 0 on the query's own column when it is left out of the database
  norms: Float32Array; // rows x numK: RS@k's min(k, |P|), 1 where the query has no positive
  valid: Float32Array; // rows: 1 where the query has a positive
}

function anchorsOf(spec: RankingSpec, positives: Positives, self: Int32Array, q: number): number[] {
  const list = Array.from(positives.posIdx.subarray(positives.posPtr[q]!, positives.posPtr[q + 1]!));
  if (spec.kind === 'smoothap' && spec.useSelf && self[q]! >= 0 && list.length > 0) list.push(self[q]!);
  return list;
}

function layout(
  spec: RankingSpec,
  ks: number[],
  positives: Positives,
  self: Int32Array,
  n: number,
  rowStart: number,
  rowEnd: number,
): BlockLayout {
  const rows = rowEnd - rowStart;
  const lists = [];
  let width = 1;
  for (let q = rowStart; q < rowEnd; q++) {
    const list = anchorsOf(spec, positives, self, q);
    lists.push(list);
    width = Math.max(width, list.length);
  }
  const out: BlockLayout = {
    rowStart,
    rows,
    width,
    anchors: new Int32Array(rows * width),
    anchorMask: new Float32Array(rows * width),
    classMask: new Float32Array(rows * n),
    dbMask: new Float32Array(rows * n).fill(1),
    norms: new Float32Array(rows * ks.length).fill(1),
    valid: new Float32Array(rows),
  };
  lists.forEach((list, r) => {
    const q = rowStart + r;
    list.forEach((a, t) => {
      out.anchors[r * width + t] = a;
      out.anchorMask[r * width + t] = 1;
      out.classMask[r * n + a] = 1;
    });
    if (!spec.useSelf && self[q]! >= 0) out.dbMask[r * n + self[q]!] = 0;
    const numPos = positives.posPtr[q + 1]! - positives.posPtr[q]!;
    if (numPos > 0) {
      out.valid[r] = 1;
      ks.forEach((k, i) => {
        out.norms[r * ks.length + i] = Math.min(k, numPos);
      });
    }
  });
  return out;
}

/**
 * Sum over the block's queries with positives of the per-query loss, from tfjs ops; with `withGrad`
 * also its gradient with respect to the block's scores, written out analytically (the same formulas
 * as the fused kernel), so the backward pass needs no tape of its own.
 */
function blockTerms(
  spec: RankingSpec,
  ks: number[],
  b: BlockLayout,
  scores: tf.Tensor2D,
  withGrad: boolean,
): { value: tf.Scalar; grad?: tf.Tensor2D } {
  const n = scores.shape[1];
  const anchorIdx = tf.tensor2d(b.anchors, [b.rows, b.width], 'int32');
  const oneHot = tf.oneHot(anchorIdx, n).toFloat(); // rows x width x n
  const anchorMask = tf.tensor2d(b.anchorMask, [b.rows, b.width]);
  const valid = tf.tensor1d(b.valid);
  const s3 = scores.expandDims(1); // rows x 1 x n
  const sa = tf.sum(tf.mul(s3, oneHot), 2); // rows x width: each anchor's similarity
  const z = tf.div(tf.sub(s3, sa.expandDims(2)), spec.tau);
  // Every column but the anchor itself (and the query when it is left out) enters the rank sum.
  const keep = tf.mul(tf.sub(1, oneHot), tf.tensor2d(b.dbMask, [b.rows, n]).expandDims(1));
  const sg = tf.mul(clampedSigmoid(z), keep);
  const rankAll = tf.add(1, tf.sum(sg, 2)); // rows x width
  let perQuery: tf.Tensor;
  let dRankAll: tf.Tensor | undefined; // d loss_q / d rankAll, rows x width
  let dRankPos: tf.Tensor | undefined;
  let classMask: tf.Tensor | undefined;
  if (spec.kind === 'rsk') {
    const norms = tf.tensor2d(b.norms, [b.rows, ks.length]);
    const recalls: tf.Tensor[] = [];
    const dRanks: tf.Tensor[] = [];
    ks.forEach((k, i) => {
      const tk = spec.tauKs[i]!;
      const norm = norms.slice([0, i], [b.rows, 1]).reshape([b.rows]);
      const x = tf.div(tf.sub(k, rankAll), tk);
      const a = tf.mul(clampedSigmoid(x), anchorMask);
      const sum = tf.sum(a, 1);
      recalls.push(tf.div(tf.minimum(sum, k), norm));
      if (withGrad) {
        const open = tf
          .lessEqual(sum, k)
          .toFloat()
          .div(tf.mul(norm, tk * ks.length));
        dRanks.push(tf.mul(tf.mul(sigmoidSlope(x), anchorMask), open.expandDims(1)));
      }
    });
    perQuery = tf.sub(1, tf.div(tf.addN(recalls), ks.length));
    if (withGrad) dRankAll = tf.addN(dRanks);
  } else {
    classMask = tf.tensor2d(b.classMask, [b.rows, n]).expandDims(1);
    const rankPos = tf.add(1, tf.sum(tf.mul(sg, classMask), 2));
    const count = tf.maximum(tf.sum(anchorMask, 1), 1).expandDims(1);
    const ratio = tf.mul(tf.div(rankPos, rankAll), anchorMask);
    perQuery = tf.sub(1, tf.div(tf.sum(ratio, 1), count.reshape([b.rows])));
    if (withGrad) {
      dRankPos = tf.neg(tf.div(anchorMask, tf.mul(count, rankAll)));
      dRankAll = tf.div(tf.mul(anchorMask, rankPos), tf.mul(count, tf.square(rankAll)));
    }
  }
  const value = tf.sum(tf.mul(perQuery, valid)) as tf.Scalar;
  if (!withGrad) return { value };
  // d loss / d z for every (anchor, column) pair, zero beyond the clamp and on left-out columns.
  const slope = tf.mul(sigmoidSlope(z), keep);
  let weight = dRankAll!.expandDims(2);
  if (dRankPos) weight = tf.add(weight, tf.mul(dRankPos.expandDims(2), classMask!));
  const pair = tf.div(tf.mul(weight, slope), spec.tau); // rows x width x n
  // Column j gains pair[., t, j]; anchor t's own column loses the row sum.
  const anchorPull = tf.sum(tf.mul(tf.sum(pair, 2, true), oneHot), 1);
  const grad = tf.mul(tf.sub(tf.sum(pair, 1), anchorPull), valid.expandDims(1)) as tf.Tensor2D;
  return { value, grad };
}

/** d sigmoid(clamp(x, -50, 50)) / dx: sigmoid'(x) inside the clamp, 0 outside. */
function sigmoidSlope(x: tf.Tensor): tf.Tensor {
  const sg = tf.sigmoid(x);
  const inside = tf.logicalAnd(tf.greaterEqual(x, -50), tf.lessEqual(x, 50)).toFloat();
  return tf.mul(tf.mul(sg, tf.sub(1, sg)), inside);
}

/**
 * The ranking loss from tfjs ops, on any backend. Queries run in blocks of at most
 * `blockElements` (queries x anchors x columns) elements; each block is a custom-gradient node that
 * keeps only its score slice and recomputes the block, with the gradient written out, in the
 * backward pass; scratch memory is one block's tensors (about 16 x blockElements x 4 bytes at
 * peak), not the batch's.
 */
export function compositeOnScores(
  spec: RankingSpec,
  ks: number[],
  scores: tf.Tensor2D,
  positives: Positives,
  self: Int32Array,
  blockElements = DEFAULT_BLOCK_ELEMENTS,
): tf.Scalar {
  const [rows, n] = scores.shape;
  const blocks: BlockLayout[] = [];
  let q = 0;
  while (q < rows) {
    let end = q + 1;
    let width = anchorsOf(spec, positives, self, q).length || 1;
    while (end < rows) {
      const w = Math.max(width, anchorsOf(spec, positives, self, end).length);
      if ((end + 1 - q) * w * n > blockElements) break;
      width = w;
      end++;
    }
    blocks.push(layout(spec, ks, positives, self, n, q, end));
    q = end;
  }
  const terms = blocks.map((b) => {
    const node = unaryCustomGrad((s: tf.Tensor, save: tf.GradSaveFunc) => {
      save([s]);
      return {
        value: blockTerms(spec, ks, b, s as tf.Tensor2D, false).value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => tf.mul(dy, blockTerms(spec, ks, b, saved[0] as tf.Tensor2D, true).grad!)),
      };
    });
    return node(tf.slice(scores, [b.rowStart, 0], [b.rows, n])) as tf.Scalar;
  });
  return tf.div(tf.addN(terms), positives.withPositives) as tf.Scalar;
}

/** E E^T with the gradient (G + G^T) E: one matMul in the backward pass instead of two. */
export const gram = unaryCustomGrad((e: tf.Tensor, save: tf.GradSaveFunc) => {
  save([e]);
  return {
    value: similarity(e as tf.Tensor2D, e as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.matMul(tf.add(dy, tf.transpose(dy)), saved[0] as tf.Tensor2D),
  };
}) as (e: tf.Tensor2D) => tf.Tensor2D;
