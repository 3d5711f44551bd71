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
): { loss: number; grad: Float32Array } {
  const count = threadCount(positives, rows, n, threads);
  const parallel = count > 1;
  const alloc = (bytes: number) => (parallel ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const grad = new Float32Array(alloc(4 * rows * n));
  const queryLoss = new Float64Array(alloc(8 * rows));
  const task = kernelTask(
    spec,
    ks,
    parallel ? shared(scores) : scores,
    grad,
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
  return { loss: sum / positives.withPositives, grad };
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
 * index), fused with the similarity: the gradient is d loss / d E = (G + G^T) E, one matMul.
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
    const { loss, grad } = fusedRanking(spec, ks, data, rows, rows, positives, self, threads);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const sym = symmetricSum(grad, rows);
        return tf.tidy(() => tf.mul(dy, tf.matMul(tf.tensor2d(sym, [rows, rows]), saved[0] as tf.Tensor2D)));
      },
    };
  });
  return f(embeddings) as tf.Scalar;
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
