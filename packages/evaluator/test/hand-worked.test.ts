import { useBackend } from '@recallkit/core';
import { evaluate, faissAvailable } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  await useBackend('wasm');
});

const indexes = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);

describe.each(indexes)('hand-worked cases (%s)', (index) => {
  it('removes the query itself by identity when an identical item of another label ties with it', async () => {
    // rows 0 and 1 are the same vector with different labels; dropping "the first hit" instead of the
    // query itself would keep the query and count it as its own match.
    const x = [
      [1, 0],
      [1, 0],
      [0.8, 0.6],
      [0.6, 0.8],
    ];
    const labels = [0, 1, 0, 1];
    const r = await evaluate(x, labels, { index, similarity: 'dot', k: [1, 3] });
    // query 0: row 1 (1.0, label 1), row 2 (0.8, label 0), row 3 -> first hit at rank 2
    // query 1: row 0 (1.0, label 0), row 2 (0.8, label 0), row 3 (0.6, label 1) -> rank 3
    // query 2: row 3 (0.96, label 1), then rows 0 and 1 tied at 0.8 -> rank 2 or 3
    // query 3: row 2 (0.96, label 0), then rows 0 and 1 tied at 0.6 -> rank 2 or 3
    // Whichever of rows 0 and 1 a tie puts first, dropping the first hit instead of the query
    // itself would leave query 0 or query 1 matching itself at rank 1.
    expect(r.queries).toBe(4);
    expect(r.recall).toEqual({ 1: 0, 3: 1 });
    expect(r.precisionAt1).toBe(0);
    expect(r.rPrecision).toBe(0);
    expect(r.mapAtR).toBe(0); // R = 1 for every query and no first neighbour matches
  });

  it('counts an exact duplicate of the same label as a hit at rank 1', async () => {
    const x = [
      [0, 1],
      [0, 1],
      [1, 0],
      [0.7, -0.7],
    ];
    const labels = [5, 5, 7, 7];
    const r = await evaluate(x, labels, { index, k: [1] });
    // queries 0 and 1 find each other first (cosine 1); query 2's best is row 3 (cos 0.707): hit;
    // query 3's best is row 2: hit.
    expect(r.recall[1]).toBe(1);
    expect(r.mapAtR).toBe(1);
    expect(r.rPrecision).toBe(1);
  });

  it('computes MAP@R and R-Precision from ranked matches (R = 3)', async () => {
    // query row 0 (label 0); gallery with cosine to the query decreasing 1.0, 0.9, 0.8, 0.7, 0.6:
    // labels 0, 1, 0, 1, 0  (three of label 0, so R = 3)
    const angle = (c: number) => [c, Math.sqrt(1 - c * c)];
    const gallery = [angle(1), angle(0.9), angle(0.8), angle(0.7), angle(0.6)];
    const galleryLabels = [0, 1, 0, 1, 0];
    const r = await evaluate([angle(1)], [0], { index, gallery, galleryLabels, k: [1, 2, 3] });
    // matches in the first R = 3: rank 1 yes, 2 no, 3 yes -> R-Precision 2/3,
    // MAP@R = (1/1 + 2/3) / 3 = 5/9
    expect(r.rPrecision).toBeCloseTo(2 / 3, 12);
    expect(r.mapAtR).toBeCloseTo(5 / 9, 12);
    expect(r.recall).toEqual({ 1: 1, 2: 1, 3: 1 });
    expect(r.precisionAt1).toBe(1);
  });

  it('leaves lone queries out of the means and counts them', async () => {
    const x = [
      [1, 0],
      [0.9, 0.1],
      [0, 1],
      [-1, 0],
    ];
    const labels = [0, 0, 1, 2]; // labels 1 and 2 have a single item
    const r = await evaluate(x, labels, { index, k: [1] });
    expect(r.queries).toBe(2);
    expect(r.loneQueries).toBe(2);
    expect(r.recall[1]).toBe(1);
  });

  it('flags a searched depth below the largest R', async () => {
    const x = Array.from({ length: 12 }, (_, i) => [Math.cos(i), Math.sin(i)]);
    const labels = x.map((_, i) => (i < 8 ? 0 : 1)); // R = 7 for label 0
    const full = await evaluate(x, labels, { index, k: [1, 2] });
    expect(full.debug.depth).toBe(7);
    expect(full.debug.warnings).toEqual([]);
    const capped = await evaluate(x, labels, { index, k: [1, 2], depth: 3 });
    expect(capped.debug.depth).toBe(3);
    expect(capped.debug.warnings.join(' ')).toMatch(/below the largest R \(7\)/);
    expect(capped.recall).toEqual(full.recall);
    expect(capped.mapAtR).toBeLessThanOrEqual(full.mapAtR);
  });
});
