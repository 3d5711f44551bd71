import { releasingTapeOnError, tf } from '@recallkit/core';
import { unaryCustomGrad } from '../custom-grad';
import { assertFiniteRows, type Positives } from '../positives';
import type { RankingSpec } from '../spec';
import { gramRowBlocks } from './gram-rows';
import type { KernelTask } from './kernel';
import { defaultWorkerCount, KernelRun, shared } from './pool';

/** Below this many (anchor, column) pairs a second thread costs more than it saves. */
const PARALLEL_MIN_PAIRS = 1 << 21;

/** Threads for a block: `threads` when given, else all cores when the block is large. */
function threadCount(positives: Positives, rows: number, n: number, threads: number | undefined): number {
  if (threads !== undefined) return Math.max(1, Math.floor(threads));
  const pairs = (positives.posIdx.length + rows) * n;
  return pairs >= PARALLEL_MIN_PAIRS ? 1 + defaultWorkerCount() : 1;
}

/** Result of the fused kernel: d loss / d scores is zero outside the rows flagged in `rowTouched`. */
export interface FusedResult {
  loss: number;
  grad: Float32Array;
  rowTouched: Uint8Array;
}

/**
 * Loss (mean over queries with positives) and d loss / d scores, computed on the CPU in float64,
 * row block by row block: `blockScores(r0, r1)` supplies the similarities of rows [r0, r1) just
 * before they are needed, so while worker threads rank one block the caller can compute the next.
 */
function fusedRanking(
  spec: RankingSpec,
  ks: number[],
  rows: number,
  n: number,
  positives: Positives,
  self: Int32Array,
  threads: number | undefined,
  blockElements: number,
  blockScores: (r0: number, r1: number, parallel: boolean) => Float32Array,
  onProgress?: (progress: { rows: number; total: number }) => void,
): FusedResult {
  const run = new KernelRun(threadCount(positives, rows, n, threads));
  const parallel = run.parallel;
  const alloc = (bytes: number) => (parallel ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  // Fresh zeroed buffers: the kernel writes only rows with a gradient; untouched pages cost no memory.
  const grad = new Float32Array(alloc(4 * rows * n));
  const rowTouched = new Uint8Array(alloc(rows));
  const queryLoss = new Float64Array(alloc(8 * rows));
  const base = kernelTask(
    spec,
    ks,
    new Float32Array(0),
    grad,
    rowTouched,
    queryLoss,
    rows,
    n,
    positives,
    self,
  );
  if (parallel) {
    base.posPtr = shared(base.posPtr);
    base.posIdx = shared(base.posIdx);
    base.self = shared(base.self);
  }
  const step = Math.max(1, Math.floor(blockElements / n));
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r1 = Math.min(rows, r0 + step);
    run.submit({ ...base, scores: blockScores(r0, r1, parallel), scoresRow0: r0, rowStart: r0, rowEnd: r1 });
    onProgress?.({ rows: r1, total: rows });
  }
  run.finish();
  let sum = 0;
  for (let q = 0; q < rows; q++) sum += queryLoss[q]!;
  return { loss: sum / positives.withPositives, grad, rowTouched };
}

/** A kernel task over all rows of a score block (arrays are filled by the caller). */
export function kernelTask(
  spec: RankingSpec,
  ks: number[],
  scores: Float32Array,
  grad: Float32Array,
  rowTouched: Uint8Array,
  queryLoss: Float64Array,
  rows: number,
  n: number,
  positives: Positives,
  self: Int32Array,
): KernelTask {
  return {
    kind: spec.kind,
    n,
    rowStart: 0,
    rowEnd: rows,
    scores,
    scoresRow0: 0,
    grad,
    rowTouched,
    queryLoss,
    posPtr: positives.posPtr,
    posIdx: positives.posIdx,
    self,
    useSelf: spec.useSelf,
    tau: spec.tau,
    ks,
    tauKs: spec.tauKs,
    scale: 1 / positives.withPositives,
  };
}

/** The ranking loss on a score block, with its gradient from the fused kernel. */
export function fusedOnScores(
  spec: RankingSpec,
  ks: number[],
  scores: tf.Tensor2D,
  positives: Positives,
  self: Int32Array,
  threads: number | undefined,
  blockElements: number,
  onProgress?: (progress: { rows: number; total: number }) => void,
): tf.Scalar {
  const [rows, n] = scores.shape;
  const f = unaryCustomGrad((s: tf.Tensor) => {
    const { loss, grad } = releasingTapeOnError(() => {
      const data = s.dataSync() as Float32Array;
      assertFiniteRows(data, rows, n, `${spec.name}: scores`);
      // With workers, each block travels as its own copy (moved to the worker, not shared), so no
      // second Q x N array is ever held.
      const block = (r0: number, r1: number, parallel: boolean) =>
        parallel ? data.slice(r0 * n, r1 * n) : data.subarray(r0 * n, r1 * n);
      return fusedRanking(spec, ks, rows, n, positives, self, threads, blockElements, block, onProgress);
    });
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.mul(dy, tf.tensor2d(grad, [rows, n]))),
    };
  });
  return f(scores) as tf.Scalar;
}

/**
 * The ranking loss of a batch against itself (scores = E E^T, the query's own column is its row
 * index), fused with the similarity. The similarity matrix is never a tensor: each row block is
 * multiplied (upper triangle only), read back and handed to the kernel. The gradient d loss / d E = (G + G^T) E is one
 * matMul per row block (or two small ones when G is row-sparse) instead of autograd's two.
 */
export function fusedOnEmbeddings(
  spec: RankingSpec,
  ks: number[],
  embeddings: tf.Tensor2D,
  positives: Positives,
  threads: number | undefined,
  blockElements: number,
  onProgress?: (progress: { rows: number; total: number }) => void,
): tf.Scalar {
  const rows = embeddings.shape[0];
  const self = new Int32Array(rows).map((_, i) => i);
  const f = unaryCustomGrad((e: tf.Tensor, save: tf.GradSaveFunc) => {
    // E^T once: each row block multiplies by a column slice of it (the upper triangle only).
    const eT = tf.transpose(e) as tf.Tensor2D;
    let result: FusedResult;
    try {
      const gramRows = gramRowBlocks(e as tf.Tensor2D, eT);
      result = releasingTapeOnError(() =>
        fusedRanking(
          spec,
          ks,
          rows,
          rows,
          positives,
          self,
          threads,
          blockElements,
          (r0, r1) => {
            const data = gramRows(r0, r1);
            assertFiniteRows(data, r1 - r0, rows, `${spec.name}: similarities of rows ${r0}..${r1 - 1}`);
            return data;
          },
          onProgress,
        ),
      );
    } finally {
      eT.dispose();
    }
    // Saved only now: a tensor saved by a forward pass that throws is never freed.
    save([e]);
    return {
      value: tf.scalar(result.loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => tf.mul(dy, gramBackward(result, saved[0] as tf.Tensor2D, blockElements))),
    };
  });
  return f(embeddings) as tf.Scalar;
}

/**
 * (G + G^T) E from G's non-zero entries: each G_qj adds G_qj E_j to row q and G_qj E_q to row j.
 * Used when G is very sparse entrywise: trained embeddings put most pairs beyond the sigmoid's clamp.
 */
function sparseGramBackward(grad: Float32Array, rows: number[], e: tf.Tensor2D): tf.Tensor2D {
  const [n, dim] = e.shape;
  const x = e.dataSync() as Float32Array;
  const out = new Float64Array(n * dim);
  const acc = new Float64Array(dim);
  for (const q of rows) {
    const qOff = q * dim;
    const gOff = q * n;
    acc.fill(0);
    for (let j = 0; j < n; j++) {
      const g = grad[gOff + j]!;
      if (g === 0) continue;
      const jOff = j * dim;
      for (let c = 0; c < dim; c++) {
        acc[c]! += g * x[jOff + c]!;
        out[jOff + c]! += g * x[qOff + c]!;
      }
    }
    for (let c = 0; c < dim; c++) out[qOff + c]! += acc[c]!;
  }
  return tf.tensor2d(Float32Array.from(out), [n, dim]);
}

/**
 * The backward is entrywise sparse when non-zeros x SPARSE_RATIO < touched rows x N. The plain-JS
 * sparse product costs about 6 ns per non-zero and embedding dimension (two row updates); the dense
 * one (two matMuls per row block, native BLAS) about 0.1 ns per entry of G and dimension, wasm's
 * XNNPACK about 5 times that.
 */
export const SPARSE_RATIO = 50;

/**
 * d loss / d E for scores = E E^T: (G + G^T) E. When G is very sparse entrywise, from its non-zero
 * entries in plain JS. When few rows of G are non-zero (rows R: typical of RS@k at large batches,
 * where most positives are out of reach of every k), it is computed as scatter_R(G_R E) + G_R^T E_R,
 * which costs 2 |R| / B of the dense product; otherwise row block by row block, G[block] E and
 * G[block]^T E[block], so no B x B tensor is ever allocated.
 */
export function gramBackward(
  { grad, rowTouched }: FusedResult,
  e: tf.Tensor2D,
  blockElements: number,
): tf.Tensor2D {
  const [n, dim] = e.shape;
  const rows: number[] = [];
  rowTouched.forEach((t, i) => {
    if (t) rows.push(i);
  });
  if (rows.length === 0) return tf.zeros([n, dim]);
  let nonZero = 0;
  for (const r of rows) for (let j = r * n; j < (r + 1) * n; j++) if (grad[j] !== 0) nonZero++;
  if (nonZero * SPARSE_RATIO < rows.length * n) return sparseGramBackward(grad, rows, e);
  if (rows.length <= n / 3) {
    const compact = new Float32Array(rows.length * n);
    rows.forEach((r, i) => {
      compact.set(grad.subarray(r * n, (r + 1) * n), i * n);
    });
    const gR = tf.tensor2d(compact, [rows.length, n]);
    const index = tf.tensor1d(rows, 'int32');
    const byRow = tf.scatterND(index.expandDims(1), tf.matMul(gR, e), [n, dim]);
    const byColumn = tf.matMul(tf.transpose(gR), tf.gather(e, index));
    return tf.add(byRow, byColumn);
  }
  // Row block by row block: rows [r0, r1) of G E, and G[r0:r1]^T E[r0:r1] summed over the blocks
  // (G^T E): two products of the block, no transposed copy of G.
  const step = Math.max(1, Math.floor(blockElements / n));
  const parts: tf.Tensor2D[] = [];
  let byColumn: tf.Tensor2D | undefined;
  for (let r0 = 0; r0 < n; r0 += step) {
    const r1 = Math.min(n, r0 + step);
    const gBlock = tf.tensor2d(grad.subarray(r0 * n, r1 * n), [r1 - r0, n]);
    parts.push(tf.matMul(gBlock, e));
    const part = tf.matMul(gBlock, tf.slice(e, [r0, 0], [r1 - r0, dim]), true, false);
    gBlock.dispose();
    const sum = byColumn ? tf.add(byColumn, part) : part;
    if (byColumn) tf.dispose([byColumn, part]);
    byColumn = sum as tf.Tensor2D;
  }
  return tf.add(tf.concat(parts, 0), byColumn!);
}
