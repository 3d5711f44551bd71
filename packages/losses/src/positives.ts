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

/** Throws naming the first row that holds a NaN or an infinity. */
export function assertFiniteRows(values: ArrayLike<number>, rows: number, cols: number, what: string): void {
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(values[i]!)) {
      const row = Math.floor(i / cols);
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

/** Throws naming the first all-zero row (it has no direction: L2 normalisation would divide by 0). */
function assertNonZeroRows(values: ArrayLike<number>, rows: number, cols: number, what: string): void {
  for (let i = 0; i < rows; i++) {
    let zero = true;
    for (let c = i * cols; c < (i + 1) * cols; c++) {
      if (values[c] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} row ${i} is all zeros: it has no direction to L2-normalise`,
        { row: i },
      );
    }
  }
}

const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Throws naming the first row whose length float32 cannot carry: with `normalize`, a row that is
 * all zeros (assertNonZeroRows) or whose squared norm underflows to 0 or overflows in float32 (the
 * L2 normalisation would divide by 0, or by infinity and zero the row); without, a row whose
 * squared norm overflows (its similarity to itself would be infinite).
 */
export function assertRowNorms(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  what: string,
  normalize: boolean,
): void {
  if (normalize) assertNonZeroRows(values, rows, cols, what);
  for (let i = 0; i < rows; i++) {
    let squares = 0;
    for (let c = i * cols; c < (i + 1) * cols; c++) squares += values[c]! * values[c]!;
    const inFloat32 = Math.fround(squares);
    if (normalize && inFloat32 === 0) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} row ${i} is too small to L2-normalise in float32 (squared norm ${squares.toExponential(2)} underflows to 0); scale the embeddings up`,
        { row: i },
      );
    }
    if (inFloat32 > FLOAT32_MAX) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} row ${i} is too large for float32 (squared norm ${squares.toExponential(2)} overflows): ${
          normalize ? 'L2 normalisation would turn it into zeros' : 'its similarities would be infinite'
        }; scale the embeddings down`,
        { row: i },
      );
    }
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
 * and reads its positives.
 */
export function checkScoreBlock(block: ScoreBlock, name: string) {
  const { scores, relevant } = block;
  const [rows, n] = assertFloatMatrix(scores, `${name}: scores`);
  assertMatrix(relevant, `${name}: relevant`);
  if (relevant.shape[0] !== rows || relevant.shape[1] !== n) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${name}: relevant has shape [${relevant.shape}] but scores has [${scores.shape}]`,
    );
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
  const positives = positivesFromRelevance(relevant.dataSync(), rows, n, self);
  return { scores, relevant, rows, n, self, positives };
}
