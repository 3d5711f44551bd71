import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertNoTensorLeaks,
  createRng,
  forEachSimilarityBlock,
  l2Normalize,
  RecallkitError,
  relevanceMask,
  similarity,
  similarityBlocks,
  tf,
  useBackend,
} from '../src/index';

const rng = createRng('similarity');
const randomRows = (rows: number, dim: number) =>
  Array.from({ length: rows }, () => Array.from({ length: dim }, () => rng.normal()));

/** Brute force in float64 from the definitions. */
function bruteForce(q: number[][], d: number[][], metric: 'dot' | 'cosine' | 'negSqL2'): number[][] {
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
  const norm = (a: number[]) => Math.sqrt(dot(a, a));
  return q.map((a) =>
    d.map((b) => {
      if (metric === 'dot') return dot(a, b);
      if (metric === 'cosine') return dot(a, b) / (norm(a) * norm(b));
      return -a.reduce((s, v, i) => s + (v - (b[i] as number)) ** 2, 0);
    }),
  );
}

function expectClose(got: number[][], expected: number[][], tol = 1e-4) {
  expect(got.length).toBe(expected.length);
  for (const [i, row] of got.entries()) {
    for (const [j, v] of row.entries()) {
      const e = expected[i]?.[j] as number;
      expect(Math.abs(v - e)).toBeLessThan(tol * (1 + Math.abs(e)));
    }
  }
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('l2Normalize', () => {
  it('gives unit rows in the same direction, and keeps zero rows at zero', async () => {
    const x = tf.tensor2d([
      [3, 4],
      [0, 0],
      [-1, 0],
    ]);
    const y = l2Normalize(x);
    expectClose((await y.array()) as number[][], [
      [0.6, 0.8],
      [0, 0],
      [-1, 0],
    ]);
    tf.dispose([x, y]);
  });

  it('rejects a tensor that is not 2-D', () => {
    const x = tf.tensor1d([1, 2]);
    expect(() => l2Normalize(x as never)).toThrow(RecallkitError);
    x.dispose();
  });
});

describe('similarity', () => {
  const qRows = randomRows(7, 5);
  const dRows = randomRows(11, 5);

  it.each(['dot', 'cosine', 'negSqL2'] as const)('%s matches brute force', async (metric) => {
    await assertNoTensorLeaks(async () => {
      const q = tf.tensor2d(qRows);
      const d = tf.tensor2d(dRows);
      const s = similarity(q, d, { metric });
      expectClose((await s.array()) as number[][], bruteForce(qRows, dRows, metric));
      tf.dispose([q, d, s]);
    });
  });

  it('negSqL2 of a row with itself is exactly 0, never positive', async () => {
    const q = tf.tensor2d(qRows);
    const s = similarity(q, q, { metric: 'negSqL2' });
    const values = (await s.array()) as number[][];
    values.forEach((row, i) => {
      expect(row[i]).toBeLessThanOrEqual(0);
      expect(row[i]).toBeGreaterThan(-1e-4);
    });
    tf.dispose([q, s]);
  });

  it('rejects unequal dimensions and unknown metrics', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const d = tf.zeros([4, 5]) as tf.Tensor2D;
    expect(() => similarity(q, d)).toThrow(/dimension 3.*5/);
    expect(() => similarity(q, q, { metric: 'l1' as never })).toThrow(/Unknown similarity metric 'l1'/);
    tf.dispose([q, d]);
  });

  it('is differentiable: d sum(cosine) / dq matches finite differences', async () => {
    const q = tf.tensor2d(qRows.slice(0, 2));
    const d = tf.tensor2d(dRows.slice(0, 3));
    const f = (x: tf.Tensor) => tf.sum(similarity(x as tf.Tensor2D, d, { metric: 'cosine' }));
    const g = (await tf.grad(f)(q).array()) as number[][];
    const h = 1e-2;
    for (const [i, j] of [
      [0, 0],
      [1, 3],
    ] as const) {
      const plus = qRows.slice(0, 2).map((r) => [...r]);
      const minus = qRows.slice(0, 2).map((r) => [...r]);
      (plus[i] as number[])[j] = (plus[i]?.[j] as number) + h;
      (minus[i] as number[])[j] = (minus[i]?.[j] as number) - h;
      const sum = (rows: number[][]) =>
        bruteForce(rows, dRows.slice(0, 3), 'cosine')
          .flat()
          .reduce((a, b) => a + b, 0);
      expect(g[i]?.[j]).toBeCloseTo((sum(plus) - sum(minus)) / (2 * h), 2);
    }
    tf.dispose([q, d]);
  });
});

describe('similarityBlocks', () => {
  it('covers every query row once, in blocks no larger than asked, equal to the whole product', async () => {
    const qRows = randomRows(10, 4);
    const dRows = randomRows(6, 4);
    const q = tf.tensor2d(qRows);
    const d = tf.tensor2d(dRows);
    const expected = bruteForce(qRows, dRows, 'negSqL2');
    await assertNoTensorLeaks(() => {
      const seen: number[][] = [];
      const ranges: Array<[number, number]> = [];
      for (const block of similarityBlocks(q, d, { metric: 'negSqL2', blockSize: 4 })) {
        ranges.push([block.start, block.end]);
        expect(block.scores.shape).toEqual([block.end - block.start, 6]);
        seen.push(...(block.scores.arraySync() as number[][]));
        block.scores.dispose();
      }
      expect(ranges).toEqual([
        [0, 4],
        [4, 8],
        [8, 10],
      ]);
      expectClose(seen, expected);
    });
    tf.dispose([q, d]);
  });

  it('sizes blocks from maxBlockElements, and forEachSimilarityBlock disposes each block', async () => {
    const q = tf.tensor2d(randomRows(9, 3));
    const d = tf.tensor2d(randomRows(5, 3));
    await assertNoTensorLeaks(async () => {
      const sizes: number[] = [];
      await forEachSimilarityBlock(
        q,
        d,
        (b) => {
          sizes.push(b.end - b.start);
        },
        { metric: 'cosine', maxBlockElements: 10 },
      );
      expect(sizes).toEqual([2, 2, 2, 2, 1]);
    });
    tf.dispose([q, d]);
  });

  it('releases the prepared database when iteration stops early', async () => {
    const q = tf.tensor2d(randomRows(6, 3));
    const d = tf.tensor2d(randomRows(5, 3));
    await assertNoTensorLeaks(() => {
      for (const block of similarityBlocks(q, d, { metric: 'cosine', blockSize: 2 })) {
        block.scores.dispose();
        break;
      }
    });
    tf.dispose([q, d]);
  });
});

describe('relevanceMask', () => {
  it('marks equal labels with 1, from arrays or tensors', async () => {
    const m = relevanceMask([0, 1, 0], tf.tensor1d([1, 0, 0, 2], 'int32'));
    expect(await m.array()).toEqual([
      [0, 1, 1, 0],
      [1, 0, 0, 0],
      [0, 1, 1, 0],
    ]);
    expect(m.dtype).toBe('float32');
    m.dispose();
  });

  it('zeroes each query own column when self is given', async () => {
    const labels = [3, 3, 5, 3];
    const m = relevanceMask(labels, labels, { self: [0, 1, 2, 3] });
    expect(await m.array()).toEqual([
      [0, 1, 0, 1],
      [1, 0, 0, 1],
      [0, 0, 0, 0],
      [1, 1, 0, 0],
    ]);
    const partial = relevanceMask([3, 5], labels, { self: [-1, 2] });
    expect(await partial.array()).toEqual([
      [1, 1, 0, 1],
      [0, 0, 0, 0],
    ]);
    tf.dispose([m, partial]);
  });

  it('rejects labels that are not integers, naming the index', () => {
    expect(() => relevanceMask([0, 1.5], [0])).toThrow(/queryLabels\[1\] = 1.5/);
    expect(() => relevanceMask([0], [0], { self: [4] })).toThrow(/self\[0\]/);
  });
});

describe('assertNoTensorLeaks', () => {
  it('throws TENSOR_LEAK when a tensor survives, passes otherwise', async () => {
    let kept: tf.Tensor | undefined;
    await expect(
      assertNoTensorLeaks(() => {
        kept = tf.ones([2]);
      }),
    ).rejects.toMatchObject({ code: 'TENSOR_LEAK' });
    kept?.dispose();
    await expect(
      assertNoTensorLeaks(() =>
        tf.tidy(() => {
          tf.ones([2]).add(1);
        }),
      ),
    ).resolves.toBeUndefined();
    const t = await assertNoTensorLeaks(() => tf.ones([1]), { allowed: 1 });
    t.dispose();
  });
});
