import { createRequire } from 'node:module';
import { evaluate, faissAvailable } from '@recallkit/evaluator';
import { describe, expect, it } from 'vitest';
import { flatIndexBytes } from '../src/faiss';
import { randomRows } from './brute-force';

describe('bad input gets a clear error', () => {
  const x = [
    [1, 0],
    [0, 1],
    [1, 1],
  ];
  it.each([
    [
      [
        [1, 0],
        [Number.NaN, 1],
        [1, 1],
      ],
      [0, 0, 1],
      {},
      /row 1, column 0 is NaN/,
    ],
    [x, [0, 0], {}, /labels has 2 entries for 3 embedding rows/],
    [x, [0, 0.5, 1], {}, /labels\[1\] = 0.5 is not a 32-bit integer/],
    [x, [0, 0, 1], { k: [0] }, /options.k must be a non-empty list of positive integers/],
    [x, [0, 0, 1], { metrics: ['ndcg'] }, /unknown metric 'ndcg'/],
    [x, [0, 0, 1], { similarity: 'manhattan' }, /unknown similarity 'manhattan'/],
    [x, [0, 0, 1], { gallery: x }, /gallery and options.galleryLabels go together/],
    [
      [
        [1, 0],
        [0, 0],
        [1, 1],
      ],
      [0, 0, 1],
      {},
      /row 1 is all zeros/,
    ],
    [
      [
        [1, 0],
        [0, 1, 2],
      ],
      [0, 0],
      {},
      /row 1 has 3 values, expected 2/,
    ],
    [Float32Array.of(1, 2, 3, 4), [0, 0], {}, /pass its row length as options.dim/],
    [Float32Array.of(1, 2, 3), [0, 0], { dim: 2 }, /3 values, not a multiple of dim = 2/],
    [x, [0, 0, 1], { depth: 1, k: [1, 2] }, /options.depth = 1 is below the largest k/],
  ])('%#', async (embeddings, labels, options, message) => {
    await expect(
      evaluate(embeddings as never, labels, { index: 'exact', ...options } as never),
    ).rejects.toThrow(message);
  });
});

describe.runIf(faissAvailable())('the flat index built from bytes', () => {
  it("equals one filled through faiss-node's add(number[])", () => {
    const faiss = createRequire(import.meta.url)('faiss-node') as typeof import('faiss-node');
    const rows = randomRows(500, 12, 9);
    const data = Float32Array.from(rows.flat());
    for (const [metric, cls] of [
      ['ip', faiss.IndexFlatIP],
      ['l2', faiss.IndexFlatL2],
    ] as const) {
      const built = cls.fromBuffer(flatIndexBytes({ data, rows: 500, dim: 12 }, metric));
      const added = new cls(12);
      added.add(Array.from(data));
      expect(built.ntotal()).toBe(500);
      expect(built.getDimension()).toBe(12);
      const query = Array.from(data.subarray(0, 12 * 30));
      expect(built.search(query, 25)).toEqual(added.search(query, 25));
    }
  });
});
