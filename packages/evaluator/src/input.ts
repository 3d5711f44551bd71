import { RecallkitError, tf } from '@recallkit/core';

/** Embeddings as accepted by `evaluate`: a tensor, a flat row-major Float32Array (with `dim`), or rows. */
export type EmbeddingsInput = tf.Tensor2D | Float32Array | number[][];
/** Labels as accepted by `evaluate`: integers, one per row. */

/** A dense row-major float32 matrix. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** Copies (never aliases) the input into a row-major Float32Array and checks every value is finite. */
export function toMatrix(input: EmbeddingsInput, what: string, dim?: number): Matrix {
  let matrix: Matrix;
  if (input instanceof tf.Tensor) {
    if (input.rank !== 2) {
      throw new RecallkitError('INVALID_INPUT', `${what} must be a 2-D tensor, got rank ${input.rank}`);
    }
    const [rows, cols] = input.shape as [number, number];
    matrix = { data: Float32Array.from(input.dataSync() as ArrayLike<number>), rows, dim: cols };
  } else if (input instanceof Float32Array) {
    if (dim === undefined || !Number.isInteger(dim) || dim <= 0) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `${what} is a Float32Array: pass its row length as options.dim (a positive integer)`,
      );
    }
    if (input.length % dim !== 0) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} has ${input.length} values, not a multiple of dim = ${dim}`,
      );
    }
    matrix = { data: input.slice(), rows: input.length / dim, dim };
  } else if (Array.isArray(input)) {
    const rows = input.length;
    const cols = input[0]?.length ?? 0;
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row = input[i];
      if (!Array.isArray(row) || row.length !== cols) {
        throw new RecallkitError(
          'INVALID_INPUT',
          `${what} row ${i} has ${Array.isArray(row) ? row.length : 'no'} values, expected ${cols}`,
        );
      }
      data.set(row, i * cols);
    }
    matrix = { data, rows, dim: cols };
  } else {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${what} must be a tf.Tensor2D, a Float32Array with options.dim, or number[][]`,
    );
  }
  if (matrix.rows === 0 || matrix.dim === 0) {
    throw new RecallkitError('INVALID_INPUT', `${what} is empty (${matrix.rows} x ${matrix.dim})`);
  }
  const { data } = matrix;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RecallkitError(
        'NON_FINITE_INPUT',
        `${what} row ${Math.floor(i / matrix.dim)}, column ${i % matrix.dim} is ${data[i]}`,
      );
    }
  }
  return matrix;
}

/** Scales every row to unit L2 norm in place (norms accumulated in float64). */
export function normalizeRows(matrix: Matrix, what: string): void {
  const { data, rows, dim } = matrix;
  for (let i = 0; i < rows; i++) {
    const start = i * dim;
    let sum = 0;
    for (let j = start; j < start + dim; j++) sum += data[j]! * data[j]!;
    if (sum === 0) {
      throw new RecallkitError(
        'ZERO_EMBEDDING',
        `${what} row ${i} is all zeros: cosine similarity is undefined (use similarity 'dot' or 'negSqL2')`,
      );
    }
    const scale = 1 / Math.sqrt(sum);
    for (let j = start; j < start + dim; j++) data[j] = data[j]! * scale;
  }
}

/**
 * For 'dot' and 'negSqL2' (no normalisation): throws naming the first row whose squared norm
 * overflows float32, since its similarities would be infinite (and Inf - Inf a NaN) in the search.
 */
export function checkMagnitudes(matrix: Matrix, what: string): void {
  const { data, rows, dim } = matrix;
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = i * dim; j < (i + 1) * dim; j++) sum += data[j]! * data[j]!;
    if (Math.fround(sum) === Number.POSITIVE_INFINITY) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} row ${i} is too large for float32 (squared norm ${sum.toExponential(2)} overflows): its similarities would be infinite; scale the embeddings down or use similarity 'cosine'`,
        { row: i },
      );
    }
  }
}
