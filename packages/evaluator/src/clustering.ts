import type { Rng } from '@recallkit/core';
import type { Matrix } from './input';

/** Nearest centroid (squared L2) of every row of the data, given the centroids. */
export type Assign = (centroids: Matrix) => Promise<Int32Array>;

/**
 * Lloyd's k-means: `k` distinct rows drawn by `rng` as initial centroids, then `iterations` rounds of
 * assignment (by `assign`, which does the heavy search) and mean update. An empty cluster keeps
 * its centroid. Returns each row's cluster.
 */
export async function kMeans(
  data: Matrix,
  k: number,
  options: { iterations: number; rng: Rng; assign: Assign },
): Promise<Int32Array> {
  const { rows, dim } = data;
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + options.rng.int(rows - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const centroids: Matrix = { data: new Float32Array(k * dim), rows: k, dim };
  for (let c = 0; c < k; c++) {
    centroids.data.set(data.data.subarray(order[c]! * dim, (order[c]! + 1) * dim), c * dim);
  }
  let assignment = await options.assign(centroids);
  for (let it = 0; it < options.iterations; it++) {
    const sums = new Float64Array(k * dim);
    const counts = new Int32Array(k);
    for (let i = 0; i < rows; i++) {
      const c = assignment[i]!;
      counts[c]!++;
      const from = i * dim;
      const to = c * dim;
      for (let j = 0; j < dim; j++) sums[to + j]! += data.data[from + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < dim; j++) centroids.data[c * dim + j] = sums[c * dim + j]! / counts[c]!;
    }
    const next = await options.assign(centroids);
    const changed = next.some((c, i) => c !== assignment[i]);
    assignment = next;
    if (!changed) break;
  }
  return assignment;
}

/**
 * Normalised mutual information with the arithmetic-mean normaliser, 2 I(U; V) / (H(U) + H(V)),
 * as scikit-learn's `normalized_mutual_info_score`; 1 when both labelings have a single class.
 */
export function normalizedMutualInformation(a: Int32Array, b: Int32Array): number {
  const n = a.length;
  const joint = new Map<string, number>();
  const countA = new Map<number, number>();
  const countB = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    countA.set(x, (countA.get(x) ?? 0) + 1);
    countB.set(y, (countB.get(y) ?? 0) + 1);
    const key = `${x},${y}`;
    joint.set(key, (joint.get(key) ?? 0) + 1);
  }
  const entropy = (counts: Map<number, number>) => {
    let h = 0;
    for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
    return h;
  };
  const hA = entropy(countA);
  const hB = entropy(countB);
  if (hA + hB === 0) return 1;
  let mutual = 0;
  for (const [key, c] of joint) {
    const [x, y] = key.split(',').map(Number) as [number, number];
    mutual += (c / n) * Math.log((c * n) / (countA.get(x)! * countB.get(y)!));
  }
  return Math.max(0, (2 * mutual) / (hA + hB));
}
