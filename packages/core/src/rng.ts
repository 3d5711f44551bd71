/**
 * A seeded, splittable random generator in plain JavaScript (xoshiro128**, seeded by a string
 * hash), so a seed gives the same stream in every run, on every backend and platform.
 */
import { RecallkitError } from './errors';

/** Everything needed to continue a generator exactly where it stopped (JSON-serialisable). */
export interface RngState {
  readonly algorithm: 'xoshiro128**';
  /** Identity of the generator (from its seed and split keys); children are derived from it. */
  readonly origin: readonly [number, number, number, number];
  /** Position in the stream. */
  readonly words: readonly [number, number, number, number];
}

export interface Rng {
  /** Uniform in [0, 1) with 53 random bits. */
  next(): number;
  /** Uniform in [low, high). */
  uniform(low?: number, high?: number): number;
  /** Uniform integer in [0, n), unbiased; n a positive integer up to 2^32. */
  int(n: number): number;
  /** Normal with the given mean and standard deviation (Box-Muller). */
  normal(mean?: number, std?: number): number;
  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T;
  /**
   * An independent child generator named by `key`. It depends only on this generator's seed
   * path and the key, not on how many numbers were drawn, so `split('data')` is stable.
   */
  split(key: string | number): Rng;
  /** A snapshot of the generator for checkpoints; see `restoreRng`. */
  state(): RngState;
}

type Words = [number, number, number, number];

/** cyrb128: a fast 128-bit string hash, used only to turn seeds and keys into state words. */
function hash128(text: string): Words {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  const words: Words = [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
  // xoshiro must not start from the all-zero state.
  if (words.every((w) => w === 0)) words[0] = 1;
  return words;
}

function isWords(value: unknown): value is Words {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    value.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)
  );
}

class Xoshiro128 implements Rng {
  private readonly s: Words;

  constructor(
    private readonly origin: Words,
    words: Words,
  ) {
    this.s = [...words] as Words;
  }

  private nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    for (let i = 0; i < 4; i++) s[i] = (s[i] as number) >>> 0;
    return result;
  }

  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  uniform(low = 0, high = 1): number {
    if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) {
      throw new RecallkitError('INVALID_OPTION', `rng.uniform(${low}, ${high}): need finite low <= high`);
    }
    return low + (high - low) * this.next();
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RecallkitError('INVALID_OPTION', `rng.int(${n}): n must be an integer in [1, 2^32]`);
    }
    // Rejection sampling removes the modulo bias.
    const limit = Math.floor(0x100000000 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  normal(mean = 0, std = 1): number {
    if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `rng.normal(${mean}, ${std}): need finite mean and std >= 0`,
      );
    }
    const u1 = 1 - this.next(); // in (0, 1]: log is finite
    const u2 = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  split(key: string | number): Rng {
    if (typeof key === 'number' && !Number.isFinite(key)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `rng.split(${key}): key must be a finite number or a string`,
      );
    }
    const origin = hash128(`${this.origin.join(',')}/${typeof key}:${String(key)}`);
    return new Xoshiro128(origin, origin);
  }

  state(): RngState {
    return {
      algorithm: 'xoshiro128**',
      origin: [...this.origin] as Words,
      words: [...this.s] as Words,
    };
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A generator seeded by a number or a string; equal seeds give equal streams. */
export function createRng(seed: number | string): Rng {
  if (typeof seed === 'number' ? !Number.isFinite(seed) : typeof seed !== 'string') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `createRng: seed must be a finite number or a string, got ${String(seed)}`,
    );
  }
  const origin = hash128(`${typeof seed}:${String(seed)}`);
  return new Xoshiro128(origin, origin);
}

/** Recreates a generator from `rng.state()`: it continues the same stream. */
export function restoreRng(state: RngState): Rng {
  if (state?.algorithm !== 'xoshiro128**' || !isWords(state.origin) || !isWords(state.words)) {
    throw new RecallkitError('INVALID_RNG_STATE', 'restoreRng: not a state returned by rng.state()');
  }
  if (state.words.every((w) => w === 0)) {
    throw new RecallkitError('INVALID_RNG_STATE', 'restoreRng: the all-zero state is not valid');
  }
  return new Xoshiro128([...state.origin] as Words, [...state.words] as Words);
}
