/**
 * The small MNIST CNN of the backends benchmarks (conv3x3-32 ReLU maxpool2, conv3x3-64 ReLU
 * maxpool2, flatten, dense 128, L2 norm), written with plain `tf` ops so every backend runs it.
 */
import { createRng, tf } from '@recallkit/core';

const rng = createRng('bench/backends');

/** A tensor of normal draws times `scale`, from the benchmarks' seeded generator. */
export const randn = (shape: number[], scale: number): tf.Tensor =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale),
    shape,
  );

export interface Cnn {
  params: tf.Variable[];
  embed(x: tf.Tensor4D): tf.Tensor2D;
}

export function smallCnn(): Cnn {
  // Inside tidy: the initial values are released, only the variables stay.
  const v = (shape: number[], fanIn: number) =>
    tf.tidy(() => tf.variable(randn(shape, Math.sqrt(2 / fanIn))));
  const zeros = (n: number) => tf.tidy(() => tf.variable(tf.zeros([n])));
  const w1 = v([3, 3, 1, 32], 9);
  const b1 = zeros(32);
  const w2 = v([3, 3, 32, 64], 288);
  const b2 = zeros(64);
  const w3 = v([5 * 5 * 64, 128], 1600);
  const b3 = zeros(128);
  return {
    params: [w1, b1, w2, b2, w3, b3],
    embed: (x) =>
      tf.tidy(() => {
        let h = tf.maxPool(
          tf.relu(tf.add(tf.conv2d(x, w1 as tf.Variable<tf.Rank.R4>, 1, 'valid'), b1)) as tf.Tensor4D,
          2,
          2,
          'valid',
        );
        h = tf.maxPool(
          tf.relu(tf.add(tf.conv2d(h, w2 as tf.Variable<tf.Rank.R4>, 1, 'valid'), b2)) as tf.Tensor4D,
          2,
          2,
          'valid',
        );
        const e = tf.add(tf.matMul(tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D, w3), b3) as tf.Tensor2D;
        return tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
      }),
  };
}
