import { RecallkitError, tf } from '@recallkit/core';
import { createRegistry } from '@recallkit/registry';
import { beforeAll, describe, expect, it } from 'vitest';
import { register, tripletLoss } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Three unit vectors in the plane at angles 0, 60 and 180 degrees; labels [0, 0, 1].
const rows = [0, 60, 180].map((deg) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]);

describe('tripletLoss', () => {
  it('matches a hand-worked batch', () => {
    // Triplets: (0,1,2): s02 - s01 + m = -1 - 0.5 + 1 = -0.5 -> 0; (1,0,2): s12 - s10 + m = -0.5 - 0.5 + 1 = 0 -> 0.
    expect(tripletLoss({ margin: 1 })(tf.tensor2d(rows), [0, 0, 1]).dataSync()[0]).toBeCloseTo(0, 6);
    // margin 2: 0.5 and 1 -> mean 0.75.
    expect(tripletLoss({ margin: 2 })(tf.tensor2d(rows), [0, 0, 1]).dataSync()[0]).toBeCloseTo(0.75, 6);
  });

  it('has the gradient of central finite differences', () => {
    const x = tf.tensor2d([
      [0.3, -0.2, 0.9],
      [0.1, 0.4, -0.5],
      [-0.7, 0.2, 0.1],
      [0.5, 0.5, 0.2],
    ]);
    const labels = [0, 0, 1, 1];
    const loss = tripletLoss({ margin: 0.5 });
    const grad = tf
      .grad((e: tf.Tensor) => loss(e as tf.Tensor2D, labels))(x)
      .arraySync() as number[][];
    const base = x.arraySync();
    const h = 1e-3;
    for (const [i, j] of [
      [0, 0],
      [1, 2],
      [2, 1],
      [3, 0],
    ] as const) {
      const plus = base.map((r) => r.slice());
      const minus = base.map((r) => r.slice());
      plus[i]![j]! += h;
      minus[i]![j]! -= h;
      const fd =
        (loss(tf.tensor2d(plus), labels).dataSync()[0]! - loss(tf.tensor2d(minus), labels).dataSync()[0]!) /
        (2 * h);
      expect(grad[i]![j]!).toBeCloseTo(fd, 3);
    }
  });

  it('refuses a batch without triplets and a negative margin', () => {
    expect(() => tripletLoss()(tf.tensor2d(rows), [0, 0, 0])).toThrow(RecallkitError);
    expect(() => tripletLoss({ margin: -1 })).toThrow(/margin/);
  });
});

describe('register', () => {
  it('adds loss:triplet to a registry, with validated options', async () => {
    const registry = createRegistry();
    register(registry);
    const loss = (await registry.resolve('loss:triplet', { margin: 2 })) as ReturnType<typeof tripletLoss>;
    expect(loss.id).toBe('triplet');
    expect(loss(tf.tensor2d(rows), [0, 0, 1]).dataSync()[0]).toBeCloseTo(0.75, 6);
    expect(() => registry.validate('loss:triplet', { margin: 'wide' })).toThrow(
      "loss:triplet: 'margin': expected number, received string",
    );
  });
});
