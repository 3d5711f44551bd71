import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { loadTimmViT, type PositionResample, resamplePositionEmbedding } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers';

// fixtures/timm_vit*.{json,safetensors}: small ViTs in timm's layout and their PyTorch outputs,
// written by fixtures/make_timm_vit_fixture.py.
const fixtures = new URL('./fixtures/', import.meta.url).pathname;
interface Stored {
  shape: number[];
  values: number[];
}
const reference = JSON.parse(readFileSync(join(fixtures, 'timm_vit.json'), 'utf8')) as {
  vit: { input_nhwc: Stored; tokens: Stored };
  vit_resized: { input_nhwc: Stored; cls: Stored };
  vit_prelogits: { input_nhwc: Stored; features: Stored };
  resample: {
    pos_embed: Stored;
    grid: [number, number];
    cases: { mode: PositionResample; size: [number, number]; pos_embed: Stored }[];
  };
};
const file = join(fixtures, 'timm_vit.safetensors');
const root = tempDir();

const tensorOf = (s: Stored) => tf.tensor(s.values, s.shape);
function worstDifference(got: ArrayLike<number>, expected: Stored): number {
  expect(got.length).toBe(expected.values.length);
  let worst = 0;
  for (const [i, v] of expected.values.entries()) worst = Math.max(worst, Math.abs(got[i]! - v));
  return worst;
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('loadTimmViT', () => {
  it('rebuilds the PyTorch ViT and reproduces every output token', async () => {
    const trunk = await loadTimmViT(file, { numHeads: 4, output: 'tokens' });
    expect(trunk.inputs[0]!.shape).toEqual([null, 32, 32, 3]); // the weights' own size: 4 x 4 patches of 8
    expect(trunk.outputs[0]!.shape).toEqual([null, 17, 32]);
    const got = (trunk.predict(tensorOf(reference.vit.input_nhwc)) as tf.Tensor).dataSync();
    expect(worstDifference(got, reference.vit.tokens)).toBeLessThan(1e-4);
  });

  it('outputs the class token by default, and the authors’ head puts unit vectors on it', async () => {
    const trunk = await loadTimmViT(file, { numHeads: 4 });
    expect(trunk.outputs[0]!.shape).toEqual([null, 32]);
    const cls = (trunk.predict(tensorOf(reference.vit.input_nhwc)) as tf.Tensor).dataSync();
    const tokens = reference.vit.tokens.values;
    const expected = { shape: [2, 32], values: [...tokens.slice(0, 32), ...tokens.slice(17 * 32, 18 * 32)] };
    expect(worstDifference(cls, expected)).toBeLessThan(1e-4);

    const model = await loadTimmViT(file, { numHeads: 4, head: { embeddingDim: 8, seed: 0 } });
    expect(model.layers.map((l) => l.name).slice(-3)).toEqual([
      'head_layer_norm',
      'head_linear',
      'head_l2_normalize',
    ]);
    const e = model.predict(tensorOf(reference.vit.input_nhwc)) as tf.Tensor2D;
    expect(e.shape).toEqual([2, 8]);
    for (const n of tf.norm(e, 2, 1).dataSync()) expect(n).toBeCloseTo(1, 5);
  });

  it('runs at another image size with the position embedding resampled as timm does', async () => {
    const trunk = await loadTimmViT(file, { numHeads: 4, inputShape: [40, 40, 3] });
    const got = (trunk.predict(tensorOf(reference.vit_resized.input_nhwc)) as tf.Tensor).dataSync();
    expect(worstDifference(got, reference.vit_resized.cls)).toBeLessThan(1e-4);
    await expect(
      loadTimmViT(file, { numHeads: 4, inputShape: [40, 40, 3], resizePosEmbed: false }),
    ).rejects.toMatchObject({ code: 'TIMM_VIT_POS_EMBED' });
    await expect(loadTimmViT(file, { numHeads: 4, inputShape: [36, 36, 3] })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });

  it('reads pre-logits, a missing qkv bias, the MLP size and a module. prefix from the file', async () => {
    const trunk = await loadTimmViT(join(fixtures, 'timm_vit_prelogits.safetensors'), { numHeads: 2 });
    expect(trunk.outputs[0]!.shape).toEqual([null, 24]);
    expect(trunk.getLayer('blocks_0_mlp_fc1').getWeights()[0]!.shape).toEqual([16, 32]);
    expect(trunk.getLayer('blocks_0_attn').getWeights()).toHaveLength(3);
    const got = (trunk.predict(tensorOf(reference.vit_prelogits.input_nhwc)) as tf.Tensor).dataSync();
    expect(worstDifference(got, reference.vit_prelogits.features)).toBeLessThan(1e-4);
  });

  it('names missing and unsupported tensors, and a width that does not give the heads', async () => {
    const raw = readFileSync(file);
    const headerSize = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + headerSize).toString('utf8')) as Record<string, unknown>;
    const body = raw.subarray(8 + headerSize);
    const write = (name: string, edit: (h: Record<string, unknown>) => void) => {
      const h = structuredClone(header);
      edit(h);
      const json = Buffer.from(JSON.stringify(h));
      const size = Buffer.alloc(8);
      size.writeBigUInt64LE(BigInt(json.length));
      const path = join(root, name);
      writeFileSync(path, Buffer.concat([size, json, body]));
      return path;
    };
    // Width 32 is not a multiple of 64: the heads must be given.
    await expect(loadTimmViT(file)).rejects.toMatchObject({ code: 'TIMM_VIT_HEADS' });
    const noNorm = write('no-norm.safetensors', (h) => {
      delete h['norm.weight'];
    });
    await expect(loadTimmViT(noNorm, { numHeads: 4 })).rejects.toMatchObject({
      code: 'TIMM_VIT_TENSOR',
      message: expect.stringContaining("'norm.weight'"),
    });
    // A layer-scale tensor (timm's ls1.gamma) changes what a block computes: refused, not ignored.
    const layerScale = write('layer-scale.safetensors', (h) => {
      h['blocks.0.ls1.gamma'] = { dtype: 'F32', shape: [32], data_offsets: [0, 128] };
    });
    await expect(loadTimmViT(layerScale, { numHeads: 4 })).rejects.toMatchObject({
      code: 'TIMM_VIT_UNSUPPORTED',
      message: expect.stringContaining('blocks.0.ls1.gamma'),
    });
    const noClassToken = write('no-cls.safetensors', (h) => {
      delete h['cls_token'];
    });
    await expect(loadTimmViT(noClassToken, { numHeads: 4 })).rejects.toMatchObject({
      code: 'TIMM_VIT_UNSUPPORTED',
    });
  });
});

describe('resamplePositionEmbedding', () => {
  it.each(reference.resample.cases.map((c) => [c.mode, c.size.join(' x '), c] as const))(
    '%s to %s matches F.interpolate',
    (mode, _size, c) => {
      const from = reference.resample.grid;
      const got = resamplePositionEmbedding(new Float32Array(reference.resample.pos_embed.values), {
        from,
        to: c.size,
        channels: 3,
        mode,
      });
      expect(worstDifference(got, c.pos_embed)).toBeLessThan(1e-5);
    },
  );
});
