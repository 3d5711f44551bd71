import { tf, useBackend } from '@recallkit/core';
import { embeddingHead, GeM, L2Normalize, withEmbeddingHead } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

// One image, 2 x 2 pixels, 2 channels: channel 0 holds 1, 2, 3, 0.5; channel 1 holds 4, 0, 1, 2.
const feature = () =>
  tf.tensor4d(
    [
      [
        [
          [1, 4],
          [2, 0],
        ],
        [
          [3, 1],
          [0.5, 2],
        ],
      ],
    ],
    [1, 2, 2, 2],
  );

function gem(args: ConstructorParameters<typeof GeM>[0] = {}): tf.LayersModel {
  const x = tf.input({ shape: [2, 2, 2] });
  return tf.model({ inputs: x, outputs: new GeM(args).apply(x) as tf.SymbolicTensor });
}

describe('GeM', () => {
  it('matches a hand computation with p = 3', () => {
    const y = (gem().predict(feature()) as tf.Tensor).dataSync();
    // channel 0: ((1 + 8 + 27 + 0.125) / 4)^(1/3); channel 1: 0 is clamped to 1e-6, whose cube vanishes.
    expect(y[0]).toBeCloseTo(Math.cbrt(36.125 / 4), 5);
    expect(y[1]).toBeCloseTo(Math.cbrt((64 + 1 + 8) / 4), 5);
    expect(gem().getWeights()[0]!.dataSync()[0]).toBe(3);
  });

  it('is average pooling at p = 1 and tends to max pooling for large p', () => {
    const avg = (gem({ p: 1 }).predict(feature()) as tf.Tensor).dataSync();
    expect(avg[0]).toBeCloseTo((1 + 2 + 3 + 0.5) / 4, 5);
    expect(avg[1]).toBeCloseTo((4 + 1e-6 + 1 + 2) / 4, 5);
    const max = (gem({ p: 60 }).predict(feature()) as tf.Tensor).dataSync();
    expect(max[0]).toBeCloseTo(3 * 0.25 ** (1 / 60), 3);
  });

  it('has a gradient with respect to p that matches central differences, and p trains', () => {
    const x = feature();
    const value = (p: number) => tf.tidy(() => (gem({ p }).predict(x) as tf.Tensor).sum().dataSync()[0]!);
    const model = gem();
    const p = model.trainableWeights[0]!.read() as tf.Variable;
    const { grads } = tf.variableGrads(() => (model.apply(x) as tf.Tensor).sum() as tf.Scalar, [p]);
    const h = 1e-2;
    const numeric = (value(3 + h) - value(3 - h)) / (2 * h);
    expect(grads[p.name]!.dataSync()[0]).toBeCloseTo(numeric, 3);
    expect(gem({ trainableP: false }).trainableWeights).toHaveLength(0);
  });

  it('rejects bad options and inputs that are not feature maps', () => {
    expect(() => new GeM({ p: 0 })).toThrow(/positive/);
    const x = tf.input({ shape: [5] });
    expect(() => new GeM().apply(x)).toThrow(/rank 4/);
  });
});

describe('L2Normalize', () => {
  it('divides rows by their norm and leaves a zero row at zero', () => {
    const x = tf.input({ shape: [2] });
    const m = tf.model({ inputs: x, outputs: new L2Normalize().apply(x) as tf.SymbolicTensor });
    const y = (
      m.predict(
        tf.tensor2d([
          [3, 4],
          [0, 0],
        ]),
      ) as tf.Tensor
    ).arraySync() as number[][];
    expect(y[0]![0]).toBeCloseTo(0.6, 6);
    expect(y[0]![1]).toBeCloseTo(0.8, 6);
    expect(y[1]).toEqual([0, 0]);
  });
});

describe('embeddingHead', () => {
  it('is GeM, LayerNorm, linear (512 by default), L2 norm on a feature map', () => {
    const x = tf.input({ shape: [4, 4, 6] });
    const head = embeddingHead();
    const y = head.apply(x);
    expect(y.shape).toEqual([null, 512]);
    expect(head.layers.map((l) => l.getClassName())).toEqual([
      'GeM',
      'LayerNormalization',
      'Dense',
      'L2Normalize',
    ]);
  });

  it('computes exactly GeM -> LayerNorm -> linear -> L2 norm', () => {
    const trunkInput = tf.input({ shape: [2, 2, 2] });
    const trunk = tf.model({ inputs: trunkInput, outputs: trunkInput });
    const model = withEmbeddingHead(trunk, { embeddingDim: 3, seed: 1 });
    const [kernel, bias] = model.getLayer('head_linear').getWeights();
    const f = feature();
    const expected = tf.tidy(() => {
      const pooled = tf.pow(tf.mean(tf.pow(tf.maximum(f, 1e-6), 3), [1, 2]), 1 / 3);
      const { mean, variance } = tf.moments(pooled, -1, true);
      const normed = tf.div(tf.sub(pooled, mean), tf.sqrt(tf.add(variance, 1e-5)));
      const z = tf.add(tf.matMul(normed, kernel!), bias!);
      return tf.div(z, tf.norm(z, 2, -1, true)).dataSync();
    });
    const got = (model.predict(f) as tf.Tensor).dataSync();
    for (const [i, v] of expected.entries()) expect(got[i]).toBeCloseTo(v, 5);
  });

  it('skips pooling on feature vectors and refuses mismatched pooling', () => {
    const v = tf.input({ shape: [16] });
    const head = embeddingHead({ embeddingDim: 8 });
    expect(head.apply(v).shape).toEqual([null, 8]);
    expect(head.layers[0]!.getClassName()).toBe('LayerNormalization');
    expect(() => embeddingHead({ pooling: 'gem' }).apply(tf.input({ shape: [16] }))).toThrow(/does not fit/);
    expect(() => embeddingHead({ pooling: 'none' }).apply(tf.input({ shape: [2, 2, 3] }))).toThrow(
      /does not fit/,
    );
  });

  it('trains on wasm, GeM p included', () => {
    const trunkInput = tf.input({ shape: [3, 3, 4] });
    const relu = tf.layers.reLU().apply(trunkInput) as tf.SymbolicTensor;
    const model = withEmbeddingHead(tf.model({ inputs: trunkInput, outputs: relu }), {
      embeddingDim: 4,
      seed: 2,
    });
    const losses = train(model, input([8, 3, 3, 4]), [0, 0, 1, 1, 2, 2, 3, 3], { steps: 5 });
    expect(losses[4]).toBeLessThan(losses[0]!);
    expect(model.getLayer('head_gem').getWeights()[0]!.dataSync()[0]).not.toBe(3);
  });
});
