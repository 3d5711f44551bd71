import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { loadTorchResNet, readSafetensors, resnet, withEmbeddingHead } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, tempDir, train } from './helpers';

// fixtures/torch_resnet*.{json,safetensors}: narrow torchvision-style ResNets and their PyTorch
// outputs, written by fixtures/make_torch_resnet_fixture.py.
const fixtures = new URL('./fixtures/', import.meta.url).pathname;
interface Stored {
  shape: number[];
  values: number[];
}
const reference = JSON.parse(readFileSync(join(fixtures, 'torch_resnet.json'), 'utf8')) as Record<
  string,
  Stored
>;
const root = tempDir();

beforeAll(async () => {
  await useBackend('wasm');
});

describe('loadTorchResNet', () => {
  it.each(['basic', 'bottleneck'])(
    'rebuilds the %s-block PyTorch ResNet and reproduces its features',
    async (kind) => {
      const expected = reference[kind]!;
      const trunk = await loadTorchResNet(join(fixtures, `torch_resnet_${kind}.safetensors`), {
        inputShape: [19, 19, 3],
      });
      expect(trunk.outputs[0]!.shape.slice(1)).toEqual(expected.shape.slice(1));
      const x = tf.tensor(reference['input_nhwc']!.values, reference['input_nhwc']!.shape);
      const got = (trunk.predict(x) as tf.Tensor).dataSync();
      expect(got.length).toBe(expected.values.length);
      let worst = 0;
      for (const [i, v] of expected.values.entries()) worst = Math.max(worst, Math.abs(got[i]! - v));
      expect(worst).toBeLessThan(1e-4);
    },
  );

  it('fine-tunes with frozen batch norm and the paper head on wasm', async () => {
    const trunk = await loadTorchResNet(join(fixtures, 'torch_resnet_basic.safetensors'), {
      inputShape: [19, 19, 3],
      frozenBatchNorm: true,
    });
    const model = withEmbeddingHead(trunk, { embeddingDim: 4, seed: 0 });
    const bn = Array.from(model.getLayer('stem_bn').getWeights()[2]!.dataSync());
    const losses = train(model, input([6, 19, 19, 3]), [0, 0, 1, 1, 2, 2], {
      steps: 3,
      optimizer: tf.train.adam(0.01),
    });
    expect(losses[2]).toBeLessThan(losses[0]!);
    expect(Array.from(model.getLayer('stem_bn').getWeights()[2]!.dataSync())).toEqual(bn);
  });

  it('TF padding would shift the sampling grid: the same weights in a padding "same" ResNet differ', async () => {
    const torchPadded = await loadTorchResNet(join(fixtures, 'torch_resnet_basic.safetensors'), {
      inputShape: [19, 19, 3],
    });
    const tfPadded = resnet({ inputShape: [19, 19, 3], blocks: [1, 2], width: 4, head: false });
    for (const layer of tfPadded.layers) {
      if (layer.getWeights().length > 0) layer.setWeights(torchPadded.getLayer(layer.name).getWeights());
    }
    const x = tf.tensor(reference['input_nhwc']!.values, reference['input_nhwc']!.shape);
    const a = (torchPadded.predict(x) as tf.Tensor).dataSync();
    const b = (tfPadded.predict(x) as tf.Tensor).dataSync();
    expect(a.length).toBe(b.length);
    expect(a.some((v, i) => Math.abs(v - b[i]!) > 1e-3)).toBe(true);
  });

  it('names missing tensors and files that are not safetensors', async () => {
    const bad = join(root, 'bad.safetensors');
    writeFileSync(bad, Buffer.from('not a safetensors file'));
    await expect(loadTorchResNet(bad)).rejects.toMatchObject({ code: 'INVALID_SAFETENSORS' });
    // A file with only the stem: no layer1...
    const header = Buffer.from(
      JSON.stringify({ 'conv1.weight': { dtype: 'F32', shape: [1, 1, 1, 1], data_offsets: [0, 4] } }),
    );
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(header.length));
    const stemOnly = join(root, 'stem.safetensors');
    writeFileSync(stemOnly, Buffer.concat([size, header, Buffer.alloc(4)]));
    await expect(loadTorchResNet(stemOnly)).rejects.toMatchObject({ code: 'TORCH_RESNET_TENSOR' });
  });
});

describe('readSafetensors', () => {
  it('widens F16, BF16 and I64 tensors to float32', async () => {
    // F16 1.5 = 0x3e00, -2 = 0xc000, 0.25 = 0x3400; BF16 1.5 = 0x3fc0, -3 = 0xc040; I64 7.
    const body = Buffer.alloc(6 + 4 + 8);
    for (const [i, h] of [0x3e00, 0xc000, 0x3400].entries()) body.writeUInt16LE(h, 2 * i);
    body.writeUInt16LE(0x3fc0, 6);
    body.writeUInt16LE(0xc040, 8);
    body.writeBigInt64LE(7n, 10);
    const header = Buffer.from(
      JSON.stringify({
        half: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        brain: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
        count: { dtype: 'I64', shape: [], data_offsets: [10, 18] },
        __metadata__: { format: 'pt' },
      }),
    );
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(header.length));
    const path = join(root, 'dtypes.safetensors');
    writeFileSync(path, Buffer.concat([size, header, body]));
    const tensors = await readSafetensors(path);
    expect(Array.from(tensors.get('half')!.data)).toEqual([1.5, -2, 0.25]);
    expect(Array.from(tensors.get('brain')!.data)).toEqual([1.5, -3]);
    expect(Array.from(tensors.get('count')!.data)).toEqual([7]);
    expect([...tensors.keys()]).toEqual(['half', 'brain', 'count']);
  });
});
