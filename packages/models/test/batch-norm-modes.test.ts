import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import {
  FrozenBatchNormalization,
  freezeBatchNorm,
  loadModel,
  loadTorchResNet,
  loadTrunk,
  resnet,
  saveModel,
} from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, snapshot, tempDir, train } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const root = tempDir();
const fixtures = new URL('./fixtures/', import.meta.url).pathname;
const labels = [0, 0, 1, 1, 2, 2];

const tiny = (batchNorm: 'train' | 'frozen-stats' | 'frozen') =>
  resnet({
    inputShape: [8, 8, 3],
    blocks: [1, 1],
    width: 4,
    stem: 'small',
    batchNorm,
    head: { embeddingDim: 4 },
    seed: 5,
  });

/** Non-trivial statistics and affine terms in every batch-norm layer, as a pretrained trunk has. */
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

const bnWeights = (model: tf.LayersModel, part: RegExp) =>
  model.weights.filter((w) => /bn\d*\//.test(w.originalName) && part.test(w.originalName));
const affine = /\/(gamma|beta)$/;
const statistics = /\/moving_(mean|variance)$/;
const changed = (before: Map<string, number[]>, after: Map<string, number[]>) =>
  [...after].filter(([name, v]) => v.some((a, i) => a !== before.get(name)![i])).map(([name]) => name);

describe("batch norm 'frozen-stats': moving statistics frozen, gamma and beta trained", () => {
  // Rank 2 (features), rank 4 channels-last (feature maps) and rank 4 channels-first take different paths.
  it.each([
    ['features [4, 3]', [3], [4, 3], -1],
    ['feature map [2, 2, 1, 3]', [2, 1, 3], [2, 2, 1, 3], -1],
    ['channels-first map [4, 3, 1, 1]', [3, 1, 1], [4, 3, 1, 1], 1],
  ] as const)('%s: one SGD step moves gamma and beta by exactly their gradient', (_, shape, batch, axis) => {
    const eps = 1e-5;
    const layer = new FrozenBatchNormalization({ axis, epsilon: eps, trainableAffine: true });
    const x = tf.input({ shape: [...shape] });
    const model = tf.model({ inputs: x, outputs: layer.apply(x) as tf.SymbolicTensor });
    const [gamma, beta, mean, variance] = [
      [1.5, 0.5, -1],
      [0.2, -0.1, 0.3],
      [0.4, -0.2, 1],
      [2, 0.5, 1.5],
    ];
    layer.setWeights([gamma, beta, mean, variance].map((v) => tf.tensor1d(v!)));
    expect(model.trainableWeights.map((w) => w.originalName.split('/').at(-1))).toEqual(['gamma', 'beta']);
    const xs = [
      [1, 2, 3],
      [-1, 0.5, 2],
      [0, -2, 1],
      [3, 1, -1],
    ];
    const c = [1, -2, 0.5];
    const lr = 0.1;
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    // loss = sum_b sum_j c_j * y_bj, with y = gamma * (x - mean) / sqrt(var + eps) + beta.
    tf.train.sgd(lr).minimize(
      () => {
        const y = model.apply(tf.tensor(xs.flat(), [...batch]), { training: true }) as tf.Tensor;
        return tf.sum(tf.mul(tf.reshape(y, [4, 3]), tf.tensor1d(c)));
      },
      false,
      vars,
    );
    const [g, b, m, v] = layer.getWeights().map((w) => Array.from(w.dataSync()));
    for (let j = 0; j < 3; j++) {
      const xhat = xs.map((row) => (row[j]! - mean![j]!) / Math.sqrt(variance![j]! + eps));
      expect(g![j]).toBeCloseTo(gamma![j]! - lr * c[j]! * xhat.reduce((s, h) => s + h, 0), 5);
      expect(b![j]).toBeCloseTo(beta![j]! - lr * c[j]! * xs.length, 5);
    }
    expect(m).toEqual(mean!.map(Math.fround));
    expect(v).toEqual(variance!.map(Math.fround));
  });

  it('in a ResNet: a training step changes every gamma and beta and no moving statistic', () => {
    const model = tiny('frozen-stats');
    randomiseBatchNorm(model);
    const bn = model.layers.filter((l) => l instanceof FrozenBatchNormalization);
    expect(bn).toHaveLength(6);
    expect(bn.every((l) => (l as FrozenBatchNormalization).trainableAffine)).toBe(true);
    expect(model.trainableWeights.filter((w) => /bn\d*\//.test(w.originalName))).toHaveLength(2 * 6);
    const x = input([6, 8, 8, 3]);
    const stats = snapshot(bnWeights(model, statistics));
    const scaleShift = snapshot(bnWeights(model, affine));
    const others = snapshot(model.trainableWeights.filter((w) => !/bn\d*\//.test(w.originalName)));
    train(model, x, labels, { steps: 1 });
    expect(snapshot(bnWeights(model, statistics))).toEqual(stats);
    expect(changed(scaleShift, snapshot(bnWeights(model, affine))).sort()).toEqual(
      [...scaleShift.keys()].sort(),
    );
    expect(
      changed(others, snapshot(model.trainableWeights.filter((w) => !/bn\d*\//.test(w.originalName)))),
    ).toHaveLength(others.size);
  });

  it('normalises with the moving statistics in training mode too', () => {
    const model = tiny('frozen-stats');
    randomiseBatchNorm(model);
    const x = input([6, 8, 8, 3], 2);
    const inference = (model.predict(x) as tf.Tensor).dataSync();
    const training = (model.apply(x, { training: true }) as tf.Tensor).dataSync();
    expect(Array.from(training)).toEqual(Array.from(inference));
  });

  it("'frozen' leaves gamma and beta unchanged as well", () => {
    const model = tiny('frozen');
    randomiseBatchNorm(model);
    expect(model.trainableWeights.some((w) => /bn\d*\//.test(w.originalName))).toBe(false);
    const before = snapshot(bnWeights(model, /./));
    train(model, input([6, 8, 8, 3]), labels, { steps: 1 });
    expect(snapshot(bnWeights(model, /./))).toEqual(before);
  });

  it("'train' is ordinary batch norm: its moving statistics move in the same step", () => {
    const model = tiny('train');
    randomiseBatchNorm(model);
    const before = snapshot(bnWeights(model, statistics));
    train(model, input([6, 8, 8, 3]), labels, { steps: 1 });
    expect(changed(before, snapshot(bnWeights(model, statistics)))).toHaveLength(before.size);
  });

  it('survives saving and loading: gamma and beta still train', async () => {
    const model = tiny('frozen-stats');
    randomiseBatchNorm(model);
    const dir = join(root, 'frozen-stats');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(loaded.trainableWeights.map((w) => w.originalName)).toEqual(
      model.trainableWeights.map((w) => w.originalName),
    );
    const x = input([6, 8, 8, 3], 3);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
  });

  it('freezeBatchNorm(model, mode) converts a trained model either way', async () => {
    const model = tiny('train');
    randomiseBatchNorm(model);
    const x = input([6, 8, 8, 3], 4);
    const reference = (model.predict(x) as tf.Tensor).dataSync();
    for (const mode of ['frozen-stats', 'frozen'] as const) {
      const frozen = await freezeBatchNorm(model, mode);
      const layers = frozen.layers.filter(
        (l) => l instanceof FrozenBatchNormalization,
      ) as FrozenBatchNormalization[];
      expect(layers).toHaveLength(6);
      expect(layers.every((l) => l.trainableAffine === (mode === 'frozen-stats'))).toBe(true);
      const out = (frozen.apply(x, { training: true }) as tf.Tensor).dataSync();
      for (const [i, v] of reference.entries()) expect(out[i]).toBeCloseTo(v, 6);
    }
    await expect(freezeBatchNorm(model, 'train' as 'frozen')).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });
});

describe('batch-norm defaults and options', () => {
  const file = join(fixtures, 'torch_resnet_basic.safetensors');
  const modes = (model: tf.LayersModel) =>
    model.layers
      .filter((l) => l.getClassName().includes('BatchNormalization'))
      .map((l) =>
        l instanceof FrozenBatchNormalization ? (l.trainableAffine ? 'frozen-stats' : 'frozen') : 'train',
      );

  it("pretrained ResNets default to 'frozen-stats'; from-scratch ones to 'train'", async () => {
    const torch = await loadTorchResNet(file, { inputShape: [19, 19, 3] });
    expect(new Set(modes(torch))).toEqual(new Set(['frozen-stats']));
    expect(new Set(modes(resnet({ inputShape: [8, 8, 3], blocks: [1], width: 2, seed: 0 })))).toEqual(
      new Set(['train']),
    );
    const dir = join(root, 'trunk');
    await saveModel(resnet({ inputShape: [8, 8, 3], blocks: [1], width: 2, head: false, seed: 0 }), dir);
    expect(new Set(modes(await loadTrunk(dir)))).toEqual(new Set(['frozen-stats']));
    expect(new Set(modes(await loadTrunk(dir, { batchNorm: 'train' })))).toEqual(new Set(['train']));
    expect(new Set(modes(await loadTrunk(dir, { batchNorm: 'frozen' })))).toEqual(new Set(['frozen']));
  });

  it('keeps frozenBatchNorm as the older spelling, and names bad or contradictory options', async () => {
    expect(
      new Set(modes(await loadTorchResNet(file, { inputShape: [19, 19, 3], frozenBatchNorm: true }))),
    ).toEqual(new Set(['frozen']));
    expect(
      new Set(modes(await loadTorchResNet(file, { inputShape: [19, 19, 3], frozenBatchNorm: false }))),
    ).toEqual(new Set(['train']));
    expect(
      new Set(modes(await loadTorchResNet(file, { inputShape: [19, 19, 3], batchNorm: 'frozen' }))),
    ).toEqual(new Set(['frozen']));
    expect(() => resnet({ batchNorm: 'eval' as 'frozen' })).toThrow(
      "resnet: batchNorm must be one of 'train', 'frozen-stats', 'frozen'",
    );
    expect(() => resnet({ batchNorm: 'frozen-stats', frozenBatchNorm: true })).toThrow(/contradicts/);
  });
});
