import { describe, expect, it } from 'vitest';
import { createRng, RecallkitError, restoreRng } from '../src/index';

const draw = (seed: number | string, n: number) => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.next());
};

describe('createRng', () => {
  it('gives the same stream for the same seed and different streams for different seeds', () => {
    expect(draw(42, 20)).toEqual(draw(42, 20));
    expect(draw('42', 5)).not.toEqual(draw(42, 5));
    expect(draw(1, 5)).not.toEqual(draw(2, 5));
  });

  it('matches a stream computed independently from the xoshiro128** reference', () => {
    // xoshiro128** written out with BigInt arithmetic, started from the same state words.
    const rng = createRng('reference');
    let [a, b, c, d] = rng.state().words.map(BigInt) as [bigint, bigint, bigint, bigint];
    const M = 0xffffffffn;
    const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
    const nextWord = () => {
      const result = (rotl((b * 5n) & M, 7n) * 9n) & M;
      const t = (b << 9n) & M;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11n);
      return result;
    };
    for (let i = 0; i < 10; i++) {
      const high = Number(nextWord() >> 5n);
      const low = Number(nextWord() >> 6n);
      expect(rng.next()).toBe((high * 2 ** 26 + low) / 2 ** 53);
    }
  });

  it('draws uniform values with the right mean and range', () => {
    const values = draw(7, 20000);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // sd of the mean ~ 0.002
  });

  it('int(n) covers 0..n-1 evenly; normal() has mean 0 and sd 1', () => {
    const rng = createRng(3);
    const counts = new Array(5).fill(0) as number[];
    for (let i = 0; i < 10000; i++) {
      const k = rng.int(5);
      counts[k] = (counts[k] as number) + 1;
    }
    for (const count of counts) expect(Math.abs(count - 2000)).toBeLessThan(200);
    const normals = Array.from({ length: 20000 }, () => rng.normal());
    const mean = normals.reduce((a, b) => a + b, 0) / normals.length;
    const variance = normals.reduce((a, b) => a + (b - mean) ** 2, 0) / normals.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    expect(rng.normal(10, 0)).toBe(10);
    expect(() => rng.int(0)).toThrow(RecallkitError);
    expect(() => rng.int(2.5)).toThrow(/integer/);
  });

  it('shuffles in place into a permutation, reproducibly', () => {
    const a = createRng(9).shuffle(Array.from({ length: 50 }, (_, i) => i));
    const b = createRng(9).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(b)).toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('splits into children named by key, independent of draws made before', () => {
    const parent = createRng(5);
    const before = parent.split('data').next();
    parent.next();
    parent.next();
    expect(parent.split('data').next()).toBe(before);
    expect(parent.split('model').next()).not.toBe(before);
    expect(parent.split(1).next()).not.toBe(parent.split('1').next());
    expect(createRng(6).split('data').next()).not.toBe(before);
  });

  it('restores a saved state and continues the same stream', () => {
    const rng = createRng('ckpt');
    rng.next();
    const state = JSON.parse(JSON.stringify(rng.state()));
    const expected = [rng.next(), rng.int(100), rng.normal(), rng.split('x').next()];
    const restored = restoreRng(state);
    expect([restored.next(), restored.int(100), restored.normal(), restored.split('x').next()]).toEqual(
      expected,
    );
    expect(() => restoreRng({ algorithm: 'other' } as never)).toThrow(/rng.state/);
  });

  it('rejects seeds that are not finite numbers or strings', () => {
    expect(() => createRng(Number.NaN)).toThrow(RecallkitError);
    expect(() => createRng({} as never)).toThrow(/seed/);
  });
});
