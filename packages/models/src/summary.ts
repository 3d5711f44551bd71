import type { tf } from '@recallkit/core';

export interface ParameterCount {
  total: number;
  trainable: number;
  nonTrainable: number;
}

const sizeOf = (weights: tf.LayerVariable[]) =>
  weights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 0), 1), 0);

/** Number of scalar parameters, split into trainable and non-trainable (frozen BN statistics, frozen layers). */
export function countParams(model: tf.LayersModel): ParameterCount {
  const trainable = sizeOf(model.trainableWeights);
  const nonTrainable = sizeOf(model.nonTrainableWeights);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** The Keras-style layer table (layer, output shape, parameters, inputs) as a string, instead of printing it. */
export function summarize(model: tf.LayersModel, lineLength = 110): string {
  const lines: string[] = [];
  model.summary(lineLength, undefined, (...message: unknown[]) => lines.push(message.map(String).join(' ')));
  return lines.join('\n');
}
