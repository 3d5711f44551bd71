import { RecallkitError, tf } from '@recallkit/core';
import type { ScoreBlock } from './types';

/** Positives of each query in compressed rows: query q's positives are posIdx[posPtr[q] .. posPtr[q+1]). */
export interface Positives {
  posPtr: Int32Array;
  posIdx: Int32Array;
  /** Queries with at least one positive. */
  withPositives: number;
}

/** In-batch positives: the other rows with the same label, in row order. */
export function positivesFromLabels(labels: Int32Array): Positives {
  const rows = labels.length;
  const members = new Map<number, number[]>();
  for (let i = 0; i < rows; i++) {
    const list = members.get(labels[i]!);
    if (list) list.push(i);
    else members.set(labels[i]!, [i]);
  }
  const posPtr = new Int32Array(rows + 1);
  let withPositives = 0;
  for (let i = 0; i < rows; i++) {
    const count = members.get(labels[i]!)!.length - 1;
    if (count > 0) withPositives++;
    posPtr[i + 1] = posPtr[i]! + count;
  }
  const posIdx = new Int32Array(posPtr[rows]!);
  for (let i = 0; i < rows; i++) {
    let at = posPtr[i]!;
    for (const j of members.get(labels[i]!)!) if (j !== i) posIdx[at++] = j;
  }
  return { posPtr, posIdx, withPositives };
}

/** Positives read from a Q x N 0/1 relevance matrix; the query's own column must not be relevant. */
function positivesFromRelevance(relevant: ArrayLike<number>, q: number, n: number, self: Int32Array) {
  const posPtr = new Int32Array(q + 1);
  let count = 0;
  for (let i = 0; i < q * n; i++) if (relevant[i] !== 0) count++;
  const posIdx = new Int32Array(count);
  let at = 0;
  let withPositives = 0;
  for (let r = 0; r < q; r++) {
    const off = r * n;
    for (let j = 0; j < n; j++) {
      const v = relevant[off + j]!;
      if (v === 0) continue;
      if (v !== 1) {
        throw new RecallkitError('INVALID_INPUT', `relevant[${r}][${j}] = ${v}: expected 0 or 1`);
      }
      if (j === self[r]) {
        throw new RecallkitError(
          'INVALID_INPUT',
          `relevant[${r}][${j}] = 1 marks the query's own column (self[${r}] = ${j}) as a positive`,
        );
      }
      posIdx[at++] = j;
    }
    posPtr[r + 1] = at;
    if (at > posPtr[r]!) withPositives++;
  }
  return { posPtr, posIdx, withPositives } satisfies Positives;
}

/** Throws naming the first row that holds a NaN or an infinity (rows counted from `firstRow`). */
export function assertFiniteRows(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  what: string,
  firstRow = 0,
): void {
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(values[i]!)) {
      const row = firstRow + Math.floor(i / cols);
      throw new RecallkitError(
        'NON_FINITE_INPUT',
        `${what} row ${row} holds a non-finite value (${values[i]} at column ${i % cols})`,
        { row, column: i % cols },
      );
    }
  }
}

/** A batch where no query has a positive cannot be ranked: a clear error, never a NaN loss. */
export function assertSomePositive(positives: Positives, loss: string): void {
  if (positives.withPositives === 0) {
    throw new RecallkitError(
      'NO_POSITIVE_PAIR',
      `${loss}: no query has a positive (every label occurs once in the batch); sample at least two items of some class`,
    );
  }
}

/**
 * Checks a loss's embeddings (or scores) tensor: 2-D, float32, at least one column. Returns its
 * shape. (tfjs has no float64 tensors; an int32 tensor has no gradient to ask for.)
 */
export function assertFloatMatrix(x: unknown, what: string): [number, number] {
  if (!(x instanceof tf.Tensor) || x.rank !== 2) {
    const shape = x instanceof tf.Tensor ? `shape [${x.shape}]` : typeof x;
    throw new RecallkitError('INVALID_INPUT', `${what} must be a 2-D tensor, got ${shape}`);
  }
  if (x.dtype !== 'float32') {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${what} must be a float32 tensor, got ${x.dtype} (cast with tf.cast(x, 'float32'))`,
    );
  }
  const [rows, cols] = x.shape as [number, number];
  if (rows === 0) {
    throw new RecallkitError('INVALID_INPUT', `${what} has no rows (shape [0, ${cols}]): the batch is empty`);
  }
  if (cols === 0) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${what} has shape [${rows}, 0]: every row needs at least one value`,
    );
  }
  return [rows, cols];
}

/**
 * What `checkRows` asks of each row: 'finite' only; 'similarity': also a squared norm float32 can
 * carry (its similarity to itself must not be infinite); 'normalize': also not zero (it needs a
 * direction to L2-normalise).
 */
export type RowCheck = 'finite' | 'similarity' | 'normalize';

/**
 * Throws naming the first row of `x` that holds a NaN or an infinity or, per `check`, whose length
 * float32 cannot carry. Checked by one per-row reduction on the backend, so that a GPU backend sends
 * back one value per row, not the matrix; only a row the reduction flags is read back, to name its
 * problem.
 */
export function checkRows(x: tf.Tensor2D, what: string, check: RowCheck): void {
  const [rows, cols] = x.shape;
  const squares = tf.tidy(() => tf.sum(tf.square(x), 1));
  const sums = squares.dataSync();
  squares.dispose();
  for (let i = 0; i < rows; i++) {
    const sum = sums[i]!;
    if (Number.isFinite(sum) && !(check === 'normalize' && sum === 0)) continue;
    const rowTensor = tf.slice(x, [i, 0], [1, cols]);
    const row = rowTensor.dataSync() as Float32Array;
    rowTensor.dispose();
    assertFiniteRows(row, 1, cols, what, i);
    if (check === 'finite') continue; // finite values whose squares overflow: fine for scores
    if (sum === 0 && row.every((v) => v === 0)) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} row ${i} is all zeros: it has no direction to L2-normalise`,
        { row: i },
      );
    }
    const squared = row.reduce((acc, v) => acc + v * v, 0).toExponential(2);
    throw new RecallkitError(
      'INVALID_INPUT',
      sum === 0
        ? `${what} row ${i} is too small to L2-normalise in float32 (squared norm ${squared} underflows to 0); scale the embeddings up`
        : `${what} row ${i} is too large for float32 (squared norm ${squared} overflows): ${
            check === 'normalize'
              ? 'L2 normalisation would turn it into zeros'
              : 'its similarities would be infinite'
          }; scale the embeddings down`,
      { row: i },
    );
  }
}

function assertMatrix(x: unknown, what: string): asserts x is tf.Tensor2D {
  if (!(x instanceof tf.Tensor) || x.rank !== 2) {
    const shape = x instanceof tf.Tensor ? `shape [${x.shape}]` : typeof x;
    throw new RecallkitError('INVALID_INPUT', `${what} must be a 2-D tensor, got ${shape}`);
  }
}

/**
 * Checks a score block (shapes, `self`, a 0/1 relevance that never marks the query's own column)
 * and reads its positives; the relevance comes back as host values.
 */
export function checkScoreBlock(block: ScoreBlock, name: string) {
  const { scores, relevant } = block;
  const [rows, n] = assertFloatMatrix(scores, `${name}: scores`);
  let relevance: ArrayLike<number>;
  if (relevant instanceof Float32Array || relevant instanceof Uint8Array) {
    if (relevant.length !== rows * n) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${name}: relevant has ${relevant.length} values but scores has shape [${scores.shape}] (${rows * n} values)`,
      );
    }
    relevance = relevant;
  } else {
    assertMatrix(relevant, `${name}: relevant`);
    if (relevant.shape[0] !== rows || relevant.shape[1] !== n) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${name}: relevant has shape [${relevant.shape}] but scores has [${scores.shape}]`,
      );
    }
    relevance = relevant.dataSync();
  }
  const self = block.self ?? new Int32Array(rows).fill(-1);
  if (self.length !== rows) {
    throw new RecallkitError('INVALID_INPUT', `${name}: self has ${self.length} entries for ${rows} queries`);
  }
  self.forEach((c, q) => {
    if (!Number.isInteger(c) || c < -1 || c >= n) {
      throw new RecallkitError('INVALID_INPUT', `${name}: self[${q}] = ${c} is not a column in [-1, ${n})`);
    }
  });
  const positives = positivesFromRelevance(relevance, rows, n, self);
  return { scores, relevance, rows, n, self, positives };
}
