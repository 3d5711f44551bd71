/**
 * Plain typed-array kernels of the mixing matrix M = [I; A] (A: two non-zeros per row), row-major
 * matrices. On the wasm and cpu backends these beat tfjs's gather by two orders of magnitude, and
 * they mix in float64 before rounding once to float32.
 */

/** The virtual items of an extension: item v = alpha[v] * x[first[v]] + (1 - alpha[v]) * x[second[v]]. */
export interface Mixes {
  readonly first: Int32Array;
  readonly second: Int32Array;
  readonly alpha: Float32Array;
}

/** [x; A x] for x of shape rows x cols. */
export function extendRows(x: Float32Array, rows: number, cols: number, mixes: Mixes): Float32Array {
  const { first, second, alpha } = mixes;
  const out = new Float32Array((rows + alpha.length) * cols);
  out.set(x.subarray(0, rows * cols));
  for (let v = 0; v < alpha.length; v++) {
    const al = alpha[v] as number;
    const be = 1 - al;
    const a = (first[v] as number) * cols;
    const b = (second[v] as number) * cols;
    const o = (rows + v) * cols;
    for (let j = 0; j < cols; j++) out[o + j] = al * (x[a + j] as number) + be * (x[b + j] as number);
  }
  return out;
}

/** The gradient of `extendRows`: dy[:rows] + Aᵀ dy[rows:]. */
export function extendRowsBackward(dy: Float32Array, rows: number, cols: number, mixes: Mixes): Float32Array {
  const { first, second, alpha } = mixes;
  const dx = new Float64Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) dx[i] = dy[i] as number;
  for (let v = 0; v < alpha.length; v++) {
    const al = alpha[v] as number;
    const be = 1 - al;
    const a = (first[v] as number) * cols;
    const b = (second[v] as number) * cols;
    const o = (rows + v) * cols;
    for (let j = 0; j < cols; j++) {
      const g = dy[o + j] as number;
      dx[a + j] = (dx[a + j] as number) + al * g;
      dx[b + j] = (dx[b + j] as number) + be * g;
    }
  }
  return Float32Array.from(dx);
}

/** [x, x Aᵀ] for x of shape rows x cols. */
export function extendColumns(x: Float32Array, rows: number, cols: number, mixes: Mixes): Float32Array {
  const { first, second, alpha } = mixes;
  const width = cols + alpha.length;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const i = r * cols;
    const o = r * width;
    out.set(x.subarray(i, i + cols), o);
    for (let v = 0; v < alpha.length; v++) {
      const al = alpha[v] as number;
      out[o + cols + v] =
        al * (x[i + (first[v] as number)] as number) + (1 - al) * (x[i + (second[v] as number)] as number);
    }
  }
  return out;
}

/** The gradient of `extendColumns`: dy[:, :cols] + dy[:, cols:] A. */
export function extendColumnsBackward(
  dy: Float32Array,
  rows: number,
  cols: number,
  mixes: Mixes,
): Float32Array {
  const { first, second, alpha } = mixes;
  const width = cols + alpha.length;
  const dx = new Float32Array(rows * cols);
  const row = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    for (let j = 0; j < cols; j++) row[j] = dy[o + j] as number;
    for (let v = 0; v < alpha.length; v++) {
      const al = alpha[v] as number;
      const g = dy[o + cols + v] as number;
      const a = first[v] as number;
      const b = second[v] as number;
      row[a] = (row[a] as number) + al * g;
      row[b] = (row[b] as number) + (1 - al) * g;
    }
    dx.set(row, r * cols);
  }
  return dx;
}
