import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface GeMArgs extends LayerArgs {
  /** Initial pooling exponent (default 3, as in the paper). */
  p?: number;
  /** Whether p is learned (default true). */
  trainableP?: boolean;
  /** Activations are clamped to at least epsilon before the power (default 1e-6). */
  epsilon?: number;
}

/**
 * Generalised-mean pooling over the spatial axes of an NHWC feature map:
 * y[b, c] = (mean over h, w of max(x[b, h, w, c], eps)^p)^(1/p), with one learnable p.
 * p = 1 is average pooling; p -> infinity approaches max pooling.
 */
export class GeM extends tf.layers.Layer {
  static className = 'GeM';
  readonly initialP: number;
  readonly trainableP: boolean;
  readonly epsilon: number;
  private p: tf.LayerVariable | null = null;

  constructor(args: GeMArgs = {}) {
    super(args);
    this.initialP = args.p ?? 3;
    this.trainableP = args.trainableP ?? true;
    this.epsilon = args.epsilon ?? 1e-6;
    if (!(this.initialP > 0) || !Number.isFinite(this.initialP)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `GeM: p must be a positive finite number, got ${this.initialP}`,
      );
    }
    if (!(this.epsilon > 0)) {
      throw new RecallkitError('INVALID_OPTION', `GeM: epsilon must be positive, got ${this.epsilon}`);
    }
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    if (shape.length !== 4) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `GeM pools NHWC feature maps (rank 4); got input shape [${shape.join(', ')}]`,
      );
    }
    this.p = this.addWeight(
      'p',
      [1],
      'float32',
      tf.initializers.constant({ value: this.initialP }),
      undefined,
      this.trainableP,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    return [shape[0] ?? null, shape[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const p = this.p!.read();
      const pooled = tf.mean(tf.pow(tf.maximum(x, this.epsilon), p), [1, 2]);
      return tf.pow(pooled, tf.reciprocal(p));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), p: this.initialP, trainableP: this.trainableP, epsilon: this.epsilon };
  }
}
