// RS@k at 400 embeddings against the authors' code (fixtures/large_ref.json, made by
// fixtures/large_gen.py): the fused kernel with one thread, with worker threads and with row
// blocks of several sizes, and the composite implementation, on cases chosen so that d loss /
// d scores is dense, entrywise sparse, and row-sparse (each backward path of the fused kernel).
import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumOf,
  float32FromBase64,
  type LargeCase,
  largeCaseInput,
} from '../../../tools/test/large-reference';
import { SPARSE_RATIO } from '../src/fused/index';
import { type RecallAtKOptions, recallAtKSurrogate, terminateWorkers } from '../src/index';

interface RefCase extends LargeCase {
  loss: number;
  grad_f32_b64: string;
}
const fixture: { cases: RefCase[] } = JSON.parse(
  readFileSync(new URL('fixtures/large_ref.json', import.meta.url), 'utf8'),
);
const cases = fixture.cases.map((c) => ({
  ...c,
  ...largeCaseInput(c),
  grad: float32FromBase64(c.grad_f32_b64),
}));

// float32 similarities (tfjs) against the reference's float64 ones; 1 / tauRank = 100 magnifies
// their rounding. Measured worst cases over these cases and settings: loss 9e-8, gradient entry
// 1.7e-5 of the largest entry (2e-8 absolute). A wrong branch of any path is far beyond both.
const LOSS_TOLERANCE = 5e-7;
const GRAD_TOLERANCE = 1e-4; // relative to the largest reference entry

const SETTINGS: [string, RecallAtKOptions][] = [
  ['fused, one thread', { implementation: 'fused', threads: 1 }],
  ['fused, 2 threads, blocks of 8 rows', { implementation: 'fused', threads: 2, blockElements: 8 * 400 }],
  ['fused, 3 threads, blocks of 2 rows', { implementation: 'fused', threads: 3, blockElements: 1001 }],
  ['composite', { implementation: 'composite' }],
  ['composite, small query blocks', { implementation: 'composite', blockElements: 3 * 4 * 400 }],
];

beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(terminateWorkers);

function lossAndGrad(options: RecallAtKOptions, values: Float32Array, dim: number, labels: number[]) {
  const loss = recallAtKSurrogate(options);
  const x = tf.tensor2d(values, [labels.length, dim]);
  const { value, grad } = tf.valueAndGrad((e: tf.Tensor) => loss(e as tf.Tensor2D, labels))(x);
  const out = { loss: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  tf.dispose([x, value, grad]);
  return out;
}

function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return worst / scale;
}

describe('the large cases regenerate bit for bit', () => {
  it.each(cases)('$name', (c) => {
    expect(c.embeddings.length).toBe(400 * c.dim);
    expect(checksumOf(c.embeddings)).toEqual(c.checksum);
  });
});

describe.each(cases)('RS@k on $name (400 x $dim) equals the authors code', (c) => {
  it.each(SETTINGS)('%s', (_, options) => {
    const r = lossAndGrad(options, c.embeddings, c.dim, c.labels);
    expect(Math.abs(r.loss - c.loss)).toBeLessThan(LOSS_TOLERANCE);
    expect(worstRelative(r.grad, c.grad)).toBeLessThan(GRAD_TOLERANCE);
  });
});

// The fused backward (gramBackward in src/fused/index.ts) picks its path from d loss / d scores G:
// entrywise sparse when non-zeros x SPARSE_RATIO < touched rows x N, row-sparse when touched rows <= N / 3,
// else dense row blocks. Each case must take the path it was made for.
const PATHS: Record<string, 'dense' | 'entrywise sparse' | 'row-sparse'> = {
  spread: 'dense',
  confusable_pairs: 'entrywise sparse',
  row_sparse: 'row-sparse',
};

describe('the cases cover every backward path of the fused kernel', () => {
  it.each(cases)('$name', (c) => {
    const n = c.labels.length;
    const loss = recallAtKSurrogate({ implementation: 'fused' });
    const e = tf.tensor2d(c.embeddings, [n, c.dim]);
    const scores = tf.matMul(e, e, false, true);
    const relevant = tf.tensor2d(
      c.labels.flatMap((a, i) => c.labels.map((b, j) => (a === b && i !== j ? 1 : 0))),
      [n, n],
    );
    const self = Int32Array.from({ length: n }, (_, i) => i);
    const g = tf.grad((s: tf.Tensor) => loss.onScores!({ scores: s as tf.Tensor2D, relevant, self }))(scores);
    const values = g.dataSync();
    tf.dispose([e, scores, relevant, g]);
    let [touched, nonZero] = [0, 0];
    for (let q = 0; q < n; q++) {
      let row = 0;
      for (let j = 0; j < n; j++) if (values[q * n + j] !== 0) row++;
      if (row > 0) touched++;
      nonZero += row;
    }
    const path =
      nonZero * SPARSE_RATIO < touched * n ? 'entrywise sparse' : touched <= n / 3 ? 'row-sparse' : 'dense';
    expect(path).toBe(PATHS[c.name]);
  });
});

describe('labels, not layout, define positives', () => {
  it('a shuffled batch gives the same loss and the shuffled gradient', () => {
    const c = cases[0]!;
    const n = c.labels.length;
    // A fixed permutation: row i of the shuffled batch is row (i * 173) mod 400 of the original.
    const order = Array.from({ length: n }, (_, i) => (i * 173) % n);
    const shuffled = new Float32Array(c.embeddings.length);
    order.forEach((from, i) => {
      shuffled.set(c.embeddings.subarray(from * c.dim, (from + 1) * c.dim), i * c.dim);
    });
    const wanted = new Float32Array(c.grad.length);
    order.forEach((from, i) => {
      wanted.set(c.grad.subarray(from * c.dim, (from + 1) * c.dim), i * c.dim);
    });
    for (const implementation of ['fused', 'composite'] as const) {
      const r = lossAndGrad(
        { implementation },
        shuffled,
        c.dim,
        order.map((from) => c.labels[from]!),
      );
      expect(Math.abs(r.loss - c.loss)).toBeLessThan(LOSS_TOLERANCE);
      expect(worstRelative(r.grad, wanted)).toBeLessThan(GRAD_TOLERANCE);
    }
  });

  it('leaves no tensor behind', () => {
    const c = cases[2]!;
    const before = tf.memory().numTensors;
    for (const [, options] of SETTINGS) lossAndGrad(options, c.embeddings, c.dim, c.labels);
    expect(tf.memory().numTensors).toBe(before);
  });
});
