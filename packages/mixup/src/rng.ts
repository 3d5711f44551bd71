/**
 * The one thing mixup asks of a random generator: uniform draws in [0, 1). `createRng` of
 * `@recallkit/core` satisfies it.
 */
export interface RandomSource {
  next(): number;
}

/** Uniform integer in [0, n). */
export function randomInt(rng: RandomSource, n: number): number {
  return Math.min(n - 1, Math.floor(rng.next() * n));
}
