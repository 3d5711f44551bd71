import { tf, useBackend } from '@recallkit/core';
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
