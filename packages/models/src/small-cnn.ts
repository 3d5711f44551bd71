import { RecallkitError, tf } from '@recallkit/core';
import { TorchInit } from './init';
import { L2Normalize, registerLayers } from './layers';
import { positiveInt, shapeOf } from './validate';

export interface SmallCnnOptions {
  /** Embedding size (default 128). */
  embeddingDim?: number;
  /** NHWC input shape without the batch axis (default [28, 28, 1]). */
  inputShape?: [number, number, number];
  /** Seed of the PyTorch-style initialisation; unseeded when absent. */
  seed?: number;
}

/**
 * The MNIST peer's network (`Net` in mnist_dml.py): conv3x3-32 ReLU maxpool2, conv3x3-64 ReLU maxpool2
 * (unpadded: 28 -> 26 -> 13 -> 11 -> 5), flatten (64 * 5 * 5 = 1600), linear to embeddingDim, L2 norm.
 * The feature map is flattened in PyTorch's channel-major (C, H, W) order, so the peer's weights carry over
 * with plain transposes, and layers start from PyTorch's default initialisation.
 */
export function smallCnn(options: SmallCnnOptions = {}): tf.LayersModel {
  registerLayers();
  const embeddingDim = positiveInt(options.embeddingDim ?? 128, 'smallCnn: embeddingDim');
  const [height, width, channels] = shapeOf(options.inputShape ?? [28, 28, 1], 3, 'smallCnn: inputShape') as [
    number,
    number,
    number,
  ];
  const side = (n: number) => Math.floor((Math.floor((n - 2) / 2) - 2) / 2);
  if (side(height) < 1 || side(width) < 1) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `smallCnn: inputShape [${height}, ${width}, ${channels}] is too small for two unpadded conv3x3 + maxpool2 stages (needs at least 10 x 10)`,
    );
  }
  const init = new TorchInit(options.seed);
  const input = tf.input({ shape: [height, width, channels], name: 'images' });
  const layers = [
    tf.layers.conv2d({
      filters: 32,
      kernelSize: 3,
      activation: 'relu',
      name: 'conv1',
      ...init.layer(channels * 9),
    }),
    tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
    tf.layers.conv2d({
      filters: 64,
      kernelSize: 3,
      activation: 'relu',
      name: 'conv2',
      ...init.layer(32 * 9),
    }),
    tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
    tf.layers.permute({ dims: [3, 1, 2], name: 'to_channels_first' }),
    tf.layers.flatten({ name: 'flatten' }),
    tf.layers.dense({ units: embeddingDim, name: 'fc', ...init.layer(64 * side(height) * side(width)) }),
    new L2Normalize({ name: 'l2_normalize' }),
  ];
  const output = layers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
  return tf.model({ inputs: input, outputs: output, name: 'small_cnn' });
}
