import type { Matrix } from './input';
import { addQuery, type RankTally, scoreQuery } from './metrics';
import type { Searcher } from './search';

/** faiss answers fewer than this many queries per call with a SIMD loop instead of BLAS (other rounding). */
export const MIN_ROWS_PER_SEARCH = 20;
/** A shallow first pass pays off from this depth on (faiss's heap and the number[] it returns grow with depth). */
const SHALLOW_FROM_DEPTH = 256;
/** Back to one full-depth pass once this share of a block's queries needed the second pass. */
const MAX_DEEP_SHARE = 0.3;
/** Queries in the first block while two passes are tried, so that a poor first guess costs little. */
const PROBE_ROWS = 512;

export interface ScanInput {
  searcher: Searcher;
  queries: Matrix;
  /** Dense label of each query, of each gallery row, and R (same-label gallery rows other than itself). */
  labels: Int32Array;
  galleryLabels: Int32Array;
  relevant: Int32Array;
  /** True when query i is gallery row i (all-vs-all): it is searched one deeper and removed by identity. */
  inGallery: boolean;
  depth: number;
  maxR: number;
  blockRows: number;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

function gatherRows(matrix: Matrix, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * matrix.dim);
  rows.forEach((row, i) => {
    out.set(matrix.data.subarray(row * matrix.dim, (row + 1) * matrix.dim), i * matrix.dim);
  });
  return out;
}

/**
 * Searches every query and adds it to `tally`. Deep searches (Recall@1000) are dominated by faiss's
 * k-deep heaps and by the number[] results faiss-node builds, yet most queries of a useful
 * embedding find a same-label item early. So each block is first searched to a shallow depth
 * (>= the largest R, which R-Precision and MAP@R need); only queries without a same-label item
 * there are searched again to the full depth. The metrics equal those of one full-depth search.
 * Returns how many queries took the second pass.
 */
export async function scanQueries(input: ScanInput, tally: RankTally): Promise<number> {
  const { searcher, queries, labels, galleryLabels, relevant, inGallery, depth } = input;
  const extra = inGallery ? 1 : 0;
  const shallow = Math.max(input.maxR, Math.ceil(depth / 8));
  let twoPass = depth >= SHALLOW_FROM_DEPTH && shallow * 2 <= depth;
  let deepQueries = 0;

  const fullSearch = async (rows: readonly number[], keep: number) => {
    const ids = await searcher.search(gatherRows(queries, rows), rows.length, depth + extra);
    for (let i = 0; i < keep; i++) {
      const q = rows[i]!;
      const score = scoreQuery(
        ids,
        i * (depth + extra),
        depth + extra,
        depth,
        inGallery ? q : -1,
        labels[q]!,
        relevant[q]!,
        galleryLabels,
      );
      addQuery(tally, score, relevant[q]!);
    }
  };

  for (let start = 0, end = 0; start < queries.rows; start = end) {
    end = Math.min(
      queries.rows,
      start + (start === 0 && twoPass ? Math.min(PROBE_ROWS, input.blockRows) : input.blockRows),
    );
    if (queries.rows - end < MIN_ROWS_PER_SEARCH) end = queries.rows; // no tiny tail block
    const block: number[] = [];
    for (let q = start; q < end; q++) {
      if (relevant[q] === 0) tally.loneQueries++;
      else block.push(q);
    }
    if (block.length === 0) continue;
    if (!twoPass) {
      await fullSearch(block, block.length);
    } else {
      const width = shallow + extra;
      const ids = await searcher.search(gatherRows(queries, block), block.length, width);
      const deep: number[] = [];
      block.forEach((q, i) => {
        const score = scoreQuery(
          ids,
          i * width,
          width,
          shallow,
          inGallery ? q : -1,
          labels[q]!,
          relevant[q]!,
          galleryLabels,
        );
        if (score.firstHit === Number.POSITIVE_INFINITY) deep.push(q);
        else addQuery(tally, score, relevant[q]!);
      });
      if (deep.length > 0) {
        const keep = deep.length;
        // pad tiny second passes with other queries of the block so faiss keeps its BLAS arithmetic
        for (let i = 0; deep.length < MIN_ROWS_PER_SEARCH && i < block.length; i++) {
          if (!deep.includes(block[i]!)) deep.push(block[i]!);
        }
        await fullSearch(deep, keep);
        deepQueries += keep;
        if (keep > MAX_DEEP_SHARE * block.length) twoPass = false;
      }
    }
    input.onProgress?.(end, queries.rows);
  }
  return deepQueries;
}
