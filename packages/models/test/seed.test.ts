import { tf, useBackend } from '@recallkit/core';
import { embeddingHead, mlp, resnet, smallCnn, withEmbeddingHead } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Every weight of the model as raw bytes, in `model.weights` order, with its name. */
function weightBytes(model: tf.LayersModel): [string, Uint8Array][] {
  const out = model.weights.map((w): [string, Uint8Array] => {
    const data = w.read().dataSync() as Float32Array;
    return [
      w.originalName,
      new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
    ];
  });
  model.dispose();
  return out;
}

const trunk = () => {
  const input = tf.input({ shape: [3, 3, 5] });
  const features = tf.layers
    .conv2d({ filters: 6, kernelSize: 1, kernelInitializer: 'ones', name: 'fixed_conv' })
    .apply(input);
  return tf.model({ inputs: input, outputs: features as tf.SymbolicTensor });
};

const builders: [string, (seed: number) => tf.LayersModel][] = [
  ['smallCnn', (seed) => smallCnn({ embeddingDim: 8, seed })],
  ['mlp', (seed) => mlp({ inputShape: [6], hidden: [5, 4], embeddingDim: 3, seed })],
  [
    'resnet',
    (seed) => resnet({ inputShape: [8, 8, 3], blocks: [1, 1], width: 4, head: { embeddingDim: 4 }, seed }),
  ],
  [
    'resnet bottleneck',
    (seed) =>
      resnet({
        inputShape: [8, 8, 3],
        blocks: [1],
        bottleneck: true,
        width: 2,
        stem: 'small',
        head: false,
        seed,
      }),
  ],
  [
    'resnet torch padding',
    (seed) => resnet({ inputShape: [8, 8, 3], blocks: [1], width: 2, padding: 'torch', seed }),
  ],
  ['withEmbeddingHead', (seed) => withEmbeddingHead(trunk(), { embeddingDim: 4, seed })],
  [
    'embeddingHead',
    (seed) => {
      const input = tf.input({ shape: [7] });
      return tf.model({ inputs: input, outputs: embeddingHead({ embeddingDim: 3, seed }).apply(input) });
    },
  ],
];

describe('seeded initialisation', () => {
  it.each(builders)(
    '%s: the same seed gives the same weights, bit for bit, for seeds 0 and 1',
    (_, build) => {
      for (const seed of [0, 1]) {
        const a = weightBytes(build(seed));
        const b = weightBytes(build(seed));
        expect(a.map(([name]) => name)).toEqual(b.map(([name]) => name));
        for (const [i, [name, bytes]] of a.entries()) {
          expect(Buffer.from(b[i]![1]).equals(Buffer.from(bytes)), `seed ${seed}, ${name}`).toBe(true);
        }
      }
    },
  );

  it.each(builders)('%s: seeds 0 and 1 give different weights', (_, build) => {
    const zero = weightBytes(build(0));
    const one = weightBytes(build(1));
    // Every randomly initialised weight differs; constants (biases of zero, norms) stay equal.
    const differing = zero.filter(([, bytes], i) => !Buffer.from(bytes).equals(Buffer.from(one[i]![1])));
    expect(differing.length).toBeGreaterThan(0);
    const kernels = zero.filter(([name]) => /kernel$/.test(name) && !name.startsWith('fixed_'));
    for (const [name] of kernels) expect(differing.map(([n]) => n)).toContain(name);
  });

  it('rejects a seed that is not a finite number', () => {
    expect(() => mlp({ seed: Number.NaN })).toThrow(/seed/);
    expect(() => resnet({ seed: Number.POSITIVE_INFINITY })).toThrow(/seed/);
  });
});
