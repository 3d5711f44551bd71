import { describe, expect, it } from 'vitest';
import { centerCropBox, pyRound, randomResizedCropBox, resizeShorterSide } from '../src/image/geometry';
import { keyedRng, type Rng } from '../src/rng';

/** A generator whose uniforms are the middle of their range and whose ints are the largest value. */
const middle = {
  uniform: (lo = 0, hi = 1) => (lo + hi) / 2,
  int: (n: number) => n - 1,
  next: () => 0.5,
} as unknown as Rng;

describe('crop geometry (torchvision semantics)', () => {
  it('rounds halves to even like Python', () => {
    expect([0.5, 1.5, 2.5, -0.5, 58.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, -0, 58, 2, 3]);
  });

  it('RandomResizedCrop: hand-worked box when the first try fits', () => {
    // area 40000 x scale 0.54 = 21600, ratio exp(0) = 1: side round(146.97) = 147; offsets int(200 - 147 + 1) -> 53.
    expect(randomResizedCropBox(200, 200, middle)).toEqual({ left: 53, top: 53, width: 147, height: 147 });
  });

  it('RandomResizedCrop: falls back to the central crop with the ratio clamped', () => {
    // 200 x 100: every try asks for a 104 x 104 box, taller than 100; ratio 2 > 4/3 -> 133 x 100, centred.
    expect(randomResizedCropBox(200, 100, middle)).toEqual({ left: 33, top: 0, width: 133, height: 100 });
    // 1000 x 10 can never fit a box of at least 8% area within the ratio range.
    expect(randomResizedCropBox(1000, 10, keyedRng(1))).toEqual({ left: 493, top: 0, width: 13, height: 10 });
  });

  it('RandomResizedCrop: random boxes stay inside the image with area and ratio in range', () => {
    for (let i = 0; i < 500; i++) {
      const [w, h] = [50 + (i % 7) * 60, 40 + (i % 5) * 70];
      const b = randomResizedCropBox(w, h, keyedRng(3, i));
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left + b.width).toBeLessThanOrEqual(w);
      expect(b.top + b.height).toBeLessThanOrEqual(h);
      // rounding the sides moves area and ratio a little past the sampled range
      const tol = 2 / Math.min(b.width, b.height);
      expect((b.width * b.height) / (w * h)).toBeGreaterThan(0.08 * (1 - 2 * tol));
      expect(b.width / b.height).toBeGreaterThan((3 / 4) * (1 - tol));
      expect(b.width / b.height).toBeLessThan((4 / 3) * (1 + tol));
    }
  });

  it('Resize(256) + CenterCrop(224) boxes', () => {
    expect(resizeShorterSide(500, 375, 256)).toEqual({ width: 341, height: 256 }); // trunc(341.33)
    expect(resizeShorterSide(300, 451, 256)).toEqual({ width: 256, height: 384 }); // trunc(384.85)
    expect(centerCropBox(256, 341, 224)).toEqual({ left: 16, top: 58, width: 224, height: 224 }); // round(58.5) = 58
    expect(centerCropBox(341, 256, 224)).toEqual({ left: 58, top: 16, width: 224, height: 224 });
  });
});
