/**
 * The order in which the authors' code (yash0307/RecallatK_surrogate, src/mixup.py `pos_mixup`)
 * mixes the samples of one class, as positions within the class.
 *
 * Their code spells the pairs out for 3, 4 and 6 samples per class. For 3 and 6 the rule is: first
 * the chain (0,1), (1,2), ..., (m-2,m-1), then the remaining pairs in lexicographic order. For 4
 * they put (0,3) before (0,2): (0,1), (1,2), (2,3), (0,3), (0,2), (1,3). Recallkit follows them
 * exactly for 4 and uses the chain-then-lexicographic rule for every other m, so each class of m
 * samples gives all m(m-1)/2 pairs.
 */
export function authorsPairOrder(m: number): Array<[number, number]> {
  if (m === 4) {
    return [
      [0, 1],
      [1, 2],
      [2, 3],
      [0, 3],
      [0, 2],
      [1, 3],
    ];
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i + 1 < m; i++) pairs.push([i, i + 1]);
  for (let i = 0; i < m; i++) {
    for (let j = i + 2; j < m; j++) pairs.push([i, j]);
  }
  return pairs;
}
