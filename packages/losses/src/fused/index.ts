import { tf } from '@recallkit/core';
import { unaryCustomGrad } from '../custom-grad';
import { gramMatrix } from '../gram';
import type { Positives } from '../positives';
import { assertFiniteRows } from '../positives';
import { kernelTask, type RankingSpec } from '../ranking';
import { defaultWorkerCount, runSplit, shared } from './pool';

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

/** Loss (mean over queries with positives) and d loss / d scores, computed on the CPU in float64. */
export function fusedRanking(
  spec: RankingSpec,
  ks: number[],
  scores: Float32Array,
  rows: number,
  n: number,
  positives: Positives,
  self: Int32Array,
  threads: number | undefined,
): FusedResult {
  const count = threadCount(positives, rows, n, threads);
  const parallel = count > 1;
  const alloc = (bytes: number) => (parallel ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  // Fresh zeroed buffers: the kernel writes only rows with a gradient, untouched pages cost no memory.
  const grad = new Float32Array(alloc(4 * rows * n));
  const rowTouched = new Uint8Array(alloc(rows));
  const queryLoss = new Float64Array(alloc(8 * rows));
  const task = kernelTask(
    spec,
    ks,
    parallel ? shared(scores) : scores,
    grad,
    rowTouched,
    queryLoss,
    rows,
    n,
    positives,
    self,
  );
  if (parallel) {
    task.posPtr = shared(task.posPtr);
    task.posIdx = shared(task.posIdx);
    task.self = shared(task.self);
  }
  runSplit(task, count);
  let sum = 0;
  for (let q = 0; q < rows; q++) sum += queryLoss[q]!;
  return { loss: sum / positives.withPositives, grad, rowTouched };
}

/** The ranking loss on a score block, with its gradient from the fused kernel. */
export function fusedOnScores(
  spec: RankingSpec,
  ks: number[],
  scores: tf.Tensor2D,
  positives: Positives,
  self: Int32Array,
  threads: number | undefined,
): tf.Scalar {
  const [rows, n] = scores.shape;
  const f = unaryCustomGrad((s: tf.Tensor) => {
    const data = s.dataSync() as Float32Array;
    assertFiniteRows(data, rows, n, `${spec.name}: scores`);
    const { loss, grad } = fusedRanking(spec, ks, data, rows, n, positives, self, threads);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.mul(dy, tf.tensor2d(grad, [rows, n]))),
    };
  });
  return f(scores) as tf.Scalar;
}

/**
 * The ranking loss of a batch against itself (scores = E E^T, the query's own column is its row
 * index), fused with the similarity: the gradient d loss / d E = (G + G^T) E is one matMul (or two
 * small ones when G is row-sparse) instead of autograd's two.
 */
export function fusedOnEmbeddings(
  spec: RankingSpec,
  ks: number[],
  embeddings: tf.Tensor2D,
  positives: Positives,
  threads: number | undefined,
): tf.Scalar {
  const rows = embeddings.shape[0];
  const self = new Int32Array(rows).map((_, i) => i);
  const f = unaryCustomGrad((e: tf.Tensor, save: tf.GradSaveFunc) => {
    save([e]);
    const gram = tf.tidy(() => gramMatrix(e as tf.Tensor2D));
    const data = gram.dataSync() as Float32Array;
    gram.dispose();
    const result = fusedRanking(spec, ks, data, rows, rows, positives, self, threads);
    return {
      value: tf.scalar(result.loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => tf.mul(dy, gramBackward(result, saved[0] as tf.Tensor2D))),
    };
  });
  return f(embeddings) as tf.Scalar;
}

/**
 * d loss / d E for scores = E E^T: (G + G^T) E. When few rows of G are non-zero (rows R: typical
 * of RS@k at large batches, where most positives are out of reach of every k), it is computed as
 * scatter_R(G_R E) + G_R^T E_R, which costs 2 |R| / B of the dense product.
 */
function gramBackward({ grad, rowTouched }: FusedResult, e: tf.Tensor2D): tf.Tensor2D {
  const [n, dim] = e.shape;
  const rows: number[] = [];
  rowTouched.forEach((t, i) => {
    if (t) rows.push(i);
  });
  if (rows.length === 0) return tf.zeros([n, dim]);
  if (rows.length > n / 3) return tf.matMul(tf.tensor2d(symmetricSum(grad, n), [n, n]), e);
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

/** G + G^T of a square row-major matrix, in a new array (blocked for cache locality). */
export function symmetricSum(g: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * n);
  const tile = 64;
  for (let i0 = 0; i0 < n; i0 += tile) {
    const i1 = Math.min(n, i0 + tile);
    for (let j0 = i0; j0 < n; j0 += tile) {
      const j1 = Math.min(n, j0 + tile);
      for (let i = i0; i < i1; i++) {
        for (let j = j0 === i0 ? i : j0; j < j1; j++) {
          const v = g[i * n + j]! + g[j * n + i]!;
          out[i * n + j] = v;
          out[j * n + i] = v;
        }
      }
    }
  }
  return out;
}
