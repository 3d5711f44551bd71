import { readFileSync } from 'node:fs';
import { RecallkitError, tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { contrastive } from '../src/index';
import { type Matrix, maxAbsDiff, numericGrad, seeded, unitRows } from './brute';

beforeAll(async () => {
  await useBackend('wasm');
});

/** The contrastive loss straight from its definition, in float64 over every ordered pair i != j. */
function bruteContrastive(e: Matrix, labels: number[], posMargin: number, negMargin: number): number {
  const unit = e.map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
  let pull = 0;
  let positives = 0;
  let push = 0;
  let negatives = 0;
  for (let i = 0; i < unit.length; i++) {
    for (let j = 0; j < unit.length; j++) {
      if (i === j) continue;
      const s = unit[i]!.reduce((acc, v, c) => acc + v * unit[j]![c]!, 0);
      if (labels[i] === labels[j]) {
        pull += Math.max(0, posMargin - s);
        positives++;
      } else {
        push += Math.max(0, s - negMargin);
        negatives++;
      }
    }
  }
  return pull / positives + (negatives > 0 ? push / negatives : 0);
}

/**
 * pytorch-metric-learning's default contrastive loss from its definition, in float64: distances of
 * the unit vectors, sqrt(max(2 - 2 s, 1e-12)); each hinge averaged over its non-zero pairs.
 */
function brutePml(e: Matrix, labels: number[], posMargin = 0, negMargin = 1): number {
  const unit = e.map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
  let pull = 0;
  let pulled = 0;
  let push = 0;
  let pushed = 0;
  for (let i = 0; i < unit.length; i++) {
    for (let j = 0; j < unit.length; j++) {
      if (i === j) continue;
      const s = unit[i]!.reduce((acc, v, c) => acc + v * unit[j]![c]!, 0);
      const d = Math.sqrt(Math.max(2 - 2 * s, 1e-12));
      if (labels[i] === labels[j]) {
        if (d - posMargin > 0) {
          pull += d - posMargin;
          pulled++;
        }
      } else if (negMargin - d > 0) {
        push += negMargin - d;
        pushed++;
      }
    }
  }
  return (pulled > 0 ? pull / pulled : 0) + (pushed > 0 ? push / pushed : 0);
}

function valueAndGrad(loss: (e: tf.Tensor2D, y: number[]) => tf.Scalar, e: Matrix, labels: number[]) {
  const x = tf.tensor2d(e);
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => loss(v as tf.Tensor2D, labels))(x);
  const out = { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
  tf.dispose([x, value, grad]);
  return out;
}

/** 29 rows in 4-d, not unit length, uneven shuffled classes, a lone row and a duplicate pair. */
function batch(seed: number): { e: Matrix; labels: number[] } {
  const rand = seeded(seed);
  const e = unitRows(rand, 29, 4).map((r) => r.map((v) => v * (0.5 + rand())));
  e[11] = e[3]!.map((v) => 2 * v); // same direction as row 3, other class: similarity 1
  const labels = Array.from({ length: 29 }, () => Math.floor(rand() * 4));
  labels[28] = 9; // no positive
  return { e, labels };
}

function thrown(f: () => unknown): RecallkitError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(RecallkitError);
    return error as RecallkitError;
  }
  throw new Error('expected a RecallkitError');
}

/** batch(seed) without its degenerate pair (two rows of one direction: distance 0, the clamp). */
function smoothBatch(seed: number) {
  const { e, labels } = batch(seed);
  e[11] = e[11]!.map((v, c) => v + (c === 0 ? 0.9 : -0.4));
  return { e, labels };
}

describe("form 'pml': pytorch-metric-learning's default", () => {
  const peer = JSON.parse(readFileSync(new URL('fixtures/contrastive_peer.json', import.meta.url), 'utf8'));

  it.each(['pml', 'cosine'] as const)(
    '%s form: the PyTorch peer on its fixed batch (loss and gradient wrt raw)',
    (form) => {
      const r = valueAndGrad(contrastive({ form }), peer.raw, peer.labels);
      const ref = peer[form].float64;
      expect(r.loss).toBeGreaterThan(0.5);
      expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-6);
      const flat = (ref.grad as number[][]).flat();
      expect(Math.max(...flat.map(Math.abs))).toBeGreaterThan(1e-2);
      expect(maxAbsDiff(r.grad, flat)).toBeLessThan(1e-6);
      // Independent of the peer too: the float64 definition.
      const brute =
        form === 'pml' ? brutePml(peer.raw, peer.labels) : bruteContrastive(peer.raw, peer.labels, 0.9, 0.6);
      expect(Math.abs(r.loss - brute)).toBeLessThan(1e-6);
    },
  );

  it.each([
    [0, 1, 1],
    [0, 1, 5 * 29 + 3],
    [0.3, 1.2, 7 * 29],
    [0.5, 0.8, 29 * 29],
  ])(
    'posMargin %s, negMargin %s, blocks of %s elements: float64 brute force and finite differences',
    (posMargin, negMargin, blockElements) => {
      const { e, labels } = smoothBatch(7);
      const r = valueAndGrad(contrastive({ form: 'pml', posMargin, negMargin, blockElements }), e, labels);
      const f = (x: Matrix) => brutePml(x, labels, posMargin, negMargin);
      expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
      const fd = numericGrad(f, e).flat();
      expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(r.grad, fd)).toBeLessThan(1e-4);
    },
  );

  it('hand-worked: two classes on a circle', () => {
    // Unit vectors at angles 0, 60 (class 0) and 90, 180 (class 1) degrees.
    const deg = [0, 60, 90, 180].map((a) => (a * Math.PI) / 180);
    const e = deg.map((a) => [Math.cos(a), Math.sin(a)]);
    // Positive distances: 2 sin(30) = 1 and 2 sin(45) = sqrt(2), each pair twice: mean (1 + sqrt 2) / 2.
    // Negative distances below 1: none (0-90: sqrt 2, 0-180: 2, 60-90: 2 sin(15) = 0.5176, 60-180: sqrt 3).
    // So only 60-90 (both orders) is pushed: 1 - 0.5176.
    const expected = (1 + Math.SQRT2) / 2 + (1 - 2 * Math.sin(Math.PI / 12));
    const r = valueAndGrad(contrastive({ form: 'pml' }), e, [0, 0, 1, 1]);
    expect(Math.abs(r.loss - expected)).toBeLessThan(1e-6);
  });

  it('defaults and option checks per form', () => {
    expect(thrown(() => contrastive({ form: 'pml', negMargin: 2.5 })).code).toBe('INVALID_OPTION');
    expect(thrown(() => contrastive({ form: 'pml', posMargin: -0.1 })).code).toBe('INVALID_OPTION');
    expect(thrown(() => contrastive({ form: 'euclid' as 'pml' })).code).toBe('INVALID_OPTION');
    // A negative margin of 1.5 is a valid distance, not a valid cosine.
    expect(() => contrastive({ form: 'pml', negMargin: 1.5 })).not.toThrow();
    expect(thrown(() => contrastive({ negMargin: 1.5 })).code).toBe('INVALID_OPTION');
  });
});

describe('onScores', () => {
  const rand = seeded(17);
  const q = unitRows(rand, 6, 4);
  const db = unitRows(rand, 9, 4);
  db[2] = q[0]!.slice(); // query 0 is column 2
  const qLabels = [0, 1, 2, 1, 5, 0];
  const dbLabels = [1, 0, 0, 2, 1, 2, 0, 1, 3];
  const self = [2, -1, -1, -1, -1, -1];
  const rel = qLabels.map((a, i) => dbLabels.map((b, j) => (a === b && j !== self[i] ? 1 : 0)));
  const scoreOf = (x: Matrix) => x.map((a) => db.map((b) => a.reduce((s, v, i) => s + v * b[i]!, 0)));
  /** Both forms on a score block, from their definitions (pairs: relevant vs not, self excluded). */
  const brute = (form: 'cosine' | 'pml') => (s: Matrix) => {
    let pull = 0;
    let pulled = 0;
    let push = 0;
    let pushed = 0;
    s.forEach((row, i) => {
      row.forEach((v, j) => {
        if (j === self[i]) return;
        const d = Math.sqrt(Math.max(2 - 2 * v, 1e-12));
        if (rel[i]![j] === 1) {
          const h = form === 'pml' ? d : Math.max(0, 0.9 - v);
          if (form === 'cosine' || h > 0) pulled++;
          pull += h;
        } else {
          const h = form === 'pml' ? Math.max(0, 1 - d) : Math.max(0, v - 0.6);
          if (form === 'cosine' || h > 0) pushed++;
          push += h;
        }
      });
    });
    return pull / pulled + (pushed > 0 ? push / pushed : 0);
  };

  it.each(['cosine', 'pml'] as const)('%s: value and finite differences on a reference set', (form) => {
    const loss = contrastive({ form });
    const x = tf.tensor2d(q);
    const dbT = tf.tensor2d(db);
    const relevant = tf.tensor2d(rel);
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) =>
      loss.onScores!({
        scores: tf.matMul(v as tf.Tensor2D, dbT, false, true),
        relevant,
        self: Int32Array.from(self),
      }),
    )(x);
    const f = (m: Matrix) => brute(form)(scoreOf(m));
    expect(Math.abs(value.dataSync()[0]! - f(q))).toBeLessThan(1e-6);
    const fd = numericGrad(f, q).flat();
    expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(grad.dataSync(), fd)).toBeLessThan(1e-4);
    expect(loss.lastStats).toEqual({ queries: 6, queriesWithoutPositives: 1, implementation: 'composite' });
    tf.dispose([x, dbT, relevant, value, grad]);
  });

  it('checks its input like the ranking losses', () => {
    const loss = contrastive();
    const scores = tf.tensor2d([
      [0.1, 0.2, 0.3],
      [0.2, Number.NaN, 0.1],
    ]);
    const relevant = tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    const nan = thrown(() => loss.onScores!({ scores, relevant }));
    expect(nan.code).toBe('NON_FINITE_INPUT');
    expect(nan.message).toMatch(/row 1\b/);
    const ok = tf.tensor2d([
      [0.1, 0.2, 0.3],
      [0.2, 0.5, 0.1],
    ]);
    expect(thrown(() => loss.onScores!({ scores: ok, relevant: tf.zeros([2, 2]) })).code).toBe(
      'INVALID_INPUT',
    );
    expect(thrown(() => loss.onScores!({ scores: ok, relevant, self: Int32Array.from([1, -1]) })).code).toBe(
      'INVALID_INPUT',
    );
    expect(thrown(() => loss.onScores!({ scores: ok, relevant, self: Int32Array.from([5, -1]) })).code).toBe(
      'INVALID_INPUT',
    );
    expect(
      thrown(() =>
        loss.onScores!({
          scores: ok,
          relevant: tf.tensor2d([
            [0, 2, 0],
            [1, 0, 0],
          ]),
        }),
      ).code,
    ).toBe('INVALID_INPUT');
    expect(thrown(() => loss.onScores!({ scores: ok, relevant: tf.zeros([2, 3]) })).code).toBe(
      'NO_POSITIVE_PAIR',
    );
  });

  it('updates lastStats, and the embeddings path reports the fused kind', () => {
    const loss = contrastive();
    const e = tf.tensor2d(unitRows(seeded(3), 6, 3));
    loss(e, [0, 0, 1, 1, 2, 3]).dispose();
    expect(loss.lastStats).toEqual({ queries: 6, queriesWithoutPositives: 2, implementation: 'fused' });
    loss.onScores!({
      scores: tf.tensor2d([[0.5, 0.1, 0.2]]),
      relevant: tf.tensor2d([[1, 0, 0]]),
    }).dispose();
    expect(loss.lastStats).toEqual({ queries: 1, queriesWithoutPositives: 0, implementation: 'composite' });
  });
});

describe('contrastive in query blocks', () => {
  const rows = 29;

  it.each([
    [0.9, 0.6, 1],
    [0.9, 0.6, 5 * rows + 3],
    [0.5, 0.1, 7 * rows],
    [0.7, -0.2, rows * rows],
  ])(
    'posMargin %s, negMargin %s, blocks of %s elements: float64 brute force and finite differences',
    (posMargin, negMargin, blockElements) => {
      const { e, labels } = batch(7);
      const r = valueAndGrad(contrastive({ posMargin, negMargin, blockElements }), e, labels);
      const f = (x: Matrix) => bruteContrastive(x, labels, posMargin, negMargin);
      expect(r.loss).toBeGreaterThan(0);
      expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
      expect(maxAbsDiff(r.grad, numericGrad(f, e).flat())).toBeLessThan(1e-4);
    },
  );

  it('does not depend on the block size', () => {
    const { e, labels } = batch(8);
    const [first, ...others] = [1, 2 * rows, 4 * rows + 1, 10 * rows, rows * rows, 1 << 21].map(
      (blockElements) => valueAndGrad(contrastive({ blockElements }), e, labels),
    );
    for (const r of others) {
      expect(Math.abs(r.loss - first!.loss)).toBeLessThan(1e-7);
      expect(maxAbsDiff(r.grad, first!.grad)).toBeLessThan(1e-6);
    }
  });

  it('one class only: the negative term is absent', () => {
    const rand = seeded(9);
    const e = unitRows(rand, 6, 3);
    const labels = [2, 2, 2, 2, 2, 2];
    const f = (x: Matrix) => bruteContrastive(x, labels, 0.9, 0.6);
    const r = valueAndGrad(contrastive({ blockElements: 12 }), e, labels);
    expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, numericGrad(f, e).flat())).toBeLessThan(1e-4);
  });

  it('never holds a B x B tensor, and leaves no tensor behind', async () => {
    const n = 800;
    const dim = 4;
    const rand = seeded(10);
    const x = tf.tensor2d(unitRows(rand, n, dim));
    const labels = Array.from({ length: n }, (_, i) => i % 80);
    const loss = contrastive({ blockElements: 20 * n });
    const before = tf.memory().numTensors;
    const bytesBefore = tf.memory().numBytes;
    const profile = await tf.profile(() => {
      const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => loss(v as tf.Tensor2D, labels))(x);
      tf.dispose([value, grad]);
    });
    expect(tf.memory().numTensors).toBe(before);
    // Blocks of 20 x n and a dozen n x dim matrices (the normalisation's and the tape's): a quarter
    // of one n x n float32 matrix is ample; the unblocked loss held several whole ones.
    expect(profile.peakBytes - bytesBefore).toBeLessThan((n * n * 4) / 4);
    x.dispose();
  });

  it('rejects a bad block size', () => {
    expect(() => contrastive({ blockElements: 0 })).toThrow(/blockElements/);
    expect(() => contrastive({ blockElements: 2.5 })).toThrow(/blockElements/);
  });
});
