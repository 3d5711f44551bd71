/**
 * Inputs of the large reference cases (packages/losses/test/fixtures/large_ref.json, made by
 * large_gen.py there with the authors' code): the embeddings are not stored but drawn here exactly as large_gen.py draws
 * them (a 32-bit xorshift, then only IEEE double +, *, / and sqrt in the same order, rounded to
 * float32), so both sides see the same bits; each case's checksum confirms it.
 */

export interface LargeCase {
  name: string;
  seed: number;
  classes: number;
  per_class: number;
  dim: number;
  near: number[];
  pair: number;
  apart: number[];
  noise: number;
  checksum: { sum: number; first: number; last: number };
}

function xorshift32(seed: number) {
  let x = seed >>> 0 || 1;
  const uniform = () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x / 4294967296;
  };
  return (dim: number) =>
    Array.from({ length: dim }, () => uniform() + uniform() + (uniform() + uniform()) - 2);
}

/** The case's embeddings, rows grouped by class, and their labels (row i has label floor(i / per_class)). */
export function largeCaseInput(c: LargeCase): { embeddings: Float32Array; labels: number[] } {
  const normal = xorshift32(c.seed);
  const { classes, per_class: per, dim } = c;
  if (per !== 4) throw new Error('the simplex corners are written for 4 per class');
  const centre = Array.from({ length: classes }, () => normal(dim));
  const shared = Array.from({ length: Math.floor((classes + 1) / 2) }, () => normal(dim));
  const corners = Array.from({ length: classes }, () => Array.from({ length: per }, () => normal(dim)));
  const out = new Float32Array(classes * per * dim);
  const labels: number[] = [];
  let row = 0;
  for (let k = 0; k < classes; k++) {
    const near = c.near[k % c.near.length]!;
    const apart = c.apart[k % c.apart.length]!;
    const [c0, c1, c2, c3] = corners[k] as [number[], number[], number[], number[]];
    const mean = c0.map((v, j) => (v + c1[j]! + c2[j]! + c3[j]!) / 4);
    for (let i = 0; i < per; i++) {
      const n = normal(dim);
      const raw = n.map(
        (nj, j) =>
          near * centre[k]![j]! +
          c.pair * shared[k >> 1]![j]! +
          apart * (corners[k]![i]![j]! - mean[j]!) +
          c.noise * nj,
      );
      let ss = 0;
      for (const v of raw) ss += v * v;
      const norm = Math.sqrt(ss);
      for (let j = 0; j < dim; j++) out[row * dim + j] = raw[j]! / norm;
      labels.push(k);
      row++;
    }
  }
  return { embeddings: out, labels };
}

/** The checksum large_gen.py records: the float32 values summed in order in double, first and last. */
export function checksumOf(values: Float32Array): { sum: number; first: number; last: number } {
  let sum = 0;
  for (const v of values) sum += v;
  return { sum, first: values[0]!, last: values[values.length - 1]! };
}

/** A float32 little-endian base64 array, as large_gen.py writes gradients. */
export function float32FromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}
