import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adam, adamW, stepSchedule } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Adam / AdamW on one scalar, written out by hand in double precision (Loshchilov & Hutter, Alg. 2). */
function reference(w0: number, grads: number[], lr: number, wd: number, decoupled: boolean): number {
  let [w, m, v] = [w0, 0, 0];
  grads.forEach((g0, i) => {
    const t = i + 1;
    const g = decoupled ? g0 : g0 + wd * w;
    if (decoupled) w *= 1 - lr * wd;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= (lr * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
  });
  return w;
}

describe('adam and adamW', () => {
  const grads = [0.5, -0.2, 0.05, 0.3];
  for (const [name, make, decoupled] of [
    ['adam', adam, false],
    ['adamW', adamW, true],
  ] as const) {
    it(`${name} follows the update rule`, () => {
      const w = tf.variable(tf.scalar(1.5));
      const opt = make({ learningRate: 0.1, weightDecay: 0.2 });
      for (const g of grads) {
        const grad = tf.scalar(g);
        opt.step([w], [grad]);
        grad.dispose();
      }
      expect(w.dataSync()[0]).toBeCloseTo(reference(1.5, grads, 0.1, 0.2, decoupled), 5);
      expect(opt.iterations).toBe(4);
      opt.dispose();
      w.dispose();
    });
  }

  it('decoupled decay differs from L2 decay; without decay adam and adamW agree', () => {
    const trained = (make: typeof adam, weightDecay: number) => {
      const w = tf.variable(tf.tensor1d([1.5, -0.75]));
      const opt = make({ learningRate: 0.1, weightDecay });
      for (const g of grads) {
        const grad = tf.tensor1d([g, -2 * g]);
        opt.step([w], [grad]);
        grad.dispose();
      }
      const out = Array.from(w.dataSync());
      opt.dispose();
      w.dispose();
      return out;
    };
    const l2 = trained(adam, 0.2);
    const decoupled = trained(adamW, 0.2);
    decoupled.forEach((v, i) => {
      expect(Math.abs(v - l2[i]!)).toBeGreaterThan(1e-3);
    });
    // Each matches its own rule, not the other's.
    expect(decoupled[0]).toBeCloseTo(reference(1.5, grads, 0.1, 0.2, true), 5);
    expect(l2[0]).toBeCloseTo(reference(1.5, grads, 0.1, 0.2, false), 5);
    expect(trained(adamW, 0)).toEqual(trained(adam, 0));
  });

  it('restores its state exactly and uses per-variable learning rates', () => {
    const a: tf.Variable[] = [tf.variable(tf.tensor1d([1, -2, 3])), tf.variable(tf.tensor2d([[0.5, 0.25]]))];
    const b = a.map((v) => tf.variable(v.clone()));
    const g = [tf.tensor1d([0.1, 0.2, -0.3]), tf.tensor2d([[-1, 2]])];
    const lr = (_: tf.Variable, i: number) => (i === 0 ? 0.01 : 0.1);
    const first = adamW({ learningRate: 0.05 });
    first.step(a, g, lr);
    first.step(a, g, lr);
    b.forEach((v, i) => {
      v.assign(a[i] as tf.Variable);
    });
    const second = adamW({ learningRate: 0.05 });
    second.setState(b, first.getState(a));
    first.step(a, g, lr);
    second.step(b, g, lr);
    a.forEach((v, i) => {
      expect(Array.from(v.dataSync())).toEqual(Array.from((b[i] as tf.Variable).dataSync()));
    });
    expect(second.iterations).toBe(3);
    const before = tf.memory().numTensors;
    first.step(a, g, lr);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...a, ...b, ...g]);
    first.dispose();
    second.dispose();
  });

  it('rejects bad options', () => {
    expect(() => adam({ learningRate: -1 })).toThrow(/learningRate/);
    expect(() => adamW({ learningRate: 0.1, beta1: 1.5 })).toThrow(/beta1/);
  });
});

describe('stepSchedule', () => {
  it('multiplies by gamma at each milestone', () => {
    const s = stepSchedule({ milestones: [15, 30, 45], gamma: 0.3 });
    expect([0, 14, 15, 29, 30, 45, 100].map(s)).toEqual([1, 1, 0.3, 0.3, 0.3 ** 2, 0.3 ** 3, 0.3 ** 3]);
  });
  it('rejects unordered milestones', () => {
    expect(() => stepSchedule({ milestones: [30, 15], gamma: 0.3 })).toThrow(/ascending/);
  });
});
