import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { loadModel, mlp, resnet, saveModel, smallCnn } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, tempDir, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const root = tempDir();

async function roundTrip(model: tf.LayersModel, x: tf.Tensor, name: string) {
  const dir = join(root, name);
  await saveModel(model, dir);
  const loaded = await loadModel(dir);
  const before = Array.from((model.predict(x) as tf.Tensor).dataSync());
  const after = Array.from((loaded.predict(x) as tf.Tensor).dataSync());
  return { loaded, before, after, dir };
}

describe('saveModel / loadModel', () => {
  it('a trained ResNet with the GeM head and batch norm gives identical embeddings after reloading', async () => {
    const model = resnet({
      inputShape: [8, 8, 3],
      blocks: [1, 1],
      width: 4,
      stem: 'small',
      head: { embeddingDim: 6 },
      seed: 1,
    });
    const x = input([6, 8, 8, 3]);
    train(model, x, [0, 0, 1, 1, 2, 2], { steps: 2, optimizer: tf.train.adam(0.05) });
    const p = model.getLayer('head_gem').getWeights()[0]!.dataSync()[0];
    expect(p).not.toBe(3); // the learned exponent is part of what must survive
    const { loaded, before, after } = await roundTrip(model, x, 'resnet');
    expect(after).toEqual(before);
    expect(loaded.getLayer('head_gem').getWeights()[0]!.dataSync()[0]).toBe(p);
    expect(loaded.trainableWeights.length).toBe(model.trainableWeights.length);
  });

  it('round-trips the frozen-batch-norm ResNet, smallCnn and mlp exactly', async () => {
    const cases: [string, tf.LayersModel, number[]][] = [
      [
        'frozen',
        resnet({
          inputShape: [8, 8, 3],
          blocks: [1],
          width: 4,
          frozenBatchNorm: true,
          head: { embeddingDim: 4 },
        }),
        [3, 8, 8, 3],
      ],
      ['cnn', smallCnn({ embeddingDim: 16 }), [3, 28, 28, 1]],
      ['mlp', mlp({ inputShape: [5], hidden: [7], embeddingDim: 3 }), [3, 5]],
    ];
    for (const [name, model, shape] of cases) {
      const { loaded, before, after } = await roundTrip(model, input(shape), name);
      expect(after).toEqual(before);
      expect(loaded.nonTrainableWeights.length).toBe(model.nonTrainableWeights.length);
    }
  });

  it('replaces an existing model atomically and leaves no temporary directories', async () => {
    const dir = join(root, 'replaced');
    const first = mlp({ inputShape: [4], hidden: [], embeddingDim: 2, seed: 1 });
    const second = mlp({ inputShape: [4], hidden: [], embeddingDim: 2, seed: 2 });
    await saveModel(first, dir);
    await saveModel(second, dir);
    const x = input([2, 4]);
    const loaded = await loadModel(dir);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((second.predict(x) as tf.Tensor).dataSync()),
    );
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    await expect(saveModel(first, dir, { overwrite: false })).rejects.toMatchObject({ code: 'MODEL_EXISTS' });
  });

  it('leaves the previous model in place when saving fails', async () => {
    const dir = join(root, 'kept');
    const model = mlp({ inputShape: [4], hidden: [], embeddingDim: 2, seed: 3 });
    await saveModel(model, dir);
    const before = readFileSync(join(dir, 'weights.bin'));
    const failing = { save: () => Promise.reject(new Error('disk full')) } as unknown as tf.LayersModel;
    await expect(saveModel(failing, dir)).rejects.toThrow('disk full');
    expect(readFileSync(join(dir, 'weights.bin'))).toEqual(before);
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('names the problem when the directory is missing or not a model', async () => {
    await expect(loadModel(join(root, 'nothing'))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    const dir = join(root, 'bad');
    await saveModel(mlp({ inputShape: [2], hidden: [], embeddingDim: 2 }), dir);
    writeFileSync(join(dir, 'model.json'), '{"format": "layers-model"}');
    await expect(loadModel(dir)).rejects.toMatchObject({ code: 'INVALID_MODEL_JSON' });
    expect(existsSync(join(dir, 'weights.bin'))).toBe(true);
  });
});
