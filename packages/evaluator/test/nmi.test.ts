import { useBackend } from '@recallkit/core';
import { evaluate, faissAvailable } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizedMutualInformation } from '../src/clustering';
import { uniform } from './brute-force';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('normalised mutual information', () => {
  it('is 1 for the same partition under other names and 0 for independent ones', () => {
    expect(
      normalizedMutualInformation(Int32Array.of(0, 0, 1, 1, 2), Int32Array.of(7, 7, 3, 3, 9)),
    ).toBeCloseTo(1, 12);
    expect(normalizedMutualInformation(Int32Array.of(0, 0, 1, 1), Int32Array.of(0, 1, 0, 1))).toBeCloseTo(
      0,
      12,
    );
  });

  it('matches a hand computation: 2 I / (H(a) + H(b))', () => {
    // a = [0, 0, 1, 1], b = [0, 0, 0, 1]
    const hA = Math.log(2);
    const hB = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    const mutual =
      0.5 * Math.log(0.5 / (0.5 * 0.75)) +
      0.25 * Math.log(0.25 / (0.5 * 0.75)) +
      0.25 * Math.log(0.25 / (0.5 * 0.25));
    expect(normalizedMutualInformation(Int32Array.of(0, 0, 1, 1), Int32Array.of(0, 0, 0, 1))).toBeCloseTo(
      (2 * mutual) / (hA + hB),
      12,
    );
  });
});

describe('NMI from seeded k-means', () => {
  // four tight, far-apart clusters of 10 points in 3-d
  const next = uniform(11);
  const centers = [
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
    [-10, -10, -10],
  ];
  const x = Array.from({ length: 40 }, (_, i) => centers[i % 4]!.map((c) => c + 0.1 * next()));
  const labels = x.map((_, i) => i % 4);
  const indexes = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);

  it('finds most of four well-separated classes from a random start, the same on every index', async () => {
    // k-means starts from k random rows (as faiss's Kmeans does): a start with two centroids in one
    // class merges two classes, which caps NMI near 0.8; a perfect start gives 1
    const values = [];
    for (const index of indexes) {
      const r = await evaluate(x, labels, { index, metrics: ['nmi'], seed: 3, similarity: 'negSqL2' });
      expect(r.nmi).toBeGreaterThan(0.75);
      values.push(r.nmi);
    }
    expect(new Set(values).size).toBe(1);
  });

  it('is reproducible from the seed and absent unless asked for', async () => {
    const noisy = x.map((row) => row.map((v) => v + 20 * next()));
    const a = await evaluate(noisy, labels, { index: 'exact', metrics: ['nmi'], seed: 'abc' });
    const b = await evaluate(noisy, labels, { index: 'exact', metrics: ['nmi'], seed: 'abc' });
    expect(a.nmi).toBe(b.nmi);
    expect(a.nmi).toBeGreaterThanOrEqual(0);
    expect(a.nmi).toBeLessThanOrEqual(1);
    const none = await evaluate(noisy, labels, { index: 'exact' });
    expect('nmi' in none).toBe(false);
  });
});
