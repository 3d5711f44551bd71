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

/** What one query's ranked neighbours say: the rank of its first same-label item, and MAP@R's terms. */
export interface QueryScore {
  /** Rank (1-based) of the first same-label neighbour, Infinity when none among those scored. */
  firstHit: number;
  /** Same-label neighbours among the first R. */
  matches: number;
  /** Sum over same-label ranks i <= R of (matches among the first i) / i. */
  precisionSum: number;
}

/**
 * Scores the first `depth` neighbours in `ids[offset .. offset + width)`. The query's own id `self`
 * is removed wherever it appears (by identity, so duplicates and ties cannot remove another item);
 * when it is absent from the ids searched, the last id is dropped instead.
 */
export function scoreQuery(
  ids: Int32Array,
  offset: number,
  width: number,
  depth: number,
  self: number,
  label: number,
  r: number,
  galleryLabels: Int32Array,
): QueryScore {
  let firstHit = Number.POSITIVE_INFINITY;
  let matches = 0;
  let precisionSum = 0;
  let rank = 0; // neighbours taken so far
  for (let j = 0; j < width && rank < depth; j++) {
    const id = ids[offset + j]!;
    if (id === self) continue;
    rank++;
    if (id < 0 || galleryLabels[id] !== label) continue;
    if (rank < firstHit) firstHit = rank;
    if (rank <= r) {
      matches++;
      precisionSum += matches / rank;
    }
  }
  return { firstHit, matches, precisionSum };
}

/** Adds one non-lone query (R = r > 0) to the tally. */
export function addQuery(tally: RankTally, score: QueryScore, r: number): void {
  const { ks, recallHits } = tally;
  tally.queries++;
  for (let i = 0; i < ks.length; i++) if (score.firstHit <= ks[i]!) recallHits[i]!++;
  if (score.firstHit === 1) tally.precisionAt1++;
  tally.rPrecision += score.matches / r;
  tally.mapAtR += score.precisionSum / r;
}
