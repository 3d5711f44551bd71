/**
 * Synthetic data shaped like Stanford Online Products' test split: 60,502 L2-normalised 512-d
 * vectors in 11,316 classes of 2 to 12 items (rows grouped by class). 'random' vectors are
 * independent; 'clustered' vectors scatter around one random direction per class, so Recall@1
 * lands in a realistic range instead of near 0.
 */
export interface BenchData {
  vectors: Float32Array;
  labels: BigInt64Array;
  rows: number;
  dim: number;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sopLike(options: {
  rows: number;
  classes: number;
  dim: number;
  kind: 'random' | 'clustered';
  noise?: number;
  seed?: number;
}): BenchData {
  const { rows, classes, dim, kind } = options;
  const next = mulberry32(options.seed ?? 0);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  // class sizes: 2 each, the rest spread at random with at most 12 per class
  const sizes = new Int32Array(classes).fill(2);
  for (let left = rows - 2 * classes; left > 0; ) {
    const c = Math.floor(next() * classes);
    if (sizes[c]! < 12) {
      sizes[c]!++;
      left--;
    }
  }
  const labels = new BigInt64Array(rows);
  const vectors = new Float32Array(rows * dim);
  const center = new Float64Array(dim);
  const noise = (options.noise ?? 2) / Math.sqrt(dim);
  let row = 0;
  for (let c = 0; c < classes; c++) {
    for (let j = 0; j < dim; j++) center[j] = kind === 'clustered' ? normal() / Math.sqrt(dim) : 0;
    for (let s = 0; s < sizes[c]!; s++, row++) {
      labels[row] = BigInt(c);
      let norm = 0;
      const v = new Float64Array(dim);
      for (let j = 0; j < dim; j++) {
        v[j] = center[j]! + (kind === 'clustered' ? noise : 1) * normal();
        norm += v[j]! * v[j]!;
      }
      const scale = 1 / Math.sqrt(norm);
      for (let j = 0; j < dim; j++) vectors[row * dim + j] = v[j]! * scale;
    }
  }
  return { vectors, labels, rows, dim };
}
