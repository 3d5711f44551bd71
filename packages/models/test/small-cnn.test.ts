import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { smallCnn } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';

// fixtures/small_cnn_torch.json: the peer's Net (mnist_dml.py) in PyTorch, written by fixtures/make_small_cnn_fixture.py.
interface Stored {
  shape: number[];
  values: number[];
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/small_cnn_torch.json', import.meta.url), 'utf8'),
) as {
  state_dict: Record<string, Stored>;
  input_nchw: Stored;
  output: Stored;
};
const load = (s: Stored) => tf.tensor(s.values, s.shape);

beforeAll(async () => {
  await useBackend('wasm');
});

describe('smallCnn', () => {
  it("has the peer network's layer shapes: 28 -> 26 -> 13 -> 11 -> 5, flatten 1600, L2-normalised output", () => {
    const model = smallCnn();
    expect(model.inputs[0]!.shape).toEqual([null, 28, 28, 1]);
    expect(model.getLayer('conv1').outputShape).toEqual([null, 26, 26, 32]);
    expect(model.getLayer('pool1').outputShape).toEqual([null, 13, 13, 32]);
    expect(model.getLayer('conv2').outputShape).toEqual([null, 11, 11, 64]);
    expect(model.getLayer('pool2').outputShape).toEqual([null, 5, 5, 64]);
    expect(model.getLayer('flatten').outputShape).toEqual([null, 1600]);
    expect(model.outputs[0]!.shape).toEqual([null, 128]);
    // Parameters of the PyTorch Net: 32*9+32 + 64*32*9+64 + 1600*128+128.
    expect(model.countParams()).toBe(320 + 18496 + 204928);
    const y = model.predict(tf.randomNormal([3, 28, 28, 1], 0, 1, 'float32', 1)) as tf.Tensor;
    const norms = tf.norm(y, 2, 1).arraySync() as number[];
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
  });

  it("reproduces the PyTorch peer's outputs once its weights are transposed in", () => {
    const model = smallCnn({ embeddingDim: 8 });
    const sd = fixture.state_dict;
    const oihwToHwio = (s: Stored) => tf.transpose(load(s), [2, 3, 1, 0]);
    model.getLayer('conv1').setWeights([oihwToHwio(sd['conv1.weight']!), load(sd['conv1.bias']!)]);
    model.getLayer('conv2').setWeights([oihwToHwio(sd['conv2.weight']!), load(sd['conv2.bias']!)]);
    model.getLayer('fc').setWeights([tf.transpose(load(sd['fc.weight']!)), load(sd['fc.bias']!)]);
    const x = tf.transpose(load(fixture.input_nchw), [0, 2, 3, 1]);
    const y = (model.predict(x) as tf.Tensor).dataSync();
    expect(y.length).toBe(fixture.output.values.length);
    for (const [i, v] of fixture.output.values.entries()) expect(y[i]).toBeCloseTo(v, 5);
  });

  it("starts from PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for kernels and biases", () => {
    const model = smallCnn({ seed: 3 });
    for (const [name, fanIn] of [
      ['conv1', 9],
      ['conv2', 288],
      ['fc', 1600],
    ] as const) {
      const bound = 1 / Math.sqrt(fanIn);
      const [kernel, bias] = model
        .getLayer(name)
        .getWeights()
        .map((w) => Array.from(w.dataSync()));
      for (const values of [kernel!, bias!]) {
        const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(max).toBeLessThanOrEqual(bound);
      }
      // A uniform on [-b, b] has standard deviation b / sqrt(3); the kernels have >= 288 entries.
      const k = kernel!;
      const sd = Math.sqrt(k.reduce((s, v) => s + v * v, 0) / k.length);
      expect(Math.abs(sd - bound / Math.sqrt(3)) / (bound / Math.sqrt(3))).toBeLessThan(0.12);
    }
  });

  it('is reproducible from its seed', () => {
    const a = smallCnn({ seed: 11 })
      .getWeights()
      .map((w) => Array.from(w.dataSync()));
    const b = smallCnn({ seed: 11 })
      .getWeights()
      .map((w) => Array.from(w.dataSync()));
    const c = smallCnn({ seed: 12 })
      .getWeights()
      .map((w) => Array.from(w.dataSync()));
    expect(a).toEqual(b);
    expect(a[0]).not.toEqual(c[0]);
  });

  it('rejects inputs too small for its two stages', () => {
    expect(() => smallCnn({ inputShape: [8, 8, 1] })).toThrow(/too small/);
    expect(() => smallCnn({ embeddingDim: 0 })).toThrow(/embeddingDim/);
  });
});
