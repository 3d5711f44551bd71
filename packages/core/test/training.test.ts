import { describe, expect, it } from 'vitest';
import { assertNoTensorLeaks, createRng, tf, useBackend } from '../src/index';

const rng = createRng('training');
const normals = (n: number, scale = 1): Float32Array<ArrayBuffer> =>
  Float32Array.from({ length: n }, () => rng.normal() * scale);

/**
 * Two conv layers with batch norm, max and average pooling, a depthwise conv and a gather:
 * every kernel that core adds to wasm sits on the gradient path.
 */
function net(params: tf.Tensor[], x: tf.Tensor4D): tf.Scalar {
  const [w1, gamma, beta, dw, w2, dense] = params as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor2D,
  ];
  let h: tf.Tensor4D = tf.conv2d(x, w1, 1, 'same');
  const { mean, variance } = tf.moments(h, [0, 1, 2]) as { mean: tf.Tensor4D; variance: tf.Tensor4D };
  h = tf.relu(tf.batchNorm(h, mean, variance, beta, gamma, 1e-3));
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.depthwiseConv2d(h, dw, [2, 1], 'same');
  h = tf.relu(tf.conv2d(h, w2 as tf.Variable<tf.Rank.R4>, 1, 'valid'));
  h = tf.avgPool(h, 2, 2, 'valid');
  const flat = tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D;
  const picked = tf.gather(flat, tf.tensor1d([0, 2, 2, 1], 'int32')); // repeated rows
  return tf.sum(tf.square(tf.matMul(picked, dense)));
}

describe('training on wasm', () => {
  it('tf.grads through a conv net with batch norm and pooling matches the cpu backend', async () => {
    const shapes = [[3, 3, 2, 4], [4], [4], [3, 3, 4, 2], [3, 3, 8, 6], [12, 3]];
    const values = [
      normals(72, 0.5),
      normals(4, 0.1),
      normals(4, 0.1),
      normals(72, 0.5),
      normals(432, 0.3),
      normals(36, 0.5),
    ];
    values[1] = (values[1] as Float32Array<ArrayBuffer>).map((v) => v + 1); // gamma near 1
    const xValues = normals(3 * 16 * 12 * 2);
    const gradientsOn = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      return assertNoTensorLeaks(async () => {
        const params = shapes.map((s, i) => tf.tensor(values[i] as Float32Array, s));
        const x = tf.tensor4d(xValues, [3, 16, 12, 2]);
        const grads = tf.grads((...p: tf.Tensor[]) => net(p, x))(params);
        const out = await Promise.all(grads.map((g) => g.data()));
        tf.dispose([...params, x, ...grads]);
        return out;
      });
    };
    const reference = await gradientsOn('cpu');
    const got = await gradientsOn('wasm');
    reference.forEach((ref, k) => {
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(scale, `parameter ${k} has a gradient`).toBeGreaterThan(0);
      const err = Math.max(...Array.from(ref, (v, i) => Math.abs(v - (got[k]?.[i] as number)))) / scale;
      expect(err, `parameter ${k}`).toBeLessThan(1e-4);
    });
  });

  it("a small CNN's loss falls over 50 steps on MNIST-sized input", async () => {
    await useBackend('wasm');
    // Four classes, each a fixed random 28x28 template; samples are template + noise.
    const classes = 4;
    const templates = Array.from({ length: classes }, () => normals(28 * 28));
    const batch = 32;
    const makeBatch = () => {
      const images = new Float32Array(batch * 28 * 28);
      const labels = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        const label = rng.int(classes);
        labels[b] = label;
        const template = templates[label] as Float32Array;
        for (let p = 0; p < 28 * 28; p++) images[b * 784 + p] = (template[p] as number) + rng.normal();
      }
      return { images, labels };
    };
    await assertNoTensorLeaks(() => {
      const init = (shape: number[], fanIn: number) =>
        tf.tidy(() =>
          tf.variable(
            tf.tensor(
              normals(
                shape.reduce((a, b) => a * b, 1),
                Math.sqrt(2 / fanIn),
              ),
              shape,
            ),
          ),
        );
      const w1 = init([3, 3, 1, 8], 9);
      const w2 = init([3, 3, 8, 16], 72);
      const w3 = init([5 * 5 * 16, classes], 400);
      const optimizer = tf.train.adam(0.01);
      const losses: number[] = [];
      for (let step = 0; step < 50; step++) {
        const { images, labels } = makeBatch();
        const cost = optimizer.minimize(() => {
          const x = tf.tensor4d(images, [batch, 28, 28, 1]);
          let h = tf.maxPool(tf.relu(tf.conv2d(x, w1 as tf.Variable<tf.Rank.R4>, 1, 'valid')), 2, 2, 'valid');
          h = tf.maxPool(tf.relu(tf.conv2d(h, w2 as tf.Variable<tf.Rank.R4>, 1, 'valid')), 2, 2, 'valid');
          const logits = tf.matMul(tf.reshape(h, [batch, -1]) as tf.Tensor2D, w3);
          const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
          return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
        }, true) as tf.Scalar;
        losses.push(cost.dataSync()[0] as number);
        cost.dispose();
      }
      const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
      expect(first).toBeGreaterThan(0.8); // about ln 4 = 1.39 at the start
      expect(last).toBeLessThan(0.3 * first);
      optimizer.dispose();
      tf.dispose([w1, w2, w3]);
    });
  });
});
