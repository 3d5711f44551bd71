import { RecallkitError, type tf } from '@recallkit/core';

/** Constructor options every tf.layers.Layer accepts (name, trainable, inputShape, ...). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
export type Shape = (number | null)[];
export type Kwargs = Record<string, unknown>;

/** Package name of the registration (saved models name the layers by their bare className). */
export const LAYER_PACKAGE = 'Recallkit';

export function singleTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) {
      throw new RecallkitError('INVALID_INPUT', `expected one input tensor, got ${inputs.length}`);
    }
    return inputs[0]!;
  }
  return inputs;
}

export function singleShape(shape: Shape | Shape[]): Shape {
  return Array.isArray(shape[0]) ? (shape[0] as Shape) : (shape as Shape);
}
