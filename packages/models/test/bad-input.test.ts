// Model builders, embedDataset and the loaders given bad input: a named error or a defined
// behaviour (the table in docs/bad-input.md).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { beforeAll, expect } from 'vitest';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import {
  embedDataset,
  embeddingHead,
  L2Normalize,
  loadModel,
  loadTorchResNet,
  mlp,
  readSafetensors,
  smallCnn,
} from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'recallkit-models-bad-input-'));

beforeAll(async () => {
  await useBackend('wasm');
  writeFileSync(join(root, 'zero.safetensors'), '');
  const weights = readFileSync(new URL('fixtures/torch_resnet_basic.safetensors', import.meta.url));
  writeFileSync(join(root, 'cut.safetensors'), weights.subarray(0, weights.length >> 1));
  writeFileSync(join(root, 'model.json'), '{"modelTopology": ');
});

/** A 4 -> 3 MLP (L2-normalised output). */
const model = () => mlp({ inputShape: [4], hidden: [8], embeddingDim: 3, seed: 1 });
const EMBED = 'embedDataset(model, source)';

const cases: BadInputCase[] = [
  {
    entry: 'smallCnn({ embeddingDim })',
    input: 'embeddingDim 1.5',
    run: () => smallCnn({ embeddingDim: 1.5 }),
    error: { code: 'INVALID_OPTION', message: /smallCnn: embeddingDim must be a positive integer, got 1\.5/ },
  },
  {
    entry: 'smallCnn({ inputShape })',
    input: 'an 8 x 8 input',
    run: () => smallCnn({ inputShape: [8, 8, 1] }),
    error: {
      code: 'INVALID_OPTION',
      message: /inputShape \[8, 8, 1\] is too small .*needs at least 10 x 10/,
    },
  },
  {
    entry: 'mlp({ inputShape })',
    input: 'an empty inputShape',
    run: () => mlp({ inputShape: [] }),
    error: {
      code: 'INVALID_OPTION',
      message: /mlp: inputShape must hold at least one positive integer, got \[\]/,
    },
  },
  {
    entry: 'mlp({ hidden })',
    input: 'a hidden layer of 0 units',
    run: () => mlp({ hidden: [0] }),
    error: { code: 'INVALID_OPTION', message: /mlp: hidden\[0\] must be a positive integer, got 0/ },
  },
  {
    entry: 'embeddingHead().apply(features)',
    input: 'a rank-5 input',
    run: () => embeddingHead().apply(tf.input({ shape: [2, 2, 2, 2] })),
    error: { code: 'INVALID_INPUT', message: /got shape \[, 2, 2, 2, 2\]/ },
  },
  {
    entry: 'L2Normalize layer',
    input: 'an all-zero row',
    run: () => {
      const out = new L2Normalize().apply(tf.zeros([2, 3])) as tf.Tensor;
      const values = Array.from(out.dataSync());
      out.dispose();
      return values;
    },
    defined: (r) => {
      expect(r).toEqual([0, 0, 0, 0, 0, 0]);
      return "zeros: x / max(‖x‖, 1e-12), as PyTorch's F.normalize (the losses and the evaluator then refuse the row)";
    },
  },
  {
    entry: EMBED,
    input: 'NaN in the input of sample 3',
    run: () =>
      embedDataset(model(), [
        tf.zeros([2, 4]),
        tf.tensor2d([
          [1, 2, 3, 4],
          [Number.NaN, 0, 0, 0],
        ]),
      ]),
    error: { code: 'NON_FINITE_INPUT', message: /the input of sample 3 holds a non-finite value/ },
  },
  {
    entry: EMBED,
    input: 'an input of 5 values for a model of 4',
    run: () => embedDataset(model(), [tf.zeros([2, 5])]),
    error: {
      code: 'INVALID_INPUT',
      message: /a batch of shape \[2,5\] \(samples from 0\) does not fit the model's input \[batch,4\]/,
    },
  },
  {
    entry: EMBED,
    input: 'an indexed source whose load returns 1 row for 4 indices',
    run: () => embedDataset(model(), { length: 4, load: async () => tf.zeros([1, 4]) }),
    error: { code: 'INVALID_INPUT', message: /the source returned 1 rows for the 4 samples 0\.\.3/ },
  },
  {
    entry: EMBED,
    input: 'a batch of 0 rows among others',
    run: () => embedDataset(model(), [tf.zeros([2, 4]), tf.zeros([0, 4]), tf.zeros([1, 4])]),
    defined: (r) => {
      expect((r as { count: number }).count).toBe(3);
      return 'skipped: it adds no embedding (count 3 from batches of 2, 0 and 1)';
    },
  },
  {
    entry: EMBED,
    input: 'a source with no samples',
    run: () => embedDataset(model(), [tf.zeros([0, 4])]),
    error: { code: 'EMBED_EMPTY', message: /the source yielded no samples/ },
  },
  {
    entry: 'embedDataset(model, source, { batchSize: 0 })',
    input: 'batchSize 0',
    run: () => embedDataset(model(), [tf.zeros([1, 4])], { batchSize: 0 }),
    error: { code: 'INVALID_OPTION', message: /embedDataset: batchSize must be a positive integer, got 0/ },
  },
  {
    entry: 'loadModel(dir)',
    input: 'a missing folder',
    run: () => loadModel(join(root, 'missing')),
    error: { code: 'MODEL_NOT_FOUND', message: /no TensorFlow\.js model at .*missing/ },
  },
  {
    entry: 'loadModel(dir)',
    input: 'a truncated model.json',
    run: () => loadModel(root),
    error: { code: 'INVALID_MODEL_JSON', message: /model\.json is not valid JSON/ },
  },
  {
    entry: 'readSafetensors(path)',
    input: 'a zero-byte file',
    run: () => readSafetensors(join(root, 'zero.safetensors')),
    error: {
      code: 'INVALID_SAFETENSORS',
      message: /zero\.safetensors is not a safetensors file: shorter than its 8-byte header size/,
    },
  },
  {
    entry: 'loadTorchResNet(path)',
    input: 'a truncated file',
    run: () => loadTorchResNet(join(root, 'cut.safetensors')),
    error: {
      code: 'INVALID_SAFETENSORS',
      message: /cut\.safetensors is not a safetensors file: tensor '.*' .* of the wrong size/,
    },
  },
  {
    entry: 'loadTorchResNet(path)',
    input: 'a missing file',
    run: () => loadTorchResNet(join(root, 'missing.safetensors')),
    error: { code: 'SAFETENSORS_READ', message: /cannot read .*missing\.safetensors/ },
  },
];

badInputSuite('@recallkit/models', cases, (text) => text.replaceAll(root, '<root>'));
