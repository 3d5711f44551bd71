import { type Rng, useBackend } from '@recallkit/core';
import { evaluate, faissAvailable } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';
import { kMeans, normalizedMutualInformation } from '../src/clustering';
import type { Matrix } from '../src/input';
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

/** Nearest centroid by squared distance, in plain loops. */
const nearest = (data: Matrix) => async (centroids: Matrix) =>
  Int32Array.from({ length: data.rows }, (_, i) => {
    let best = 0;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (let c = 0; c < centroids.rows; c++) {
      let d = 0;
      for (let j = 0; j < data.dim; j++)
        d += (data.data[i * data.dim + j]! - centroids.data[c * data.dim + j]!) ** 2;
      if (d < bestDistance) [best, bestDistance] = [c, d];
    }
    return best;
  });
/** An rng whose int() always returns 0: k-means then starts from rows 0 .. k-1. */
const firstRows = { int: () => 0 } as unknown as Rng;

describe('k-means', () => {
  it('runs Lloyd iterations to the hand-worked fixed point', async () => {
    // points 0, 1, 10, 11 from centroids 0 and 1: {0} {1, 10, 11} -> centroids 0, 7.33 ->
    // {0, 1} {10, 11} -> centroids 0.5, 10.5 -> unchanged
    const data: Matrix = { data: Float32Array.of(0, 1, 10, 11), rows: 4, dim: 1 };
    const clusters = await kMeans(data, 2, { iterations: 10, rng: firstRows, assign: nearest(data) });
    expect(Array.from(clusters)).toEqual([0, 0, 1, 1]);
    const once = await kMeans(data, 2, { iterations: 0, rng: firstRows, assign: nearest(data) });
    expect(Array.from(once)).toEqual([0, 1, 1, 1]);
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
  it('is 1 from a start with one row per class', async () => {
    const data: Matrix = { data: Float32Array.from(x.flat()), rows: 40, dim: 3 };
    const clusters = await kMeans(data, 4, { iterations: 20, rng: firstRows, assign: nearest(data) });
    expect(normalizedMutualInformation(clusters, Int32Array.from(labels))).toBeCloseTo(1, 12);
  });

  const indexes = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);

  it('gives the same NMI on every index for the same seed', async () => {
    const values = [];
    for (const index of indexes) {
      const r = await evaluate(x, labels, { index, metrics: ['nmi'], seed: 3, similarity: 'negSqL2' });
      expect(r.nmi).toBeGreaterThan(0.4); // a random start may merge classes, never scatter all
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
