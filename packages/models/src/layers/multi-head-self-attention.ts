import { RecallkitError, tf } from '@recallkit/core';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export interface MultiHeadSelfAttentionArgs extends LayerArgs {
  /** Number of attention heads; must divide the channel count. */
  numHeads?: number;
  /** Whether the joint query / key / value projection has a bias (default true, as timm's ViTs). */
  qkvBias?: boolean;
  /** Initialisers of the two projections' kernels and biases (default: Glorot uniform, zeros); not part of the config. */
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

/**
 * Multi-head self-attention over a [batch, tokens, channels] sequence, laid out as timm's `Attention`:
 * one linear layer computes queries, keys and values together (`qkv`, channels -> 3 x channels, the
 * output read as (3, heads, head size)), each head attends with softmax(q k^T / sqrt(head size)), the
 * heads are concatenated and projected back (`proj`). Weights: qkv_kernel [C, 3C], qkv_bias [3C]
 * (unless `qkvBias` is false), proj_kernel [C, C], proj_bias [C]; the kernels are the transposes of
 * PyTorch's Linear weights. Built from matMul, reshape, transpose, split and softmax, which all have
 * gradients on every backend, wasm included.
 */
export class MultiHeadSelfAttention extends tf.layers.Layer {
  static className = 'MultiHeadSelfAttention';
  readonly numHeads: number;
  readonly qkvBias: boolean;
  private readonly kernelInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private qkvKernel: tf.LayerVariable | null = null;
  private qkvBiasWeight: tf.LayerVariable | null = null;
  private projKernel: tf.LayerVariable | null = null;
  private projBias: tf.LayerVariable | null = null;

  constructor(args: MultiHeadSelfAttentionArgs = {}) {
    super(args);
    this.numHeads = args.numHeads ?? 1;
    if (!Number.isInteger(this.numHeads) || this.numHeads < 1) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `MultiHeadSelfAttention: numHeads must be a positive integer, got ${this.numHeads}`,
      );
    }
    this.qkvBias = args.qkvBias ?? true;
    this.kernelInitializer = args.kernelInitializer ?? tf.initializers.glorotUniform({});
    this.biasInitializer = args.biasInitializer ?? tf.initializers.zeros();
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const channels = shape[2];
    if (shape.length !== 3 || channels == null) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `MultiHeadSelfAttention takes [batch, tokens, channels] with known channels; got [${shape.join(', ')}]`,
      );
    }
    if (channels % this.numHeads !== 0) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `MultiHeadSelfAttention: ${this.numHeads} heads do not divide ${channels} channels`,
      );
    }
    this.qkvKernel = this.addWeight(
      'qkv_kernel',
      [channels, 3 * channels],
      'float32',
      this.kernelInitializer,
    );
    if (this.qkvBias) {
      this.qkvBiasWeight = this.addWeight('qkv_bias', [3 * channels], 'float32', this.biasInitializer);
    }
    this.projKernel = this.addWeight('proj_kernel', [channels, channels], 'float32', this.kernelInitializer);
    this.projBias = this.addWeight('proj_bias', [channels], 'float32', this.biasInitializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const [batch, tokens, channels] = x.shape as [number, number, number];
      const heads = this.numHeads;
      const headSize = channels / heads;
      const rows = tf.reshape(x, [batch * tokens, channels]);
      let qkv = tf.matMul(rows, this.qkvKernel!.read());
      if (this.qkvBiasWeight != null) qkv = tf.add(qkv, this.qkvBiasWeight.read());
      // [B * N, 3C] -> [B, N, 3 * H, d] -> [B, 3 * H, N, d]: queries, keys, values of every head.
      const split = tf.transpose(tf.reshape(qkv, [batch, tokens, 3 * heads, headSize]), [0, 2, 1, 3]);
      const [q, k, v] = tf
        .split(split, 3, 1)
        .map((t) => tf.reshape(t, [batch * heads, tokens, headSize])) as [
        tf.Tensor3D,
        tf.Tensor3D,
        tf.Tensor3D,
      ];
      const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headSize));
      const attended = tf.matMul(tf.softmax(scores), v); // [B * H, N, d]
      const merged = tf.reshape(
        tf.transpose(tf.reshape(attended, [batch, heads, tokens, headSize]), [0, 2, 1, 3]),
        [batch * tokens, channels],
      );
      const projected = tf.add(tf.matMul(merged, this.projKernel!.read()), this.projBias!.read());
      return tf.reshape(projected, [batch, tokens, channels]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads, qkvBias: this.qkvBias };
  }
}
