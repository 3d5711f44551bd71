/** The one thing mixup asks of a random generator: uniform draws in [0, 1). */
export interface RandomSource {
  next(): number;
}

/**
 * A seeded generator (splitmix32 over a string or number seed): same seed, same sequence, on every
 * platform. Pass `rng` to `simix` to share a generator (e.g. `createRng` of `@recallkit/core`).
 */
export function seededRandom(seed: number | string): RandomSource {
  let state = hashSeed(seed);
  return {
    next() {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      z ^= z >>> 16;
      return (z >>> 0) / 4294967296;
    },
  };
}

function hashSeed(seed: number | string): number {
  const text = typeof seed === 'number' ? `n:${seed}` : `s:${seed}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** Uniform integer in [0, n). */
export function randomInt(rng: RandomSource, n: number): number {
  return Math.min(n - 1, Math.floor(rng.next() * n));
}
