import { createRng, tf, useBackend } from '@recallkit/core';
import { type EmbeddingLoss, recallAtKSurrogate, smoothAP } from '@recallkit/losses';
import { beforeAll, describe, expect, it } from 'vitest';
import { extendedRelevance, type MixPlan, planMixup, selfColumns, simix } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

function normalisedRows(b: number, d: number, seed: number): tf.Tensor2D {
  const rng = createRng(seed);
  const x = tf.tensor2d(
    Float32Array.from({ length: b * d }, () => rng.normal()),
    [b, d],
  );
  const normalised = tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
  x.dispose();
  return normalised;
}

/** The dense mixing matrix M (N x B), built in plain JS from the plan. */
function denseMixing(plan: MixPlan): tf.Tensor2D {
  const b = plan.originals;
  const m = new Float32Array(plan.labels.length * b);
  for (let i = 0; i < b; i++) m[i * b + i] = 1;
  plan.first.forEach((a, v) => {
    const row = (b + v) * b;
    m[row + a] = (m[row + a] ?? 0) + plan.alpha[v]!;
    m[row + plan.second[v]!] = (m[row + plan.second[v]!] ?? 0) + 1 - plan.alpha[v]!;
  });
  return tf.tensor2d(m, [plan.labels.length, b]);
}

/** The loss on the naive route: mixed embeddings M E by tfjs's matMul (and its own gradient). */
function naiveLoss(loss: EmbeddingLoss, plan: MixPlan) {
  return (e: tf.Tensor) => {
    const x = tf.matMul(denseMixing(plan), e as tf.Tensor2D);
    const scores: tf.Tensor2D = tf.matMul(tf.slice(x, 0, plan.queries), x, false, true);
    return loss.onScores!({ scores, relevant: extendedRelevance(plan), self: selfColumns(plan) });
  };
}

const labels = Array.from({ length: 20 }, (_, i) => i % 5);
const value = (loss: EmbeddingLoss, e: tf.Tensor2D, y: number[] | tf.Tensor1D = labels) => {
  const out = loss(e, y);
  const v = out.dataSync()[0]!;
  out.dispose();
  return v;
};
const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);

describe.each([
  ['RS@k', () => recallAtKSurrogate()],
  ['Smooth-AP', () => smoothAP()],
])('simix(%s)', (_, makeLoss) => {
  for (const options of [{}, { pairs: 2, crossClass: 7 }, { side: 'database' as const, crossClass: 3 }]) {
    it(`equals the loss on naively mixed embeddings, value and gradient: ${JSON.stringify(options)}`, () => {
      const base = makeLoss();
      const e = normalisedRows(20, 6, 1);
      // record simix's draws, then replay them into planMixup for the naive route
      const draws: number[] = [];
      const source = createRng(9);
      const recording = { next: () => draws[draws.push(source.next()) - 1]! };
      const mixed = simix(base, { ...options, rng: recording });
      const got = tf.valueAndGrad((x: tf.Tensor) => mixed(x as tf.Tensor2D, labels))(e);
      let replay = 0;
      const plan = planMixup(labels, options, { rng: { next: () => draws[replay++]! } });
      expect(replay).toBe(draws.length);
      const expected = tf.valueAndGrad(naiveLoss(base, plan))(e);
      expect(Math.abs(got.value.dataSync()[0]! - expected.value.dataSync()[0]!)).toBeLessThan(1e-6);
      const gap = tf.tidy(() => maxAbs(tf.sub(got.grad, expected.grad)) / maxAbs(expected.grad));
      expect(maxAbs(expected.grad)).toBeGreaterThan(0);
      expect(gap).toBeLessThan(1e-4);
      tf.dispose([e, got.value, got.grad, expected.value, expected.grad]);
    });
  }
});

describe('simix', () => {
  it('gradient agrees with central differences (Smooth-AP at tau 0.1, cross-class mixes)', () => {
    // a fresh loss with the same seed per evaluation: every evaluation sees the same draws
    const fresh = () => simix(smoothAP({ tau: 0.1 }), { seed: 3, crossClass: 5 });
    const f = (x: tf.Tensor2D) => value(fresh(), x);
    const loss = fresh();
    const e = normalisedRows(20, 6, 5);
    const gradient = tf.grad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
    const grad = gradient.arraySync() as number[][];
    gradient.dispose();
    const rows = e.arraySync() as number[][];
    const h = 1e-3;
    const scale = Math.max(...grad.flat().map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    for (const [i, k] of [
      [0, 0],
      [3, 2],
      [7, 5],
      [12, 1],
      [19, 4],
    ] as const) {
      const shifted = (delta: number) => {
        const copy = rows.map((r) => [...r]);
        copy[i]![k]! += delta;
        const t = tf.tensor2d(copy);
        const v = f(t);
        t.dispose();
        return v;
      };
      const numeric = (shifted(h) - shifted(-h)) / (2 * h);
      expect(Math.abs(numeric - grad[i]![k]!)).toBeLessThan(5e-3 * scale);
    }
    e.dispose();
  });

  it('same seed reproduces the sequence of losses; another seed does not; each call draws anew', () => {
    const e = normalisedRows(20, 6, 2);
    const run = (seed: number) => {
      const loss = simix(recallAtKSurrogate(), { seed, pairs: 3 });
      return [value(loss, e), value(loss, e), value(loss, e)];
    };
    const first = run(5);
    expect(run(5)).toEqual(first);
    expect(run(6)).not.toEqual(first);
    expect(new Set(first).size).toBe(3);
    e.dispose();
  });

  it('randomState / restoreRandomState continue the draws exactly, through JSON', () => {
    const e = normalisedRows(20, 6, 2);
    for (const options of [{ seed: 5, pairs: 3 }, { seed: 'x', crossClass: 4 }, { rng: createRng(8) }]) {
      const straight = simix(recallAtKSurrogate(), options);
      const expected = [0, 1, 2, 3, 4].map(() => value(straight, e));
      const first = simix(recallAtKSurrogate(), {
        ...options,
        ...('rng' in options && { rng: createRng(8) }),
      });
      value(first, e);
      value(first, e);
      const saved = JSON.parse(JSON.stringify(first.randomState()));
      // A new loss (a resumed process) with the same options starts over: restoring continues.
      const resumed = simix(recallAtKSurrogate(), {
        ...options,
        ...('rng' in options && { rng: createRng(8) }),
      });
      expect(value(resumed, e)).toBe(expected[0]);
      resumed.restoreRandomState(saved);
      expect([value(resumed, e), value(resumed, e), value(resumed, e)]).toEqual(expected.slice(2));
      // The snapshot is a copy: the loss it came from goes on from where it was.
      expect([value(first, e), value(first, e), value(first, e)]).toEqual(expected.slice(2));
    }
    e.dispose();
  });

  it('randomState names the problem when the given rng cannot be saved', () => {
    const loss = simix(recallAtKSurrogate(), { rng: { next: () => 0.5 } });
    expect(() => loss.randomState()).toThrow(expect.objectContaining({ code: 'SIMIX_STATE' }));
    expect(() => loss.restoreRandomState({} as never)).toThrow(/restoreRng/);
  });

  it('fixed alphas give the same loss on every call', () => {
    const e = normalisedRows(20, 6, 3);
    const loss = simix(recallAtKSurrogate(), { alphas: Array.from({ length: 30 }, (_, v) => (v % 7) / 7) });
    expect(value(loss, e)).toBe(value(loss, e));
    e.dispose();
  });

  it('works through tf.valueAndGrad with tensor labels, without leaking tensors', () => {
    const e = normalisedRows(20, 6, 4);
    const y = tf.tensor1d(labels, 'int32');
    const loss = simix(recallAtKSurrogate(), { seed: 1, crossClass: 4 });
    expect(loss.id).toBe('rsk+simix');
    expect(loss.lastStats).toBeUndefined();
    const before = tf.memory().numTensors;
    const { value: v, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, y))(e);
    expect(grad.shape).toEqual([20, 6]);
    expect(loss.lastStats?.queries).toBe(20 + 30); // 5 classes x 4: 6 mixes each, cross-class mixes are not queries
    expect(Number.isFinite(v.dataSync()[0]!)).toBe(true);
    expect(maxAbs(grad)).toBeGreaterThan(0);
    tf.dispose([v, grad]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([e, y]);
  });

  it('rejects misuse with named errors', () => {
    const plain = Object.assign(() => tf.scalar(0), { id: 'contrastive' }) as EmbeddingLoss;
    const rsk = recallAtKSurrogate();
    expect(() => simix(plain)).toThrow(/loss 'contrastive' has no onScores/);
    expect(() => simix(rsk, { pair: 2 } as never)).toThrow(/unknown option 'pair'/);
    expect(() => simix(rsk, { pairs: -1 })).toThrow(/pairs must be/);
    expect(() => simix(rsk, { crossClass: 1.5 })).toThrow(/crossClass must be/);
    expect(() => simix(rsk, { side: 'query' as never })).toThrow(/side must be/);
    expect(() => simix(rsk, { implementation: 'gpu' as never })).toThrow(/implementation must be/);
    expect(() => simix(rsk, { seed: 1, rng: createRng(1) })).toThrow(/either seed or rng/);
    const e = normalisedRows(4, 3, 0);
    expect(() => simix(rsk)(e, [0, 0, 1])).toThrow(/labels has 3 entries for 4 embedding rows/);
    expect(() => simix(rsk, { alphas: [0.5] })(e, [0, 0, 1, 1])).toThrow(/alphas has 1 values/);
    const withNaN = tf.tensor2d([
      [1, 0],
      [0, Number.NaN],
    ]);
    expect(() => simix(rsk)(withNaN, [0, 0])).toThrow(/row 1 column 1 is NaN/);
    withNaN.dispose();
    e.dispose();
  });
  it('bad input under tf.grad leaves no tape tensor behind', () => {
    // The op before the loss (a scaling) saves its inputs on the gradient tape; a failed check of
    // the loss must free them, whatever check fails.
    const loss = simix(recallAtKSurrogate(), { seed: 2, crossClass: 2 });
    const e = normalisedRows(12, 4, 9);
    const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3];
    const grad = (scale: number, l: ArrayLike<number>) =>
      tf.grad((x: tf.Tensor) => loss(tf.mul(x, tf.scalar(scale)) as tf.Tensor2D, Array.from(l)))(e);
    const before = tf.memory().numTensors;
    expect(() => grad(2, labels.slice(1))).toThrow(/simix: labels has 11 entries for 12 embedding rows/);
    expect(() => grad(Number.NaN, labels)).toThrow(/row 0 column 0 is NaN/);
    expect(() => grad(1e20, labels)).toThrow(/too large for float32/);
    expect(() => grad(2, [...labels.slice(0, -1), 0.5])).toThrow(
      /simix: labels\[11\] = 0.5 is not a 32-bit integer/,
    );
    expect(() =>
      grad(
        2,
        labels.map(() => 4),
      ),
    ).toThrow(/needs at least two classes/);
    expect(tf.memory().numTensors).toBe(before);
    // ... and the next gradient computes normally.
    const g = grad(1, labels);
    expect(g.shape).toEqual([12, 4]);
    tf.dispose([g, e]);
  });
});
