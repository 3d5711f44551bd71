import type { Matrix } from './input';

/** How two embeddings are compared: inner product after L2 normalisation, raw inner product, or -||a - b||². */
export type Similarity = 'cosine' | 'dot' | 'negSqL2';

/** A k-nearest-neighbour search over a fixed gallery. */
export interface Searcher {
  /** What searched, e.g. `faiss:IndexFlatIP` or `exact:tfjs-wasm`. */
  readonly name: string;
  /** Query rows per `search` call that keep memory bounded and, for faiss, match its own blocking. */
  readonly blockRows: number;
  /**
   * The `depth` most similar gallery rows of each query row (row-major `rows x depth`, best first;
   * -1 where an approximate index found fewer).
   */
  search(queries: Float32Array, rows: number, depth: number): Promise<Int32Array>;
  dispose(): void;
}

/** Splits `total` rows into consecutive blocks of at most `size` rows, none smaller than `min` unless
 * `total` itself is (a short tail is merged into the block before it). */
export function* rowBlocks(total: number, size: number, min = 1): Generator<[number, number]> {
  let start = 0;
  while (start < total) {
    let end = Math.min(total, start + size);
    if (total - end > 0 && total - end < min) end = total;
    yield [start, end];
    start = end;
  }
}

export function sliceRows(matrix: Matrix, start: number, end: number): Float32Array {
  return matrix.data.subarray(start * matrix.dim, end * matrix.dim);
}
