import { expect } from 'vitest';

/** max |got - expected| / max |expected|: the error relative to the result's scale (which must not be 0). */
export function relativeError(got: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(got.length).toBe(expected.length);
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((got[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  expect(scale).toBeGreaterThan(0);
  return maxDiff / scale;
}
