/**
 * Seeded randomness keyed by a path of integers, e.g. (seed, epoch, sampleIndex): the stream for
 * one key never depends on what was drawn for another, so any sample of any epoch can be
 * recomputed on its own.
 *
 * Private stand-in until `createRng` of @recallkit/core lands; only `keyedRng` is used by the rest
 * of the package, so switching is a change to this file alone.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** In-place Fisher-Yates shuffle; returns the array. */
  shuffle<T extends { [i: number]: unknown; length: number }>(array: T): T;
}

/** 32-bit mix of a value into a hash state (murmur3's finaliser applied to the xor). */
function mix(h: number, value: number): number {
  // Split the number into two 32-bit halves so seeds above 2^32 and negative keys stay distinct.
  const lo = value >>> 0;
  const hi = Math.floor(value / 4294967296) >>> 0;
  for (const part of [lo, hi]) {
    h = Math.imul(h ^ part, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    h = (h + 0x9e3779b9) | 0;
  }
  return h;
}

function seedFrom(key: readonly (number | string)[]): number[] {
  const words = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  for (const part of key) {
    const values =
      typeof part === 'number' ? [part] : Array.from(part, (c) => c.codePointAt(0) ?? 0).concat([-1]);
    for (const v of values) {
      for (let w = 0; w < 4; w++) words[w] = mix(words[w]! + w, v);
    }
  }
  return words;
}

/** A generator (sfc32) whose whole stream is fixed by `key`. */
export function keyedRng(...key: (number | string)[]): Rng {
  let [a, b, c, d] = seedFrom(key) as [number, number, number, number];
  const next32 = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next32();
  const rng: Rng = {
    next: () => next32() / 4294967296,
    int: (n) => Math.floor(rng.next() * n),
    uniform: (lo, hi) => lo + (hi - lo) * rng.next(),
    shuffle(array) {
      for (let i = array.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const tmp = array[i];
        array[i] = array[j];
        array[j] = tmp;
      }
      return array;
    },
  };
  return rng;
}
