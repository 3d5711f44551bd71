import { assertNoTensorLeaks, tf, useBackend } from '@recallkit/core';
import { mlp, resnet, smallCnn } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { gradients, input, lossOf, pairLoss, snapshot, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const labels = [0, 0, 1, 1, 2, 2];

const backbones: [string, () => tf.LayersModel, number[]][] = [
  ['smallCnn', () => smallCnn({ embeddingDim: 16, seed: 1 }), [6, 28, 28, 1]],
  ['mlp', () => mlp({ inputShape: [12, 12, 1], hidden: [32, 16], embeddingDim: 8, seed: 1 }), [6, 12, 12, 1]],
  [
    'resnet (basic blocks, imagenet stem)',
    () => resnet({ inputShape: [16, 16, 3], blocks: [1, 1], width: 4, head: { embeddingDim: 8 }, seed: 1 }),
    [6, 16, 16, 3],
  ],
  [
    'resnet (bottleneck, small stem, frozen BN)',
    () =>
      resnet({
        inputShape: [8, 8, 3],
        blocks: [1, 1],
        bottleneck: true,
        width: 2,
        stem: 'small',
        frozenBatchNorm: true,
        head: { embeddingDim: 8 },
        seed: 1,
      }),
    [6, 8, 8, 3],
  ],
];

describe.each(backbones)('%s on wasm', (_name, build, shape) => {
  it('has a finite, non-zero gradient for every trainable weight', () => {
    expect(tf.getBackend()).toBe('wasm');
    const model = build();
    const grads = gradients(model, input(shape), labels);
    expect(grads.size).toBe(model.trainableWeights.length);
    for (const [name, g] of grads) {
      expect(g.every(Number.isFinite), name).toBe(true);
      expect(
        g.some((v) => v !== 0),
        name,
      ).toBe(true);
    }
  });

  it('one SGD step lowers the loss on its batch and moves every trainable weight', () => {
    const model = build();
    const x = input(shape);
    const before = snapshot(model.trainableWeights);
    const [loss0] = train(model, x, labels, { steps: 1, optimizer: tf.train.sgd(0.01) });
    expect(lossOf(model, x, labels)).toBeLessThan(loss0!);
    for (const [name, after] of snapshot(model.trainableWeights)) {
      expect(after, name).not.toEqual(before.get(name));
    }
  });

  it('leaks no tensors in inference or in a gradient computation', async () => {
    const model = build();
    const x = input(shape);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    await assertNoTensorLeaks(() => {
      tf.dispose(model.predict(x) as tf.Tensor);
      const { value, grads } = tf.variableGrads(
        () => pairLoss(model.apply(x, { training: true }) as tf.Tensor, labels),
        vars,
      );
      tf.dispose([value, grads]);
    });
  });
});

describe('embeddings', () => {
  it.each(backbones)('%s outputs unit-norm embeddings', (_name, build, shape) => {
    const y = build().predict(input(shape)) as tf.Tensor2D;
    for (const n of tf.norm(y, 2, 1).dataSync()) expect(n).toBeCloseTo(1, 5);
  });
});
