import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface SelectTokenArgs extends LayerArgs {
  /** Which token (default 0: a ViT's class token). */
  index?: number;
}

/** One token of a [batch, tokens, channels] sequence, as [batch, channels]: a ViT's class-token output. */
export class SelectToken extends tf.layers.Layer {
  static className = 'SelectToken';
  readonly index: number;

  constructor(args: SelectTokenArgs = {}) {
    super(args);
    this.index = args.index ?? 0;
    if (!Number.isInteger(this.index) || this.index < 0) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `SelectToken: index must be a non-negative integer, got ${this.index}`,
      );
    }
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    const tokens = shape[1];
    if (shape.length !== 3 || (tokens != null && this.index >= tokens)) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `SelectToken(${this.index}) takes [batch, tokens, channels] with more than ${this.index} tokens; got [${shape.join(', ')}]`,
      );
    }
    return [shape[0] ?? null, shape[2] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const [batch, , channels] = x.shape as [number, number, number];
      return tf.reshape(tf.slice(x, [0, this.index, 0], [batch, 1, channels]), [batch, channels]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), index: this.index };
  }
}
