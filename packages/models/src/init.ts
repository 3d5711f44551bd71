import { RecallkitError, tf } from '@recallkit/core';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * What a layer seed of 0 becomes for normal draws. TF.js's normal and truncated-normal generators
 * treat a falsy seed as no seed (`seed ? seed : Math.random()`), so seed 0 would give different
 * weights on every call; its uniform generator seeds with 0 as with any number, and keeps it (so
 * uniform draws of seed 0 stay what they always were). Not an integer, so no other layer's seed.
 */
const SEED_FOR_ZERO = 0.5;

/**
 * Hands out PyTorch's default initialisation for Conv2d / Linear layers, seeded per layer:
 * kernel and bias both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw.
 * (kaiming_uniform with a = sqrt(5) gives exactly that bound for the kernel.) In TF.js terms the
 * kernel is varianceScaling(scale 1/3, fanIn, uniform). Without a seed the draws are unseeded.
 */
export class TorchInit {
  private next: number;

  constructor(private readonly seed?: number) {
    if (seed !== undefined && !Number.isFinite(seed)) {
      throw new RecallkitError('INVALID_OPTION', `seed must be a finite number, got ${seed}`);
    }
    this.next = 0;
  }

  private layerSeed(distribution: 'uniform' | 'normal'): number | undefined {
    if (this.seed === undefined) return undefined;
    // Distinct, deterministic seed per initialiser so layers never share a random stream.
    const seed = this.seed * 1000 + this.next++;
    return seed === 0 && distribution === 'normal' ? SEED_FOR_ZERO : seed;
  }

  /** Initialisers for a layer whose kernel has `fanIn` inputs per output unit. */
  layer(fanIn: number): { kernelInitializer: Initializer; biasInitializer: Initializer } {
    const bound = 1 / Math.sqrt(fanIn);
    return {
      kernelInitializer: tf.initializers.varianceScaling({
        scale: 1 / 3,
        mode: 'fanIn',
        distribution: 'uniform',
        seed: this.layerSeed('uniform'),
      }),
      biasInitializer: tf.initializers.randomUniform({
        minval: -bound,
        maxval: bound,
        seed: this.layerSeed('uniform'),
      }),
    };
  }

  /**
   * A normal distribution truncated at two standard deviations (TF.js's truncatedNormal). timm's ViT
   * initialisation, trunc_normal_(std=0.02), cuts at +-2 instead, which at that std hardly ever bites.
   */
  truncatedNormal(stddev: number): Initializer {
    return tf.initializers.truncatedNormal({ mean: 0, stddev, seed: this.layerSeed('normal') });
  }

  /** A normal distribution. */
  normal(stddev: number): Initializer {
    return tf.initializers.randomNormal({ mean: 0, stddev, seed: this.layerSeed('normal') });
  }

  /** He-normal with fan_out, torchvision's initialisation for ResNet convolutions. */
  heFanOut(): Initializer {
    return tf.initializers.varianceScaling({
      scale: 2,
      mode: 'fanOut',
      distribution: 'normal',
      seed: this.layerSeed('normal'),
    });
  }
}
