import { tf, useBackend } from '@recallkit/core';
import { countParams, embedDataset, mlp, resnet, summarize } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from './helpers';

let model: tf.LayersModel;
let all: tf.Tensor;

beforeAll(async () => {
  await useBackend('wasm');
  model = mlp({ inputShape: [5], hidden: [6], embeddingDim: 3, seed: 4 });
  all = input([10, 5], 9);
});

describe('embedDataset', () => {
  it('embeds an indexed source in batches, in order, equal to one predict over everything', async () => {
    const seen: number[][] = [];
    const source = {
      length: 10,
      load: async (indices: Int32Array) => {
        seen.push(Array.from(indices));
        return tf.gather(all, indices);
      },
    };
    const progress: number[] = [];
    const out = await embedDataset(model, source, {
      batchSize: 4,
      onProgress: (done) => progress.push(done),
    });
    expect(seen).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(progress).toEqual([4, 8, 10]);
    expect(out.count).toBe(10);
    expect(out.dim).toBe(3);
    const expected = (model.predict(all) as tf.Tensor).dataSync();
    for (const [i, v] of expected.entries()) expect(out.data[i]).toBeCloseTo(v, 6);
  });

  it('takes an async iterable of batches and disposes them', async () => {
    const batches = [tf.slice(all, 0, 7), tf.slice(all, 7, 3)];
    async function* stream() {
      yield* batches;
    }
    const out = await embedDataset(model, stream());
    expect(out.count).toBe(10);
    expect(batches.every((b) => b.isDisposed)).toBe(true);
    const kept = [tf.slice(all, 0, 2)];
    await embedDataset(model, kept, { disposeInputs: false });
    expect(kept[0]!.isDisposed).toBe(false);
  });

  it('does not leak tensors', async () => {
    const before = tf.memory().numTensors;
    await embedDataset(
      model,
      { length: 10, load: async (i: Int32Array) => tf.gather(all, i) },
      { batchSize: 3 },
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names empty sources and models without a rank-2 output', async () => {
    await expect(embedDataset(model, [])).rejects.toMatchObject({ code: 'EMBED_EMPTY' });
    const trunk = resnet({ inputShape: [8, 8, 3], blocks: [1], width: 2, head: false });
    await expect(embedDataset(trunk, [input([1, 8, 8, 3])])).rejects.toMatchObject({ code: 'MODEL_OUTPUT' });
  });
});

describe('countParams / summarize', () => {
  it('counts trainable and frozen parameters', () => {
    // mlp 5 -> 6 -> 3: (5*6 + 6) + (6*3 + 3) = 57, all trainable.
    expect(countParams(model)).toEqual({ total: 57, trainable: 57, nonTrainable: 0 });
    // ResNet, small stem, one basic block of width 2 on 3 channels, frozen BN, 4-d head:
    // stem conv 3*3*3*2 = 54; block convs 2 * (3*3*2*2) = 72; three BN layers of 4 * 2 = 24 (frozen);
    // GeM p 1; LayerNorm 2 * 2 = 4; linear 2*4 + 4 = 12.
    const net = resnet({
      inputShape: [8, 8, 3],
      blocks: [1],
      width: 2,
      stem: 'small',
      frozenBatchNorm: true,
      head: { embeddingDim: 4 },
    });
    expect(countParams(net)).toEqual({
      total: 54 + 72 + 24 + 1 + 4 + 12,
      trainable: 54 + 72 + 1 + 4 + 12,
      nonTrainable: 24,
    });
  });

  it('returns the layer table as text', () => {
    const text = summarize(model);
    for (const name of ['dense1', 'fc', 'l2_normalize', 'Total params: 57']) expect(text).toContain(name);
  });
});
