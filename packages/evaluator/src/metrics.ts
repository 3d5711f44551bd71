/**
 * Rank metrics of Musgrave et al., "A Metric Learning Reality Check" (2020), accumulated one block of
 * queries at a time. For a query with R > 0 other same-label items and its ranked neighbours
 * (the query itself removed):
 * - Recall@k: 1 when a same-label item is among the first k.
 * - Precision@1: 1 when the first neighbour has the query's label.
 * - R-Precision: (same-label items among the first R) / R.
 * - MAP@R: (1/R) * sum over i <= R where neighbour i matches of (matches among the first i) / i.
 * Queries with R = 0 ("lone") have no answer; they are counted and left out of every mean.
 */
export interface RankTally {
  readonly ks: readonly number[];
  readonly recallHits: Float64Array;
  precisionAt1: number;
  rPrecision: number;
  mapAtR: number;
  queries: number;
  loneQueries: number;
}

export function createTally(ks: readonly number[]): RankTally {
  return {
    ks,
    recallHits: new Float64Array(ks.length),
    precisionAt1: 0,
    rPrecision: 0,
    mapAtR: 0,
    queries: 0,
    loneQueries: 0,
  };
}

export interface QueryBlock {
  /** Neighbour ids, `rows x width`, best first (-1: none). */
  ids: Int32Array;
  width: number;
  /** Label (dense id) of each query in the block. */
  labels: Int32Array;
  /** R of each query: same-label gallery items other than itself. */
  relevant: Int32Array;
  /** Gallery row of each query itself, or null when queries are not in the gallery. */
  self: Int32Array | null;
}

/**
 * Adds one block of queries. `depth` neighbours are scored per query: the query's own id is removed
 * wherever it appears (by identity, so duplicates and ties cannot remove another item); when it is
 * absent from the `depth + 1` ids searched, the last id is dropped instead.
 */
export function tallyBlock(
  tally: RankTally,
  block: QueryBlock,
  galleryLabels: Int32Array,
  depth: number,
): void {
  const { ids, width, labels, relevant, self } = block;
  const { ks, recallHits } = tally;
  for (let q = 0; q < labels.length; q++) {
    const r = relevant[q]!;
    if (r === 0) {
      tally.loneQueries++;
      continue;
    }
    const label = labels[q]!;
    const own = self ? self[q]! : -1;
    const row = q * width;
    let firstHit = Number.POSITIVE_INFINITY;
    let matches = 0;
    let precisionSum = 0;
    let rank = 0; // neighbours taken so far
    for (let j = 0; j < width && rank < depth; j++) {
      const id = ids[row + j]!;
      if (id === own) continue;
      rank++;
      if (id < 0 || galleryLabels[id] !== label) continue;
      if (rank < firstHit) firstHit = rank;
      if (rank <= r) {
        matches++;
        precisionSum += matches / rank;
      }
    }
    tally.queries++;
    for (let i = 0; i < ks.length; i++) if (firstHit <= ks[i]!) recallHits[i]!++;
    if (firstHit === 1) tally.precisionAt1++;
    tally.rPrecision += matches / r;
    tally.mapAtR += precisionSum / r;
  }
}
