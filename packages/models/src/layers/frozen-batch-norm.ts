import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface FrozenBatchNormalizationArgs extends LayerArgs {
  /** The feature axis (default -1, channels last). Keras configs may give it as a one-element list. */
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  // Accepted (and ignored) so that a BatchNormalization config converts unchanged.
  momentum?: number;
  [ignored: string]: unknown;
}

/**
 * Batch normalisation fixed in inference mode: y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
 * whatever the `training` flag says, with all four parameters non-trainable. This is what the paper does to
 * the ResNet-50 trunk (frozen BN). Weight names and order match BatchNormalization's, so pretrained weights
 * transfer one to one.
 */
export class FrozenBatchNormalization extends tf.layers.Layer {
  static className = 'FrozenBatchNormalization';
  readonly axis: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;
  private movingMean: tf.LayerVariable | null = null;
  private movingVariance: tf.LayerVariable | null = null;

  constructor(args: FrozenBatchNormalizationArgs = {}) {
    super(args);
    const axis = Array.isArray(args.axis) ? args.axis : [args.axis ?? -1];
    if (axis.length !== 1 || !Number.isInteger(axis[0])) {
      throw new RecallkitError(
        'BATCH_NORM_AXIS',
        `FrozenBatchNormalization normalises one axis; got axis ${JSON.stringify(args.axis)}`,
      );
    }
    this.axis = axis[0]!;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.supportsMasking = true;
  }

  private resolvedAxis(rank: number): number {
    return this.axis >= 0 ? this.axis : this.axis + rank;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const dim = shape[this.resolvedAxis(shape.length)];
    if (dim == null) {
      throw new RecallkitError(
        'BATCH_NORM_AXIS',
        `FrozenBatchNormalization: axis ${this.axis} of input shape [${shape.join(', ')}] must be known`,
      );
    }
    const add = (name: string, value: number) =>
      this.addWeight(name, [dim], 'float32', tf.initializers.constant({ value }), undefined, false);
    if (this.scale) this.gamma = add('gamma', 1);
    if (this.center) this.beta = add('beta', 0);
    this.movingMean = add('moving_mean', 0);
    this.movingVariance = add('moving_variance', 1);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const axis = this.resolvedAxis(x.rank);
      const broadcast = x.shape.map((d, i) => (i === axis ? d : 1));
      const read = (v: tf.LayerVariable | null) => (v == null ? undefined : tf.reshape(v.read(), broadcast));
      return tf.batchNorm(
        x,
        read(this.movingMean)!,
        read(this.movingVariance)!,
        read(this.beta),
        read(this.gamma),
        this.epsilon,
      );
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      axis: this.axis,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
    };
  }
}
