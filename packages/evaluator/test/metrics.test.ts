import { assertNoTensorLeaks, tf, useBackend } from '@recallkit/core';
import { type EvaluationResult, evaluate, faissAvailable } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';
import { bruteForce, randomRows, type Sim } from './brute-force';

beforeAll(async () => {
  await useBackend('wasm');
});

const indexes = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);

function expectSame(actual: EvaluationResult, expected: ReturnType<typeof bruteForce>, ks: number[]) {
  for (const k of ks) expect(actual.recall[k]).toBeCloseTo(expected.recall[k]!, 12);
  expect(actual.precisionAt1).toBeCloseTo(expected.precisionAt1, 12);
  expect(actual.rPrecision).toBeCloseTo(expected.rPrecision, 12);
  expect(actual.mapAtR).toBeCloseTo(expected.mapAtR, 12);
  expect(actual.queries).toBe(expected.queries);
  expect(actual.loneQueries).toBe(expected.loneQueries);
}

describe('evaluate against a brute-force computation', () => {
  const ks = [1, 2, 4, 8, 16];
  const x = randomRows(150, 6, 1);
  const labels = x.map((_, i) => (i * 7) % 23); // classes of 6 or 7 items
  labels[149] = 99; // one lone query

  for (const index of indexes) {
    for (const similarity of ['cosine', 'dot', 'negSqL2'] as Sim[]) {
      it(`all-vs-all, ${index}, ${similarity}`, async () => {
        const result = await evaluate(x, labels, { index, similarity });
        expectSame(result, bruteForce(x, labels, null, null, ks, similarity), ks);
        expect(result.debug.index.startsWith(index)).toBe(true);
        expect(result.loneQueries).toBe(1);
      });
    }

    it(`query/gallery, ${index}`, async () => {
      const gallery = randomRows(90, 6, 2);
      const galleryLabels = gallery.map((_, i) => i % 20);
      const queries = x.slice(0, 40);
      const queryLabels = labels.slice(0, 40).map((l) => l % 25); // labels 20-24 have no gallery item
      const result = await evaluate(queries, queryLabels, { index, gallery, galleryLabels, k: [1, 5, 50] });
      expectSame(result, bruteForce(queries, queryLabels, gallery, galleryLabels, [1, 5, 50]), [1, 5, 50]);
      expect(result.loneQueries).toBeGreaterThan(0);
    });

    it(`a deep search (two passes) matches, ${index}`, async () => {
      // depth 300 >= 256 triggers the shallow first pass; random data leaves many queries for the second
      const y = randomRows(420, 5, 3);
      const yl = y.map((_, i) => i % 60);
      const result = await evaluate(y, yl, { index, k: [1, 10, 300] });
      expectSame(result, bruteForce(y, yl, null, null, [1, 10, 300]), [1, 10, 300]);
      expect(result.debug.depth).toBe(300);
      expect(result.debug.deepQueries).toBeGreaterThan(0);
    });
  }

  it('leaves no tensor behind on the exact path, NMI included', async () => {
    await assertNoTensorLeaks(() =>
      evaluate(x, labels, {
        index: 'exact',
        similarity: 'negSqL2',
        metrics: ['recall', 'mapAtR', 'nmi'],
        k: [1, 100],
      }),
    );
  });

  it('streams small query blocks through the exact search with the same result', async () => {
    const whole = await evaluate(x, labels, { index: 'exact' });
    const blocks = await evaluate(x, labels, { index: 'exact', blockRows: 20 });
    expect(blocks.recall).toEqual(whole.recall);
    expect(blocks.mapAtR).toBe(whole.mapAtR);
  });

  it('accepts a tensor, a Float32Array with dim, and rows alike', async () => {
    const flat = Float32Array.from(x.flat());
    const fromRows = await evaluate(x, labels, { index: 'exact' });
    const fromFlat = await evaluate(flat, Int32Array.from(labels), { index: 'exact', dim: 6 });
    const tensor = tf.tensor2d(flat, [150, 6]);
    const fromTensor = await evaluate(tensor, tf.tensor1d(labels, 'int32'), { index: 'exact' });
    tensor.dispose();
    for (const r of [fromFlat, fromTensor]) {
      expect(r.recall).toEqual(fromRows.recall);
      expect(r.mapAtR).toBe(fromRows.mapAtR);
    }
  });
});

describe.runIf(faissAvailable())('faiss and exact search agree', () => {
  it('on a larger gallery, every metric', async () => {
    const x = randomRows(900, 16, 4);
    const labels = x.map((_, i) => i % 150);
    const ks = [1, 4, 16, 64];
    const [a, b] = await Promise.all([
      evaluate(x, labels, { index: 'faiss', k: ks }),
      evaluate(x, labels, { index: 'exact', k: ks }),
    ]);
    expect(a.debug.index).toBe('faiss:IndexFlatIP');
    expect(b.debug.index).toBe('exact:tfjs-wasm');
    expect(a.recall).toEqual(b.recall);
    expect(a.precisionAt1).toBe(b.precisionAt1);
    expect(a.rPrecision).toBeCloseTo(b.rPrecision, 12);
    expect(a.mapAtR).toBeCloseTo(b.mapAtR, 12);
  });

  it('runs a factory index (HNSW32) that finds the exact answer on a small set', async () => {
    const x = randomRows(300, 8, 5);
    const labels = x.map((_, i) => i % 30);
    const result = await evaluate(x, labels, { index: 'HNSW32', k: [1, 4] });
    expect(result.debug.index).toBe('faiss:HNSW32');
    const expected = bruteForce(x, labels, null, null, [1, 4]);
    expect(result.recall[1]).toBeCloseTo(expected.recall[1]!, 2);
  });
});
