import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import {
  FrozenBatchNormalization,
  loadModel,
  loadTrunk,
  saveModel,
  withEmbeddingHead,
} from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, snapshot, tempDir, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const root = tempDir();
const labels = [0, 0, 1, 1, 2, 2, 3, 3];

/** A "pretrained" Keras-style trunk (conv, batch norm, ReLU twice) with non-trivial BN statistics. */
function pretrainedTrunk(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 3], name: 'image' });
  let y = x;
  for (const i of [1, 2]) {
    y = tf.layers
      .conv2d({
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        name: `conv${i}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: i }),
      })
      .apply(y) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization({ name: `bn${i}` }).apply(y) as tf.SymbolicTensor;
    y = tf.layers.reLU({ name: `relu${i}` }).apply(y) as tf.SymbolicTensor;
  }
  const model = tf.model({ inputs: x, outputs: y, name: 'pretrained' });
  for (const i of [1, 2]) {
    model
      .getLayer(`bn${i}`)
      .setWeights([
        tf.fill([4], 1.5),
        tf.fill([4], 0.1),
        tf.randomNormal([4], 0, 0.2, 'float32', i),
        tf.randomUniform([4], 0.5, 2, 'float32', i),
      ]);
  }
  return model;
}

/** Saves a model, then splits its weights into two shards, as tensorflowjs_converter does for big models. */
async function saveSharded(model: tf.LayersModel, dir: string): Promise<void> {
  await saveModel(model, dir);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bin = readFileSync(join(dir, 'weights.bin'));
  const half = Math.floor(bin.length / 2);
  writeFileSync(join(dir, 'group1-shard1of2.bin'), bin.subarray(0, half));
  writeFileSync(join(dir, 'group1-shard2of2.bin'), bin.subarray(half));
  rmSync(join(dir, 'weights.bin'));
  json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
}

describe('loadTrunk: layers models', () => {
  it('loads a sharded layers model that computes what the original computed', async () => {
    const original = pretrainedTrunk();
    const dir = join(root, 'layers');
    await saveSharded(original, dir);
    const trunk = await loadTrunk(dir);
    const x = input([2, 8, 8, 3]);
    expect(Array.from((trunk.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((original.predict(x) as tf.Tensor).dataSync()),
    );
  });

  it('fine-tunes on wasm with the paper head and frozen batch norm: trunk and head train, BN stays put', async () => {
    const dir = join(root, 'finetune');
    await saveSharded(pretrainedTrunk(), dir);
    const trunk = await loadTrunk(dir, { frozenBatchNorm: true });
    expect(trunk.layers.filter((l) => l instanceof FrozenBatchNormalization)).toHaveLength(2);
    const model = withEmbeddingHead(trunk, { embeddingDim: 8, seed: 3 });
    const x = input([8, 8, 8, 3], 4);
    const conv = snapshot(model.getLayer('conv1').weights);
    const bn = snapshot([...model.getLayer('bn1').weights, ...model.getLayer('bn2').weights]);
    const losses = train(model, x, labels, { steps: 4, optimizer: tf.train.adam(0.01) });
    expect(tf.getBackend()).toBe('wasm');
    expect(losses[3]).toBeLessThan(losses[0]!);
    expect(snapshot(model.getLayer('conv1').weights)).not.toEqual(conv);
    expect(snapshot([...model.getLayer('bn1').weights, ...model.getLayer('bn2').weights])).toEqual(bn);
  });

  it('cuts at outputLayer, freezes on request, and names unknown layers', async () => {
    const dir = join(root, 'cut');
    await saveModel(pretrainedTrunk(), dir);
    const cut = await loadTrunk(dir, { outputLayer: 'relu1', trainable: false });
    expect(cut.outputs[0]!.shape).toEqual([null, 8, 8, 4]);
    expect(cut.layers.map((l) => l.name)).toEqual(['image', 'conv1', 'bn1', 'relu1']);
    expect(cut.trainableWeights).toHaveLength(0);
    await expect(loadTrunk(dir, { outputLayer: 'conv9' })).rejects.toMatchObject({ code: 'TRUNK_LAYER' });
  });
});

/** A hand-written TF.js graph model: relu(conv2d(images, w, VALID)), input [-1, 6, 6, 1], w 3x3x1x2. */
function writeGraphModel(dir: string, w: Float32Array): void {
  mkdirSync(dir, { recursive: true });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'hand',
    convertedBy: 'hand',
    modelTopology: {
      node: [
        {
          name: 'images',
          op: 'Placeholder',
          attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(-1, 6, 6, 1) } },
        },
        {
          name: 'w',
          op: 'Const',
          attr: {
            dtype: { type: 'DT_FLOAT' },
            value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(3, 3, 1, 2) } },
          },
        },
        {
          name: 'conv',
          op: 'Conv2D',
          input: ['images', 'w'],
          attr: {
            T: { type: 'DT_FLOAT' },
            strides: { list: { i: ['1', '1', '1', '1'] } },
            dilations: { list: { i: ['1', '1', '1', '1'] } },
            padding: { s: b64('VALID') },
            data_format: { s: b64('NHWC') },
          },
        },
        { name: 'features', op: 'Relu', input: ['conv'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [
      { paths: ['group1-shard1of1.bin'], weights: [{ name: 'w', shape: [3, 3, 1, 2], dtype: 'float32' }] },
    ],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'group1-shard1of1.bin'), Buffer.from(w.buffer));
}

describe('loadTrunk: graph models', () => {
  const w = Float32Array.from({ length: 18 }, (_, i) => Math.sin(i + 1));
  // Upper case and underscores: the path must survive TF.js's snake_case/camelCase rewriting of configs.
  const dir = join(root, 'Graph_Trunk-A_b');

  it('runs the graph as a frozen trunk computing the same convolution', async () => {
    writeGraphModel(dir, w);
    const trunk = await loadTrunk(dir);
    expect(trunk.outputs[0]!.shape).toEqual([null, 4, 4, 2]);
    expect(trunk.trainableWeights).toHaveLength(0);
    const x = input([2, 6, 6, 1]);
    const expected = tf
      .relu(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(w, [3, 3, 1, 2]), 1, 'valid'))
      .dataSync();
    const got = (trunk.predict(x) as tf.Tensor).dataSync();
    for (const [i, v] of expected.entries()) expect(got[i]).toBeCloseTo(v, 5);
  });

  it('trains the head on top on wasm, and the whole model saves and reloads', async () => {
    writeGraphModel(dir, w);
    const model = withEmbeddingHead(await loadTrunk(dir), { embeddingDim: 4, seed: 1 });
    const x = input([8, 6, 6, 1], 5);
    const losses = train(model, x, labels, { steps: 4, optimizer: tf.train.adam(0.02) });
    expect(losses[3]).toBeLessThan(losses[0]!);
    await saveModel(model, join(root, 'graph-with-head'));
    const loaded = await loadModel(join(root, 'graph-with-head'));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
  });

  it('refuses loadModel on a graph model and outputLayer on graph trunks', async () => {
    writeGraphModel(dir, w);
    await expect(loadModel(dir)).rejects.toMatchObject({ code: 'MODEL_FORMAT' });
    await expect(loadTrunk(dir, { outputLayer: 'conv' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
