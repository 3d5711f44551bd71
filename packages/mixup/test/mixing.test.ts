import { createRng, tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  extendedRelevance,
  type MixPlan,
  type MixupOptions,
  mixEmbeddings,
  mixSimilarities,
  planMixup,
  selfColumns,
} from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Gaussian B x d rows from a seeded generator (Box-Muller). */
function randomRows(b: number, d: number, seed: number): number[][] {
  const rng = createRng(seed);
  return Array.from({ length: b }, () =>
    Array.from(
      { length: d },
      () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()),
    ),
  );
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

/** The dense N x B mixing matrix M, built from the plan in plain JS. */
function denseMixing(plan: MixPlan): tf.Tensor2D {
  const b = plan.originals;
  const n = plan.labels.length;
  const m = new Float32Array(n * b);
  for (let i = 0; i < b; i++) m[i * b + i] = 1;
  plan.first.forEach((a, v) => {
    const row = (b + v) * b;
    m[row + a] = (m[row + a] ?? 0) + plan.alpha[v]!;
    m[row + plan.second[v]!] = (m[row + plan.second[v]!] ?? 0) + 1 - plan.alpha[v]!;
  });
  return tf.tensor2d(m, [n, b]);
}

/** The naive route, built independently: mixed embeddings M E (tf's own matMul and its gradient), then their dot products. */
function naiveScores(e: tf.Tensor2D, plan: MixPlan): tf.Tensor2D {
  const extended = tf.matMul(denseMixing(plan), e);
  return tf.matMul(tf.slice(extended, 0, plan.queries), extended, false, true);
}

const cases: Array<[string, number[], MixupOptions]> = [
  ['faithful, 4 per class', Array.from({ length: 24 }, (_, i) => Math.floor(i / 4)), {}],
  ['uneven classes, shuffled rows', [3, 1, 3, 0, 1, 1, 3, 2, 0, 1, 3, 1, 2, 0], {}],
  ['random pairs + cross-class', Array.from({ length: 30 }, (_, i) => i % 6), { pairs: 4, crossClass: 9 }],
  [
    'database side only + cross-class',
    Array.from({ length: 20 }, (_, i) => i % 4),
    { side: 'database', crossClass: 5 },
  ],
];

describe.each(['fused', 'composite'] as const)('mixSimilarities (%s) equals the naive route', (how) => {
  for (const [name, labels, options] of cases) {
    it(name, () => {
      const plan = planMixup(labels, options, { rng: createRng(name) });
      const e = tf.tensor2d(randomRows(labels.length, 8, 11));
      const w = tf.tensor2d(randomRows(plan.queries, plan.labels.length, 12));
      const viaSimilarities = (x: tf.Tensor) =>
        mixSimilarities(tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D, false, true), plan, how);
      const viaEmbeddings = (x: tf.Tensor) => naiveScores(x as tf.Tensor2D, plan);
      const fast = viaSimilarities(e);
      const slow = viaEmbeddings(e);
      expect(fast.shape).toEqual([plan.queries, plan.labels.length]);
      expect(maxAbsDiff(fast, slow)).toBeLessThan(1e-5);
      // gradients of <W, scores> through both routes (the naive one through tf's own matMul grads)
      const gFast = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(viaSimilarities(x), w)))(e);
      const gSlow = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(viaEmbeddings(x), w)))(e);
      expect(maxAbsDiff(gFast, gSlow)).toBeLessThan(1e-4);
      tf.dispose([e, w, fast, slow, gFast, gSlow]);
    });
  }
});

describe.each(['fused', 'composite'] as const)('mixEmbeddings (%s)', (how) => {
  it('builds M E: originals unchanged, then alpha x_a + (1 - alpha) x_b', () => {
    const plan = planMixup([0, 1, 1, 0, 1], { crossClass: 2 }, { rng: createRng(5) });
    const e = tf.tensor2d(randomRows(5, 3, 1));
    const m = denseMixing(plan);
    const mixed = mixEmbeddings(e, plan, how);
    const expected = tf.matMul(m, e);
    expect(maxAbsDiff(mixed, expected)).toBeLessThan(1e-6);
    tf.dispose([e, m, mixed, expected]);
  });
});

describe.each(['fused', 'composite'] as const)('finite differences in float64 (%s)', (how) => {
  it('the gradient of <W, M S Mᵀ> matches central differences of an independent float64 computation', () => {
    const labels = [0, 1, 0, 2, 1, 0, 2, 2, 1];
    const plan = planMixup(labels, { pairs: 2, crossClass: 4 }, { rng: createRng(7) });
    const rows = randomRows(labels.length, 5, 21);
    const weights = randomRows(plan.queries, plan.labels.length, 22);
    // f(E) = sum_qj W_qj <x_q, x_j> over the extended items x, in plain float64
    const f = (e: number[][]): number => {
      const x = [...e];
      plan.first.forEach((a, v) => {
        const al = plan.alpha[v]!;
        x.push(e[a]!.map((value, k) => al * value + (1 - al) * e[plan.second[v]!]![k]!));
      });
      let total = 0;
      for (let q = 0; q < plan.queries; q++) {
        for (let j = 0; j < x.length; j++) {
          total += weights[q]![j]! * x[q]!.reduce((s, value, k) => s + value * x[j]![k]!, 0);
        }
      }
      return total;
    };
    const e = tf.tensor2d(rows);
    const w = tf.tensor2d(weights);
    const grad = tf.grad((x: tf.Tensor) =>
      tf.sum(
        tf.mul(mixSimilarities(tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D, false, true), plan, how), w),
      ),
    )(e);
    const autograd = grad.arraySync() as number[][];
    const h = 1e-5;
    let worst = 0;
    let scale = 0;
    rows.forEach((row, i) => {
      row.forEach((_, k) => {
        const plus = rows.map((r) => [...r]);
        const minus = rows.map((r) => [...r]);
        plus[i]![k]! += h;
        minus[i]![k]! -= h;
        const numeric = (f(plus) - f(minus)) / (2 * h);
        worst = Math.max(worst, Math.abs(numeric - autograd[i]![k]!));
        scale = Math.max(scale, Math.abs(numeric));
      });
    });
    expect(scale).toBeGreaterThan(1);
    expect(worst / scale).toBeLessThan(1e-5);
    tf.dispose([e, w, grad]);
  });
});

describe('who is positive to whom', () => {
  const rowsOf = (values: Float32Array, n: number) =>
    Array.from({ length: values.length / n }, (_, q) => Array.from(values.subarray(q * n, (q + 1) * n)));

  it('hand-worked: two classes of two, one cross-class mix', () => {
    // extended items: o0 o1 o2 o3 | m(o0,o1) m(o2,o3) | x(cross)
    const plan = planMixup([5, 5, 8, 8], { crossClass: 1 }, { rng: createRng(0) });
    expect(plan.queries).toBe(6);
    const relevant = extendedRelevance(plan);
    expect(rowsOf(relevant, plan.labels.length)).toEqual([
      [0, 1, 0, 0, 1, 0, 0],
      [1, 0, 0, 0, 1, 0, 0],
      [0, 0, 0, 1, 0, 1, 0],
      [0, 0, 1, 0, 0, 1, 0],
      [1, 1, 0, 0, 0, 0, 0],
      [0, 0, 1, 1, 0, 0, 0],
    ]);
    expect(Array.from(selfColumns(plan))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("side 'database': originals query, mixes are positives of their class only", () => {
    const plan = planMixup([0, 1, 0, 1, 0], { side: 'database' }, { rng: createRng(0) });
    // class 0 = rows 0, 2, 4 -> 3 mixes; class 1 = rows 1, 3 -> 1 mix
    const relevant = extendedRelevance(plan);
    expect(rowsOf(relevant, plan.labels.length)).toEqual([
      [0, 0, 1, 0, 1, 1, 1, 1, 0],
      [0, 0, 0, 1, 0, 0, 0, 0, 1],
      [1, 0, 0, 0, 1, 1, 1, 1, 0],
      [0, 1, 0, 0, 0, 0, 0, 0, 1],
      [1, 0, 1, 0, 0, 1, 1, 1, 0],
    ]);
  });
});
