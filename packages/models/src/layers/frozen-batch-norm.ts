import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface FrozenBatchNormalizationArgs extends LayerArgs {
  /** The feature axis (default -1, channels last). Keras configs may give it as a one-element list. */
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  /**
   * Whether gamma and beta train (default false). True is the authors' batch norm for the pretrained
   * trunk: moving statistics frozen (PyTorch's `model.eval()`), scale and shift in the optimiser.
   */
  trainableAffine?: boolean;
  // Accepted (and ignored) so that a BatchNormalization config converts unchanged.
  momentum?: number;
  [ignored: string]: unknown;
}

/**
 * Batch normalisation fixed in inference mode: y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
 * whatever the `training` flag says. The moving statistics never change; gamma and beta are non-trainable
 * too by default, and trainable with `trainableAffine` (what the authors' code does to the ResNet-50 trunk:
 * BN layers in eval mode, their affine parameters optimised). Weight names and order match
 * BatchNormalization's, so pretrained weights transfer one to one.
 */
export class FrozenBatchNormalization extends tf.layers.Layer {
  static className = 'FrozenBatchNormalization';
  readonly axis: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly trainableAffine: boolean;
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
    this.trainableAffine = args.trainableAffine ?? false;
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
    const add = (name: string, value: number, trainable: boolean) =>
      this.addWeight(name, [dim], 'float32', tf.initializers.constant({ value }), undefined, trainable);
    if (this.scale) this.gamma = add('gamma', 1, this.trainableAffine);
    if (this.center) this.beta = add('beta', 0, this.trainableAffine);
    this.movingMean = add('moving_mean', 0, false);
    this.movingVariance = add('moving_variance', 1, false);
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
      if (this.trainableAffine) {
        // TF.js's batchNorm gradient sums the scale's and offset's gradients over the broadcast axes only
        // for rank-1 parameters of a rank-4, channels-last input (a convolution's feature map): use it
        // there, with the same arithmetic as the frozen and the ordinary layer. Elsewhere fold everything
        // into one per-channel scale and shift, whose gradients elementwise ops reduce correctly.
        if (x.rank === 4 && axis === 3) {
          const flat = (v: tf.LayerVariable | null) => (v == null ? undefined : v.read());
          return tf.batchNorm(
            x,
            flat(this.movingMean)!,
            flat(this.movingVariance)!,
            flat(this.beta),
            flat(this.gamma),
            this.epsilon,
          );
        }
        let scale = tf.rsqrt(tf.add(read(this.movingVariance)!, this.epsilon));
        if (this.gamma != null) scale = tf.mul(scale, read(this.gamma)!);
        let shift = tf.neg(tf.mul(read(this.movingMean)!, scale));
        if (this.beta != null) shift = tf.add(shift, read(this.beta)!);
        return tf.add(tf.mul(x, scale), shift);
      }
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
      trainableAffine: this.trainableAffine,
    };
  }
}
