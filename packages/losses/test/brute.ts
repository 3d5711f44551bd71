/**
 * Independent float64 brute-force versions of the losses, written straight from the definitions in
 * the reference README (one loop per sum, no windows, no factorised exponentials), used as the
 * ground truth of value tests and, through central differences, of gradient tests.
 */

export type Matrix = number[][];

const sig = (x: number) => 1 / (1 + Math.exp(Math.min(50, Math.max(-50, -x))));

export function gramOf(e: Matrix): Matrix {
  return e.map((a) => e.map((b) => a.reduce((s, v, i) => s + v * b[i]!, 0)));
}

export interface BruteRsk {
  ks: number[];
  tauRank: number;
  tauKs: number[];
  includeQueryInRank: boolean;
}

/** RS@k of a score block; rel[q][j] = 1 for positives; self[q] = own column or -1. */
export function bruteRsk(s: Matrix, rel: Matrix, self: number[], o: BruteRsk): number {
  let total = 0;
  let counted = 0;
  s.forEach((row, q) => {
    const pos = row.map((_, j) => j).filter((j) => rel[q]![j] === 1);
    if (pos.length === 0) return;
    const rank = pos.map((p) => {
      let r = 1;
      row.forEach((v, j) => {
        if (j === p || (!o.includeQueryInRank && j === self[q])) return;
        r += sig((v - row[p]!) / o.tauRank);
      });
      return r;
    });
    let recall = 0;
    o.ks.forEach((k0, i) => {
      const k = Math.min(k0, row.length);
      const soft = rank.reduce((a, r) => a + sig((k - r) / o.tauKs[i]!), 0);
      recall += Math.min(soft, k) / Math.min(k, pos.length);
    });
    total += 1 - recall / o.ks.length;
    counted++;
  });
  return total / counted;
}

/** Smooth-AP of a score block, the query as a positive (and ranked) when queryAsPositive. */
export function bruteSmoothAP(s: Matrix, rel: Matrix, self: number[], tau: number, queryAsPositive: boolean) {
  let total = 0;
  let counted = 0;
  s.forEach((row, q) => {
    const pos = row.map((_, j) => j).filter((j) => rel[q]![j] === 1);
    if (pos.length === 0) return;
    const cls = queryAsPositive && self[q]! >= 0 ? [...pos, self[q]!] : pos;
    const db = row.map((_, j) => j).filter((j) => queryAsPositive || j !== self[q]);
    let ap = 0;
    for (const a of cls) {
      let rAll = 1;
      let rPos = 1;
      for (const b of db) {
        if (b === a) continue;
        const v = sig((row[b]! - row[a]!) / tau);
        rAll += v;
        if (cls.includes(b)) rPos += v;
      }
      ap += rPos / rAll;
    }
    total += 1 - ap / cls.length;
    counted++;
  });
  return total / counted;
}

export function relevanceOf(labels: number[]): { rel: Matrix; self: number[] } {
  return {
    rel: labels.map((a, i) => labels.map((b, j) => (a === b && i !== j ? 1 : 0))),
    self: labels.map((_, i) => i),
  };
}

/** Central-difference gradient of f at x (a matrix), step h. */
export function numericGrad(f: (x: Matrix) => number, x: Matrix, h = 1e-6): Matrix {
  return x.map((row, i) =>
    row.map((_, j) => {
      const plus = x.map((r) => r.slice());
      const minus = x.map((r) => r.slice());
      plus[i]![j]! += h;
      minus[i]![j]! -= h;
      return (f(plus) - f(minus)) / (2 * h);
    }),
  );
}

/** Seeded uniform numbers in [0, 1) (mulberry32), for reproducible random inputs. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n unit vectors of dimension d (Gaussian directions). */
export function unitRows(rand: () => number, n: number, d: number): Matrix {
  return Array.from({ length: n }, () => {
    const v = Array.from(
      { length: d },
      () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()),
    );
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
