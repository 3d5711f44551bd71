import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export interface PatchEmbeddingArgs extends LayerArgs {
  /** Side of the square, non-overlapping patches. */
  patchSize?: number;
  /** Channels of each patch token. */
  filters?: number;
  /** Initialisers of the kernel and the bias (default Glorot uniform, zeros); not part of the config. */
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

/**
 * A ViT's patch embedding: cuts an NHWC image into non-overlapping patchSize x patchSize patches and
 * maps each linearly to `filters` channels, giving [batch, patches, filters] with the patches in
 * row-major order. It computes what a convolution with kernel = stride = patchSize followed by a
 * reshape computes (timm's `patch_embed.proj` then `flatten(2).transpose(1, 2)`), and its weights are
 * that convolution's (kernel [p, p, channels, filters], HWIO; bias [filters]). But it is one matrix
 * product, and its backward pass computes no gradient for the image, which the gradient of TF.js's
 * (fused) convolution always does: on wasm, for a one-block ViT-B/16 on two 224 x 224 images, that
 * unused image gradient took 25 of the 32 seconds of a forward and backward pass (3 s with this layer).
 */
export class PatchEmbedding extends tf.layers.Layer {
  static className = 'PatchEmbedding';
  readonly patchSize: number;
  readonly filters: number;
  private readonly kernelInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: PatchEmbeddingArgs = {}) {
    super(args);
    this.patchSize = args.patchSize ?? 16;
    this.filters = args.filters ?? 768;
    for (const [what, value] of [
      ['patchSize', this.patchSize],
      ['filters', this.filters],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RecallkitError(
          'INVALID_OPTION',
          `PatchEmbedding: ${what} must be a positive integer, got ${value}`,
        );
      }
    }
    this.kernelInitializer = args.kernelInitializer ?? tf.initializers.glorotUniform({});
    this.biasInitializer = args.biasInitializer ?? tf.initializers.zeros();
  }

  private grid(shape: Shape): [number, number, number] {
    const [, height, width, channels] = shape;
    const p = this.patchSize;
    if (
      shape.length !== 4 ||
      height == null ||
      width == null ||
      channels == null ||
      height % p !== 0 ||
      width % p !== 0
    ) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `PatchEmbedding takes NHWC images of known size, a whole number of ${p} x ${p} patches; got [${shape.join(', ')}]`,
      );
    }
    return [height / p, width / p, channels];
  }

  override build(inputShape: Shape | Shape[]): void {
    const [, , channels] = this.grid(singleShape(inputShape));
    const p = this.patchSize;
    this.kernel = this.addWeight('kernel', [p, p, channels, this.filters], 'float32', this.kernelInitializer);
    this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    const [rows, columns] = this.grid(shape);
    return [shape[0] ?? null, rows * columns, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const batch = x.shape[0]!;
      const [rows, columns, channels] = this.grid(x.shape);
      const p = this.patchSize;
      // [B, H, W, C] -> [B * rows, p (y), columns, p * C (x, c)] -> [B * rows, columns, p, p * C]:
      // each patch's values in (y, x, c) order, the order of the HWIO kernel's rows.
      const cut = tf.transpose(tf.reshape(x, [batch * rows, p, columns, p * channels]), [0, 2, 1, 3]);
      const flat = tf.reshape(cut, [batch * rows * columns, p * p * channels]);
      const kernel = tf.reshape(this.kernel!.read(), [p * p * channels, this.filters]);
      const tokens = tf.add(tf.matMul(flat, kernel), this.bias!.read());
      return tf.reshape(tokens, [batch, rows * columns, this.filters]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), patchSize: this.patchSize, filters: this.filters };
  }
}
