/**
 * Plain-TypeScript reference for the rank metrics, written straight from their definitions: full
 * float64 similarity lists sorted best first (ties: lower gallery index first), the query itself
 * left out of the candidates in the all-vs-all protocol.
 */
export type Sim = 'cosine' | 'dot' | 'negSqL2';

function score(a: number[], b: number[], sim: Sim): number {
  if (sim === 'negSqL2') return -a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
  const dot = a.reduce((s, v, i) => s + v * b[i]!, 0);
  if (sim === 'dot') return dot;
  const norm = (x: number[]) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
  return dot / (norm(a) * norm(b));
}

export function bruteForce(
  queries: number[][],
  queryLabels: number[],
  gallery: number[][] | null,
  galleryLabels: number[] | null,
  ks: number[],
  sim: Sim = 'cosine',
) {
  const g = gallery ?? queries;
  const gl = galleryLabels ?? queryLabels;
  const recall: Record<number, number> = {};
  for (const k of ks) recall[k] = 0;
  let p1 = 0;
  let rPrecision = 0;
  let mapAtR = 0;
  let n = 0;
  let lone = 0;
  queries.forEach((q, i) => {
    const candidates = g
      .map((x, j) => ({ j, s: score(q, x, sim) }))
      .filter(({ j }) => gallery !== null || j !== i)
      .sort((a, b) => b.s - a.s || a.j - b.j);
    const match = candidates.map(({ j }) => gl[j] === queryLabels[i]);
    const r = match.filter(Boolean).length;
    if (r === 0) {
      lone++;
      return;
    }
    n++;
    for (const k of ks) if (match.slice(0, k).some(Boolean)) recall[k]!++;
    if (match[0]) p1++;
    let hits = 0;
    let ap = 0;
    for (let t = 0; t < r; t++) {
      if (match[t]) {
        hits++;
        ap += hits / (t + 1);
      }
    }
    rPrecision += hits / r;
    mapAtR += ap / r;
  });
  for (const k of ks) recall[k] = recall[k]! / n;
  return {
    recall,
    precisionAt1: p1 / n,
    rPrecision: rPrecision / n,
    mapAtR: mapAtR / n,
    queries: n,
    loneQueries: lone,
  };
}

/** Seeded uniform numbers in [-1, 1). */
export function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2147483648 - 1;
  };
}

export function randomRows(rows: number, dim: number, seed: number): number[][] {
  const next = uniform(seed);
  return Array.from({ length: rows }, () => Array.from({ length: dim }, next));
}
