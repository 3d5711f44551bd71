/** What the ranking core computes, independent of the implementation. */
export interface RankingSpec {
  kind: 'rsk' | 'smoothap';
  /** Display name for messages. */
  name: string;
  /** Temperature of the rank sigmoid. */
  tau: number;
  /** RS@k: the k values and their temperatures (empty for Smooth-AP). */
  ks: number[];
  tauKs: number[];
  /** RS@k: the query's own column is ranked; Smooth-AP: the query is a positive and ranked. */
  useSelf: boolean;
}

/** k values clipped to the number of ranked columns; warns (once per loss) when one is clipped. */
export function clipKs(spec: RankingSpec, columns: number, warn: (message: string) => void): number[] {
  const clipped = spec.ks.map((k) => Math.min(k, columns));
  if (clipped.some((k, i) => k !== spec.ks[i])) {
    warn(
      `${spec.name}: k = [${spec.ks}] exceeds the ${columns} ranked items; using k = [${clipped}] (warned once)`,
    );
  }
  return clipped;
}
