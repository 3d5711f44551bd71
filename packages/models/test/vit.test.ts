import { join } from 'node:path';
import { assertNoTensorLeaks, tf, useBackend } from '@recallkit/core';
import {
  countParams,
  embeddingHead,
  loadModel,
  MultiHeadSelfAttention,
  PatchEmbedding,
  saveModel,
  VIT_PRESETS,
  type ViTOptions,
  vit,
} from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { gradients, input, lossOf, pairLoss, snapshot, tempDir, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const root = tempDir();
const labels = [0, 0, 1, 1, 2, 2];
// 16 x 16 images, 2 x 2 patches of 8, width 16, 2 heads, 2 blocks, the authors' head at 8 dimensions.
const tiny: ViTOptions = {
  inputShape: [16, 16, 3],
  patchSize: 8,
  width: 16,
  depth: 2,
  numHeads: 2,
  mlpDim: 32,
  head: { embeddingDim: 8 },
  seed: 1,
};

describe('vit', () => {
  it('has ViT-B/16 and ViT-B/32 presets of timm’s size', () => {
    expect(VIT_PRESETS['B/16']).toEqual({ patchSize: 16, width: 768, depth: 12, numHeads: 12, mlpDim: 3072 });
    // One block keeps the test small; each further block adds the same 7,087,872 parameters, so 12
    // blocks give timm's 85,798,656 (B/16) and 87,455,232 (B/32) without the classifier.
    const block =
      2 * 1536 + (768 * 2304 + 2304) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768);
    expect(block).toBe(7_087_872);
    const b16 = countParams(vit({ preset: 'B/16', depth: 1, head: false, seed: 0 }));
    expect(b16).toEqual({ total: 7_832_064, trainable: 7_832_064, nonTrainable: 0 });
    expect(b16.total + 11 * block).toBe(85_798_656);
    const b32 = vit({ preset: 'B/32', depth: 1, head: false, seed: 0 });
    expect(countParams(b32).total + 11 * block).toBe(87_455_232);
    expect(b32.getLayer('embed').getWeights()[1]!.shape).toEqual([1, 50, 768]); // 7 x 7 patches + class token
  });

  it('ends in the authors’ head: LayerNorm, linear, L2 on the class token', () => {
    const model = vit(tiny);
    expect(model.layers.map((l) => l.name).slice(-5)).toEqual([
      'norm',
      'cls_output',
      'head_layer_norm',
      'head_linear',
      'head_l2_normalize',
    ]);
    const y = model.predict(input([3, 16, 16, 3])) as tf.Tensor2D;
    expect(y.shape).toEqual([3, 8]);
    for (const n of tf.norm(y, 2, 1).dataSync()) expect(n).toBeCloseTo(1, 5);
    expect(vit({ ...tiny, head: false }).outputs[0]!.shape).toEqual([null, 16]);
    expect(vit({ ...tiny, head: false, output: 'tokens' }).outputs[0]!.shape).toEqual([null, 5, 16]);
  });

  it("gives the head's 'cls' pooling of the token sequence the same embeddings as the class-token output", () => {
    const fromCls = vit(tiny);
    const fromTokens = vit({ ...tiny, output: 'tokens', seed: 7 });
    expect(fromTokens.getLayer('head_cls_token')).toBeDefined();
    for (const layer of fromCls.layers) {
      if (layer.getWeights().length > 0) fromTokens.getLayer(layer.name).setWeights(layer.getWeights());
    }
    const x = input([2, 16, 16, 3]);
    const a = (fromCls.predict(x) as tf.Tensor).dataSync();
    const b = (fromTokens.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    const tokens = tf.input({ shape: [5, 16] });
    expect(() => embeddingHead({ pooling: 'gem' }).apply(tokens)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('is reproducible from its seed, 0 included', () => {
    for (const seed of [0, 3]) {
      const a = vit({ ...tiny, seed }).getWeights();
      const b = vit({ ...tiny, seed }).getWeights();
      expect(a.map((w) => Array.from(w.dataSync()))).toEqual(b.map((w) => Array.from(w.dataSync())));
    }
    const c = vit({ ...tiny, seed: 4 })
      .getLayer('blocks_0_attn')
      .getWeights()[0]!
      .dataSync();
    const d = vit({ ...tiny, seed: 5 })
      .getLayer('blocks_0_attn')
      .getWeights()[0]!
      .dataSync();
    expect(Array.from(c)).not.toEqual(Array.from(d));
  });

  it('embeds each image independently of the rest of the batch, the same in training and inference mode', () => {
    // What the engine's chunked (multistage) step needs: no batch statistics, no dropout.
    const model = vit(tiny);
    const x = input([6, 16, 16, 3]);
    const whole = (model.apply(x, { training: true }) as tf.Tensor).arraySync() as number[][];
    const first = (model.predict(tf.slice(x, 0, 2)) as tf.Tensor).arraySync() as number[][];
    const rest = (model.predict(tf.slice(x, 2, 4)) as tf.Tensor).arraySync() as number[][];
    const parts = [...first, ...rest];
    for (const [i, row] of whole.entries()) {
      for (const [j, v] of row.entries()) expect(v).toBeCloseTo(parts[i]![j]!, 5);
    }
  });

  it('refuses sizes that do not fit', () => {
    expect(() => vit({ ...tiny, inputShape: [20, 16, 3] })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => vit({ ...tiny, numHeads: 3 })).toThrow(/does not divide width/);
    expect(() => vit({ preset: 'L/16' as 'B/16' })).toThrow(/preset must be one of B\/16, B\/32/);
    expect(() => vit({ ...tiny, output: 'tokens', preLogits: 8 })).toThrow(/output 'cls'/);
  });
});

describe('PatchEmbedding', () => {
  it('computes what a convolution with kernel = stride = patch size and a reshape compute', () => {
    const x = tf.input({ shape: [12, 8, 3] });
    const patches = new PatchEmbedding({ patchSize: 4, filters: 5 });
    const conv = tf.layers.conv2d({ filters: 5, kernelSize: 4, strides: 4, padding: 'valid' });
    const a = tf.model({ inputs: x, outputs: patches.apply(x) as tf.SymbolicTensor });
    const b = tf.model({
      inputs: x,
      outputs: tf.layers.reshape({ targetShape: [6, 5] }).apply(conv.apply(x)) as tf.SymbolicTensor,
    });
    conv.setWeights(patches.getWeights()); // the same weights: HWIO kernel and bias
    const images = input([2, 12, 8, 3], 4);
    const got = (a.predict(images) as tf.Tensor).dataSync();
    const want = (b.predict(images) as tf.Tensor).dataSync();
    expect(a.outputs[0]!.shape).toEqual([null, 6, 5]);
    for (const [i, v] of want.entries()) expect(got[i]).toBeCloseTo(v, 5);
    expect(() => patches.apply(tf.input({ shape: [10, 8, 3] }))).toThrow(/whole number of 4 x 4 patches/);
  });
});

describe('vit on wasm', () => {
  it('has a finite, non-zero gradient for every trainable weight', () => {
    expect(tf.getBackend()).toBe('wasm');
    const model = vit({ ...tiny, preLogits: 12 });
    const grads = gradients(model, input([6, 16, 16, 3]), labels);
    expect(grads.size).toBe(model.trainableWeights.length);
    expect([...grads.keys()]).toEqual(
      expect.arrayContaining([
        'embed/cls_token',
        'embed/pos_embed',
        'blocks_1_attn/qkv_kernel',
        'blocks_1_attn/qkv_bias',
        'blocks_1_attn/proj_kernel',
        'norm/gamma',
        'pre_logits/kernel',
      ]),
    );
    for (const [name, g] of grads) {
      expect(g.every(Number.isFinite), name).toBe(true);
      expect(
        g.some((v) => v !== 0),
        name,
      ).toBe(true);
    }
  });

  it('matches central differences in the attention weights', () => {
    const x = tf.input({ shape: [3, 4] });
    const layer = new MultiHeadSelfAttention({ numHeads: 2, qkvBias: true, name: 'attention' });
    const model = tf.model({ inputs: x, outputs: layer.apply(x) as tf.SymbolicTensor });
    const data = input([2, 3, 4], 5);
    const target = input([2, 3, 4], 6);
    const loss = () => tf.sum(tf.mul(model.apply(data) as tf.Tensor, target)) as tf.Scalar;
    const kernel = layer.trainableWeights[0]!.read() as tf.Variable;
    const { grads } = tf.variableGrads(loss, [kernel]);
    const analytic = grads[kernel.name]!.dataSync();
    const base = kernel.dataSync().slice();
    const h = 1e-2;
    for (const i of [0, 5, 17, 30, 47]) {
      const at = (delta: number) => {
        const w = base.slice();
        w[i]! += delta;
        kernel.assign(tf.tensor(w, kernel.shape));
        return loss().dataSync()[0]!;
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      expect(analytic[i]).toBeCloseTo(numeric, 2);
    }
    kernel.assign(tf.tensor(base, kernel.shape));
  });

  it('one Adam step lowers the loss on its batch and moves every trainable weight', () => {
    const model = vit(tiny);
    const x = input([6, 16, 16, 3]);
    const before = snapshot(model.trainableWeights);
    const [loss0] = train(model, x, labels, { steps: 1, optimizer: tf.train.adam(1e-3) });
    expect(lossOf(model, x, labels)).toBeLessThan(loss0!);
    const after = snapshot(model.trainableWeights);
    expect(after.size).toBe(before.size);
    for (const [name, values] of after) {
      expect(values.every(Number.isFinite), name).toBe(true);
      expect(values, name).not.toEqual(before.get(name));
    }
  });

  it('leaks no tensors in inference or in a gradient computation', async () => {
    const model = vit(tiny);
    const x = input([4, 16, 16, 3]);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    await assertNoTensorLeaks(() => {
      tf.dispose(model.predict(x) as tf.Tensor);
      const { value, grads } = tf.variableGrads(
        () => pairLoss(model.apply(x, { training: true }) as tf.Tensor, labels.slice(0, 4)),
        vars,
      );
      tf.dispose([value, grads]);
    });
  });
});

describe('vit save and load', () => {
  it('gives identical embeddings after training, saving and reloading', async () => {
    const model = vit({ ...tiny, qkvBias: false, preLogits: 12, layerNormEpsilon: 1e-5 });
    const x = input([6, 16, 16, 3]);
    train(model, x, labels, { steps: 2, optimizer: tf.train.adam(0.01) });
    const dir = join(root, 'vit');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
    expect(loaded.trainableWeights.length).toBe(model.trainableWeights.length);
    expect(loaded.getLayer('blocks_1_attn').getConfig()).toMatchObject({ numHeads: 2, qkvBias: false });
    expect(loaded.getLayer('norm').getConfig()).toMatchObject({ epsilon: 1e-5 });
    // Training goes on from the reloaded weights.
    const [loss] = train(loaded, x, labels, { steps: 1, optimizer: tf.train.adam(0.01) });
    expect(Number.isFinite(loss)).toBe(true);
  });

  it('round-trips the token-sequence trunk with the cls-pooling head', async () => {
    const model = vit({ ...tiny, output: 'tokens' });
    const x = input([2, 16, 16, 3]);
    const dir = join(root, 'vit-tokens');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
  });
});
