import { createRng, tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddingLoss, extendedRelevance, mixEmbeddings, planMixup, simix } from '../src/index';
import { rskOnScores, rskStandIn } from './standin-losses';

beforeAll(async () => {
  await useBackend('wasm');
});

function normalisedRows(b: number, d: number, seed: number): tf.Tensor2D {
  const rng = createRng(seed);
  const x = tf.tensor2d(
    Float32Array.from({ length: b * d }, () => rng.next() - 0.5),
    [b, d],
  );
  const normalised = tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
  x.dispose();
  return normalised;
}

const labels = Array.from({ length: 20 }, (_, i) => i % 5);
const value = (loss: EmbeddingLoss, e: tf.Tensor2D, y: number[] | tf.Tensor1D = labels) => {
  const out = loss(e, y);
  const v = out.dataSync()[0]!;
  out.dispose();
  return v;
};

describe('simix', () => {
  it('equals the ranking core run on naively mixed embeddings, for each option set', () => {
    const e = normalisedRows(20, 6, 1);
    for (const options of [{}, { pairs: 2, crossClass: 7 }, { side: 'database' as const }]) {
      // a generator that records its draws, replayed into planMixup for the naive route
      const draws: number[] = [];
      const source = createRng(9);
      const recording = { next: () => draws[draws.push(source.next()) - 1]! };
      const got = value(simix(rskStandIn, { ...options, rng: recording }), e);
      let replay = 0;
      const plan = planMixup(labels, options, { rng: { next: () => draws[replay++]! } });
      const expected = tf.tidy(() => {
        const x = mixEmbeddings(e, plan);
        const scores: tf.Tensor2D = tf.matMul(tf.slice(x, 0, plan.queries), x, false, true);
        return rskOnScores({ scores, relevant: extendedRelevance(plan) }).dataSync()[0]!;
      });
      expect(replay).toBe(draws.length);
      expect(Math.abs(got - expected)).toBeLessThan(1e-6);
    }
    e.dispose();
  });

  it('same seed reproduces the sequence of losses; another seed does not; each call draws anew', () => {
    const e = normalisedRows(20, 6, 2);
    const run = (seed: number) => {
      const loss = simix(rskStandIn, { seed, pairs: 3 });
      return [value(loss, e), value(loss, e), value(loss, e)];
    };
    const first = run(5);
    expect(run(5)).toEqual(first);
    expect(run(6)).not.toEqual(first);
    expect(new Set(first).size).toBe(3);
    e.dispose();
  });

  it('fixed alphas give the same loss on every call', () => {
    const e = normalisedRows(20, 6, 3);
    const loss = simix(rskStandIn, { alphas: Array.from({ length: 30 }, (_, v) => (v % 7) / 7) });
    expect(value(loss, e)).toBe(value(loss, e));
    e.dispose();
  });

  it('works through tf.valueAndGrad with tensor labels, without leaking tensors', () => {
    const e = normalisedRows(20, 6, 4);
    const y = tf.tensor1d(labels, 'int32');
    const loss = simix(rskStandIn, { seed: 1, crossClass: 4 });
    expect(loss.id).toBe('rsk-standin+simix');
    const before = tf.memory().numTensors;
    const { value: v, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, y))(e);
    expect(grad.shape).toEqual([20, 6]);
    expect(Number.isFinite(v.dataSync()[0]!)).toBe(true);
    expect(tf.tidy(() => tf.max(tf.abs(grad)).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([v, grad]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([e, y]);
  });

  it('rejects misuse with named errors', () => {
    const plain = Object.assign(() => tf.scalar(0), { id: 'contrastive' }) as EmbeddingLoss;
    expect(() => simix(plain)).toThrow(/loss 'contrastive' has no onScores/);
    expect(() => simix(rskStandIn, { pair: 2 } as never)).toThrow(/unknown option 'pair'/);
    expect(() => simix(rskStandIn, { pairs: -1 })).toThrow(/pairs must be/);
    expect(() => simix(rskStandIn, { crossClass: 1.5 })).toThrow(/crossClass must be/);
    expect(() => simix(rskStandIn, { side: 'query' as never })).toThrow(/side must be/);
    expect(() => simix(rskStandIn, { seed: 1, rng: createRng(1) })).toThrow(/either seed or rng/);
    const e = normalisedRows(4, 3, 0);
    expect(() => simix(rskStandIn)(e, [0, 0, 1])).toThrow(/3 labels for 4 embeddings/);
    expect(() => simix(rskStandIn, { alphas: [0.5] })(e, [0, 0, 1, 1])).toThrow(/alphas has 1 values/);
    e.dispose();
  });
});
