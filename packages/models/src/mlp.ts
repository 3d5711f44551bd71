import { RecallkitError, tf } from '@recallkit/core';
import { TorchInit } from './init';
import { L2Normalize, registerLayers } from './layers';
import { positiveInt } from './validate';

export interface MlpOptions {
  /** Input shape without the batch axis (default [28, 28, 1]); flattened first. */
  inputShape?: number[];
  /** Widths of the hidden layers (default [256]). */
  hidden?: number[];
  /** Embedding size (default 128). */
  embeddingDim?: number;
  /** Activation of the hidden layers (default 'relu'). */
  activation?: 'relu' | 'gelu' | 'tanh' | 'elu';
  /** Seed of the PyTorch-style initialisation; unseeded when absent. */
  seed?: number;
}

/** Flatten, hidden dense layers with an activation, a linear layer to the embedding size, L2 norm. */
export function mlp(options: MlpOptions = {}): tf.LayersModel {
  registerLayers();
  const inputShape = options.inputShape ?? [28, 28, 1];
  if (!Array.isArray(inputShape) || inputShape.length === 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `mlp: inputShape must hold at least one positive integer, got ${JSON.stringify(inputShape)}`,
    );
  }
  for (const [i, d] of inputShape.entries()) positiveInt(d, `mlp: inputShape[${i}]`);
  const hidden = options.hidden ?? [256];
  for (const [i, d] of hidden.entries()) positiveInt(d, `mlp: hidden[${i}]`);
  const embeddingDim = positiveInt(options.embeddingDim ?? 128, 'mlp: embeddingDim');
  const init = new TorchInit(options.seed);

  const input = tf.input({ shape: inputShape, name: 'inputs' });
  // tf.layers.flatten needs rank >= 3 (batch included): vectors pass through as they are.
  let x =
    inputShape.length === 1
      ? input
      : (tf.layers.flatten({ name: 'flatten' }).apply(input) as tf.SymbolicTensor);
  let fanIn = inputShape.reduce((a, b) => a * b, 1);
  hidden.forEach((units, i) => {
    x = tf.layers
      .dense({ units, activation: options.activation ?? 'relu', name: `dense${i + 1}`, ...init.layer(fanIn) })
      .apply(x) as tf.SymbolicTensor;
    fanIn = units;
  });
  x = tf.layers
    .dense({ units: embeddingDim, name: 'fc', ...init.layer(fanIn) })
    .apply(x) as tf.SymbolicTensor;
  const output = new L2Normalize({ name: 'l2_normalize' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'mlp' });
}
