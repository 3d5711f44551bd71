import { tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface L2NormalizeArgs extends LayerArgs {
  /** Lower bound on the norm, as in PyTorch's F.normalize (default 1e-12). */
  epsilon?: number;
}

/** Divides each row by its L2 norm: x / max(||x||, epsilon) over the last axis. */
export class L2Normalize extends tf.layers.Layer {
  static className = 'L2Normalize';
  readonly epsilon: number;

  constructor(args: L2NormalizeArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-12;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const norm = tf.sqrt(tf.sum(tf.square(x), -1, true));
      return tf.div(x, tf.maximum(norm, this.epsilon));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
