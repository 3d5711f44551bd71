import { createRng, type Rng } from '@recallkit/core';

export type { Rng };

/**
 * The generator for one key path under a seed, e.g. (seed, 'crop', epoch, sampleIndex). Split
 * generators depend only on the seed and the path, not on what was drawn elsewhere, so any
 * sample of any epoch can be recomputed on its own.
 */
export function keyedRng(seed: number, ...path: (number | string)[]): Rng {
  let rng = createRng(seed);
  for (const key of path) rng = rng.split(key);
  return rng;
}
