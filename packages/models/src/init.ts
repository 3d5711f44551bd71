import { tf } from '@recallkit/core';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * Hands out PyTorch's default initialisation for Conv2d / Linear layers, seeded per layer:
 * kernel and bias both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw.
 * (kaiming_uniform with a = sqrt(5) gives exactly that bound for the kernel.) In TF.js terms the
 * kernel is varianceScaling(scale 1/3, fanIn, uniform). Without a seed the draws are unseeded.
 */
export class TorchInit {
  private next: number;

  constructor(private readonly seed?: number) {
    this.next = 0;
  }

  private layerSeed(): number | undefined {
    if (this.seed === undefined) return undefined;
    // Distinct, deterministic seed per initialiser so layers never share a random stream.
    return this.seed * 1000 + this.next++;
  }

  /** Initialisers for a layer whose kernel has `fanIn` inputs per output unit. */
  layer(fanIn: number): { kernelInitializer: Initializer; biasInitializer: Initializer } {
    const bound = 1 / Math.sqrt(fanIn);
    return {
      kernelInitializer: tf.initializers.varianceScaling({
        scale: 1 / 3,
        mode: 'fanIn',
        distribution: 'uniform',
        seed: this.layerSeed(),
      }),
      biasInitializer: tf.initializers.randomUniform({
        minval: -bound,
        maxval: bound,
        seed: this.layerSeed(),
      }),
    };
  }

  /** He-normal with fan_out, torchvision's initialisation for ResNet convolutions. */
  heFanOut(): Initializer {
    return tf.initializers.varianceScaling({
      scale: 2,
      mode: 'fanOut',
      distribution: 'normal',
      seed: this.layerSeed(),
    });
  }
}
