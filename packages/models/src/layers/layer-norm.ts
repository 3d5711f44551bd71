import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export interface LayerNormArgs extends LayerArgs {
  /** Added to the variance (default 1e-6, timm's ViT; PyTorch's nn.LayerNorm default is 1e-5). */
  epsilon?: number;
  /** Initialisers of the scale (default ones) and the shift (default zeros); not part of the config. */
  gammaInitializer?: Initializer;
  betaInitializer?: Initializer;
}

/**
 * Layer normalisation over the last axis, as PyTorch's nn.LayerNorm computes it:
 * y = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance, for inputs of any rank
 * (a transformer's [batch, tokens, channels] included). Unlike tf.layers.layerNormalization, which
 * tiles the statistics, the scale and the shift to the full input size (and keeps those copies for
 * the backward pass), it only broadcasts them.
 */
export class LayerNorm extends tf.layers.Layer {
  static className = 'LayerNorm';
  readonly epsilon: number;
  private readonly gammaInitializer: Initializer;
  private readonly betaInitializer: Initializer;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;

  constructor(args: LayerNormArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-6;
    if (!(this.epsilon > 0)) {
      throw new RecallkitError('INVALID_OPTION', `LayerNorm: epsilon must be positive, got ${this.epsilon}`);
    }
    this.gammaInitializer = args.gammaInitializer ?? tf.initializers.ones();
    this.betaInitializer = args.betaInitializer ?? tf.initializers.zeros();
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const dim = shape[shape.length - 1];
    if (dim == null) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `LayerNorm: the last axis of input shape [${shape.join(', ')}] must be known`,
      );
    }
    this.gamma = this.addWeight('gamma', [dim], 'float32', this.gammaInitializer);
    this.beta = this.addWeight('beta', [dim], 'float32', this.betaInitializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const centred = tf.sub(x, tf.mean(x, -1, true));
      const variance = tf.mean(tf.square(centred), -1, true);
      const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, this.epsilon)));
      return tf.add(tf.mul(normalised, this.gamma!.read()), this.beta!.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
