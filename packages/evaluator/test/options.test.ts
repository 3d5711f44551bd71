import { useBackend } from '@recallkit/core';
import { evaluate } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomRows } from './brute-force';

beforeAll(async () => {
  await useBackend('wasm');
});

const x = randomRows(40, 4, 3);
const labels = x.map((_, i) => i % 8);

describe('options.metrics selects what is computed and reported', () => {
  it('reports only the rank metrics asked for', async () => {
    const r = await evaluate(x, labels, { index: 'exact', metrics: ['mapAtR'], k: [1] });
    expect(Object.keys(r).sort()).toEqual(['debug', 'loneQueries', 'mapAtR', 'queries']);
    const all = await evaluate(x, labels, { index: 'exact', k: [1] });
    expect(r.mapAtR).toBe(all.mapAtR);
  });

  it('runs no search when only NMI is asked for', async () => {
    const r = await evaluate(x, labels, { index: 'exact', metrics: ['nmi'] });
    expect('recall' in r).toBe(false);
    expect('mapAtR' in r).toBe(false);
    expect(r.nmi).toBeGreaterThanOrEqual(0);
    expect(r.debug.depth).toBe(0);
    expect(r.debug.seconds.search).toBe(0);
    expect(r.queries).toBe(40);
  });

  it('rejects an empty list', async () => {
    await expect(evaluate(x, labels, { index: 'exact', metrics: [] })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/options.metrics must be a non-empty list of recall, precisionAt1/),
    });
  });
});

describe('options are checked', () => {
  it('names an unknown option and lists the valid ones', async () => {
    await expect(evaluate(x, labels, { index: 'exact', galery: x } as never)).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(
        /unknown option 'galery' \(valid: k, dim, gallery, galleryLabels, metrics, index, similarity, depth, blockRows, seed, kMeansIterations, onProgress\)/,
      ),
    });
  });

  it('says kMeansIterations must be non-negative, and accepts 0', async () => {
    await expect(
      evaluate(x, labels, { index: 'exact', metrics: ['nmi'], kMeansIterations: -1 }),
    ).rejects.toThrow(/options.kMeansIterations must be a non-negative integer/);
    await expect(
      evaluate(x, labels, { index: 'exact', metrics: ['nmi'], kMeansIterations: 1.5 }),
    ).rejects.toThrow(/non-negative integer/);
    const r = await evaluate(x, labels, { index: 'exact', metrics: ['nmi'], kMeansIterations: 0 });
    expect(r.nmi).toBeGreaterThanOrEqual(0);
  });

  it('refuses a k larger than the gallery', async () => {
    await expect(evaluate(x.slice(0, 3), [0, 0, 1], { index: 'exact', k: [1, 5] })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(
        /options.k = 5 is larger than the 2 gallery items each query is ranked against/,
      ),
    });
    await expect(
      evaluate(x.slice(0, 2), [0, 1], {
        index: 'exact',
        k: [3],
        gallery: x.slice(2, 4),
        galleryLabels: [0, 1],
      }),
    ).rejects.toThrow(/options.k = 3 is larger than the 2 gallery items/);
  });

  it('keeps only the default cut-offs that a small gallery can answer', async () => {
    const r = await evaluate(x.slice(0, 6), [0, 0, 1, 1, 2, 2], { index: 'exact' });
    expect(Object.keys(r.recall).map(Number)).toEqual([1, 2, 4]);
  });

  it('refuses an options.dim that contradicts the rows given', async () => {
    await expect(evaluate(x, labels, { index: 'exact', dim: 3 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/embeddings rows have 4 values, but options.dim = 3/),
    });
    await expect(
      evaluate(Float32Array.from(x.flat()), labels, {
        index: 'exact',
        dim: 4,
        gallery: x.map((r) => [...r, 0]),
        galleryLabels: labels,
      }),
    ).rejects.toThrow(/options.gallery rows have 5 values, but options.dim = 4/);
    await expect(
      evaluate(x, labels, { index: 'exact', gallery: x.map((r) => r.slice(0, 3)), galleryLabels: labels }),
    ).rejects.toThrow(/gallery rows have 3 values, queries 4/);
  });
});
