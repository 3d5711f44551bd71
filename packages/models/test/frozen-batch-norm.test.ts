import { tf, useBackend } from '@recallkit/core';
import { FrozenBatchNormalization, freezeBatchNorm, resnet } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, snapshot, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const labels = [0, 0, 1, 1, 2, 2];
const tiny = (frozenBatchNorm: boolean) =>
  resnet({
    inputShape: [8, 8, 3],
    blocks: [1, 1],
    width: 4,
    stem: 'small',
    frozenBatchNorm,
    head: { embeddingDim: 4 },
    seed: 5,
  });

/** Gives every batch-norm layer non-trivial statistics and affine terms, as a pretrained trunk would have. */
function randomiseBatchNorm(model: tf.LayersModel): void {
  let seed = 100;
  for (const layer of model.layers) {
    if (!layer.name.includes('bn')) continue;
    const [gamma, beta, mean, variance] = layer.getWeights().map((w) => w.shape);
    layer.setWeights([
      tf.randomUniform(gamma!, 0.5, 1.5, 'float32', seed++),
      tf.randomNormal(beta!, 0, 0.3, 'float32', seed++),
      tf.randomNormal(mean!, 0, 0.3, 'float32', seed++),
      tf.randomUniform(variance!, 0.5, 2, 'float32', seed++),
    ]);
  }
}

const bnWeights = (model: tf.LayersModel) => model.weights.filter((w) => /bn\d*\//.test(w.originalName));

describe('frozen batch norm', () => {
  it('keeps every batch-norm parameter out of the trainable weights', () => {
    const model = tiny(true);
    const bn = model.layers.filter((l) => l instanceof FrozenBatchNormalization);
    expect(bn.length).toBe(1 + 2 * 2 + 1); // stem, two convs per block, one shortcut
    expect(model.trainableWeights.some((w) => /bn\d*\//.test(w.originalName))).toBe(false);
    expect(bnWeights(model).length).toBe(4 * bn.length);
  });

  it('stays frozen through training steps, while the rest of the network trains', () => {
    const model = tiny(true);
    randomiseBatchNorm(model);
    const x = input([6, 8, 8, 3]);
    const frozenBefore = snapshot(bnWeights(model));
    const trainableBefore = snapshot(model.trainableWeights);
    const losses = train(model, x, labels, { steps: 3, optimizer: tf.train.adam(0.01) });
    expect(losses[2]).toBeLessThan(losses[0]!);
    expect(snapshot(bnWeights(model))).toEqual(frozenBefore);
    const changed = [...snapshot(model.trainableWeights)].filter(([n, v]) =>
      v.some((a, i) => a !== trainableBefore.get(n)![i]),
    );
    expect(changed.length).toBe(model.trainableWeights.length);
  });

  it('normalises with the stored statistics in training mode too', () => {
    const model = tiny(true);
    randomiseBatchNorm(model);
    const x = input([6, 8, 8, 3], 2);
    const inference = (model.predict(x) as tf.Tensor).dataSync();
    const training = (model.apply(x, { training: true }) as tf.Tensor).dataSync();
    expect(Array.from(training)).toEqual(Array.from(inference));
  });

  it('is a real difference: ordinary batch norm updates its statistics in the same steps', () => {
    const model = tiny(false);
    randomiseBatchNorm(model);
    const before = snapshot(bnWeights(model));
    train(model, input([6, 8, 8, 3]), labels, { steps: 1 });
    const after = snapshot(bnWeights(model));
    const moved = [...after].filter(([n, v]) => v.some((a, i) => a !== before.get(n)![i]));
    expect(moved.length).toBe(after.size);
  });

  it('freezeBatchNorm converts a trained model: same inference outputs, frozen thereafter', async () => {
    const model = tiny(false);
    randomiseBatchNorm(model);
    const frozen = await freezeBatchNorm(model);
    expect(frozen).not.toBe(model);
    expect(frozen.layers.filter((l) => l instanceof FrozenBatchNormalization).length).toBe(6);
    const x = input([6, 8, 8, 3], 3);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (frozen.apply(x, { training: true }) as tf.Tensor).dataSync();
    for (const [i, v] of a.entries()) expect(b[i]).toBeCloseTo(v, 6);
    const before = snapshot(bnWeights(frozen));
    train(frozen, x, labels, { steps: 2 });
    expect(snapshot(bnWeights(frozen))).toEqual(before);
    expect(await freezeBatchNorm(frozen)).toBe(frozen);
  });
});
