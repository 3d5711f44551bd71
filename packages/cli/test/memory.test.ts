// Long loops keep the number of live tensors flat: whatever one call makes, it frees.
import { createRng, tf, useBackend } from '@recallkit/core';
import { mPerClassSampler } from '@recallkit/datasets';
import { train } from '@recallkit/engine';
import { evaluate } from '@recallkit/evaluator';
import { recallAtKSurrogate } from '@recallkit/losses';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  await useBackend('wasm');
});

const live = () => tf.memory().numTensors;

function unitRows(rows: number, dim: number, seed: number): tf.Tensor2D {
  const rng = createRng(seed);
  return tf.tidy(() => {
    const x = tf.tensor2d(
      Float32Array.from({ length: rows * dim }, () => rng.normal()),
      [rows, dim],
    );
    return tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
  });
}

describe('tensors stay flat over long loops', () => {
  it('RS@k loss and gradient, 200 times', () => {
    const e = unitRows(64, 16, 1);
    const labels = Array.from({ length: 64 }, (_, i) => i % 16);
    const loss = recallAtKSurrogate();
    const counts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(tf.mul(x, 1) as tf.Tensor2D, labels))(e);
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      tf.dispose([value, grad]);
      counts.push(live());
    }
    expect(new Set(counts)).toEqual(new Set([counts[0]]));
    e.dispose();
  });

  it('evaluate(), 20 times', async () => {
    const e = unitRows(200, 16, 2);
    const labels = Int32Array.from({ length: 200 }, (_, i) => i % 20);
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const result = await evaluate(e, labels, { index: 'exact' });
      expect(result.recall[1]).toBeGreaterThanOrEqual(0);
      counts.push(live());
    }
    expect(new Set(counts)).toEqual(new Set([counts[0]]));
    e.dispose();
  });

  it('a training run of 100 steps', async () => {
    const rng = createRng(3);
    const length = 96;
    const data = Float32Array.from({ length: length * 8 }, () => rng.normal());
    const labels = Int32Array.from({ length }, (_, i) => i % 12);
    const dataset = {
      length,
      labels,
      load: async (indices: ArrayLike<number>) =>
        tf.tensor2d(
          Float32Array.from({ length: indices.length * 8 }, (_, j) => data[indices[j >> 3]! * 8 + (j & 7)]!),
          [indices.length, 8],
        ),
    };
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [8], units: 16, activation: 'tanh' }),
        tf.layers.dense({ units: 8 }),
      ],
    });
    const sampler = mPerClassSampler({ labels, classesPerBatch: 4, samplesPerClass: 4, seed: 0 });
    const before = live();
    const counts: number[] = [];
    const result = await train({
      model,
      loss: recallAtKSurrogate({ k: [1, 2] }),
      dataset,
      sampler,
      epochs: 100,
      iterations: 100,
      chunkSize: 8,
      optimizer: { type: 'adamw', learningRate: 1e-3 },
      progress: false,
      onStep: ({ step, epoch, batch }) => {
        // Steps that hold the next batch, loaded ahead: not an epoch's last, not the run's last.
        if (step < 100 && batch < sampler.batches(epoch).length - 1) counts.push(live());
      },
    });
    expect(result.steps).toBe(100);
    // The first step makes the optimiser's moments; from then on every step ends where the last did.
    expect(new Set(counts.slice(1))).toEqual(new Set([counts[1]]));
    // ... and the run frees them at the end.
    expect(live()).toBe(before);
    model.dispose();
  });
});
