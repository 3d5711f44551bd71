import { RecallkitError, tf } from '@recallkit/core';
import { type EmbeddingHeadOptions, embeddingHead } from './head';
import { TorchInit } from './init';
import {
  LayerNorm,
  MultiHeadSelfAttention,
  PatchEmbedding,
  PositionEmbedding,
  registerLayers,
  SelectToken,
} from './layers';
import { positiveInt, shapeOf } from './validate';

export type ViTPreset = 'B/16' | 'B/32';

/** ViT-B/16 and ViT-B/32 (Dosovitskiy et al. 2021; timm's vit_base_patch16_224 / vit_base_patch32_224). */
export const VIT_PRESETS: Readonly<
  Record<ViTPreset, { patchSize: number; width: number; depth: number; numHeads: number; mlpDim: number }>
> = {
  'B/16': { patchSize: 16, width: 768, depth: 12, numHeads: 12, mlpDim: 3072 },
  'B/32': { patchSize: 32, width: 768, depth: 12, numHeads: 12, mlpDim: 3072 },
};

export interface ViTOptions {
  /** 'B/16' (the default) or 'B/32'; the size options below override it. */
  preset?: ViTPreset;
  /** NHWC input shape without the batch axis (default [224, 224, 3]); height and width are multiples of the patch size. */
  inputShape?: [number, number, number];
  /** Side of the square patches (convolution kernel and stride). */
  patchSize?: number;
  /** Token channels (embedding dimension). */
  width?: number;
  /** Number of transformer blocks. */
  depth?: number;
  /** Attention heads per block; must divide `width`. */
  numHeads?: number;
  /** Hidden units of each block's MLP (default 4 x width). */
  mlpDim?: number;
  /** Bias on the joint query / key / value projection (default true, as timm). */
  qkvBias?: boolean;
  /** Epsilon of the blocks' and the final LayerNorm (default 1e-6, timm's). */
  layerNormEpsilon?: number;
  /** A representation layer (Linear to this size, then tanh) on the class token: the pre-logits of older timm checkpoints. Default none. */
  preLogits?: number;
  /**
   * What the trunk outputs: 'cls' (default), the class token after the final LayerNorm, [batch, width];
   * 'tokens', the whole sequence after it, [batch, 1 + patches, width].
   */
  output?: 'cls' | 'tokens';
  /**
   * The embedding head on top (default: the authors' ViT head, class token -> LayerNorm -> linear (512) -> L2);
   * false returns the trunk.
   */
  head?: EmbeddingHeadOptions | false;
  /** Seed of the initialisation (timm's: truncated normal 0.02 for linear layers and the position embedding). */
  seed?: number;
}

/** The resolved size of a ViT. */
export interface ViTConfig {
  inputShape: [number, number, number];
  patchSize: number;
  width: number;
  depth: number;
  numHeads: number;
  mlpDim: number;
  qkvBias: boolean;
  layerNormEpsilon: number;
  preLogits: number | undefined;
  output: 'cls' | 'tokens';
}

export function vitConfig(options: ViTOptions = {}): ViTConfig {
  const presetName = options.preset ?? 'B/16';
  const preset = VIT_PRESETS[presetName];
  if (preset == null) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `vit: preset must be one of ${Object.keys(VIT_PRESETS).join(', ')}, got ${JSON.stringify(options.preset)}`,
    );
  }
  const inputShape = shapeOf(options.inputShape ?? [224, 224, 3], 3, 'vit: inputShape') as [
    number,
    number,
    number,
  ];
  const patchSize = positiveInt(options.patchSize ?? preset.patchSize, 'vit: patchSize');
  const width = positiveInt(options.width ?? preset.width, 'vit: width');
  const depth = positiveInt(options.depth ?? preset.depth, 'vit: depth');
  const numHeads = positiveInt(options.numHeads ?? preset.numHeads, 'vit: numHeads');
  const mlpDim = positiveInt(
    options.mlpDim ?? (options.width == null ? preset.mlpDim : 4 * width),
    'vit: mlpDim',
  );
  if (width % numHeads !== 0) {
    throw new RecallkitError('INVALID_OPTION', `vit: numHeads ${numHeads} does not divide width ${width}`);
  }
  if (inputShape[0] % patchSize !== 0 || inputShape[1] % patchSize !== 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `vit: the image (${inputShape[0]} x ${inputShape[1]}) must be a whole number of ${patchSize} x ${patchSize} patches`,
    );
  }
  const layerNormEpsilon = options.layerNormEpsilon ?? 1e-6;
  if (!(layerNormEpsilon > 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `vit: layerNormEpsilon must be positive, got ${layerNormEpsilon}`,
    );
  }
  const output = options.output ?? 'cls';
  if (output !== 'cls' && output !== 'tokens') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `vit: output must be 'cls' or 'tokens', got ${JSON.stringify(output)}`,
    );
  }
  const preLogits = options.preLogits == null ? undefined : positiveInt(options.preLogits, 'vit: preLogits');
  if (preLogits != null && output === 'tokens') {
    throw new RecallkitError(
      'INVALID_OPTION',
      "vit: preLogits acts on the class token, so it needs output 'cls'",
    );
  }
  return {
    inputShape,
    patchSize,
    width,
    depth,
    numHeads,
    mlpDim,
    qkvBias: options.qkvBias ?? true,
    layerNormEpsilon,
    preLogits,
    output,
  };
}

type Apply = (x: tf.SymbolicTensor) => tf.SymbolicTensor;
const applied =
  (layer: tf.layers.Layer): Apply =>
  (x) =>
    layer.apply(x) as tf.SymbolicTensor;

/**
 * A Vision Transformer (ViT) as trainable TF.js layers, laid out as timm's VisionTransformer: patch
 * embedding (what a convolution with kernel and stride the patch size computes), a class token and a learned position
 * embedding, pre-norm blocks (LayerNorm, multi-head self-attention, residual; LayerNorm, MLP with exact
 * GELU, residual), a final LayerNorm, and the class token as output. Layer names follow timm's
 * parameter names ('blocks.3.attn' is layer 'blocks_3_attn'), which is how `loadTimmViT` copies weights.
 * By default the authors' head goes on top: LayerNorm (1e-5), a linear layer to 512, L2 normalisation.
 */
export function vit(options: ViTOptions = {}): tf.LayersModel {
  registerLayers();
  const config = vitConfig(options);
  const { inputShape, patchSize, width, depth, numHeads, mlpDim, qkvBias, layerNormEpsilon } = config;
  const init = new TorchInit(options.seed);
  const linear = () => ({ kernelInitializer: init.truncatedNormal(0.02), biasInitializer: 'zeros' as const });
  const norm = (name: string) => applied(new LayerNorm({ epsilon: layerNormEpsilon, name }));

  const input = tf.input({ shape: inputShape, name: 'images' });
  let x = applied(
    new PatchEmbedding({
      patchSize,
      filters: width,
      name: 'patch_embed',
      ...init.layer(patchSize * patchSize * inputShape[2]),
    }),
  )(input);
  x = applied(
    new PositionEmbedding({
      name: 'embed',
      classTokenInitializer: init.normal(1e-6),
      positionInitializer: init.truncatedNormal(0.02),
    }),
  )(x);
  for (let i = 0; i < depth; i++) {
    const name = `blocks_${i}`;
    const attention = new MultiHeadSelfAttention({
      numHeads,
      qkvBias,
      name: `${name}_attn`,
      kernelInitializer: init.truncatedNormal(0.02),
      biasInitializer: tf.initializers.zeros(),
    });
    const attended = applied(attention)(norm(`${name}_norm1`)(x));
    x = tf.layers.add({ name: `${name}_add1` }).apply([x, attended]) as tf.SymbolicTensor;
    let y = norm(`${name}_norm2`)(x);
    y = applied(tf.layers.dense({ units: mlpDim, activation: 'gelu', name: `${name}_mlp_fc1`, ...linear() }))(
      y,
    );
    y = applied(tf.layers.dense({ units: width, name: `${name}_mlp_fc2`, ...linear() }))(y);
    x = tf.layers.add({ name: `${name}_add2` }).apply([x, y]) as tf.SymbolicTensor;
  }
  x = norm('norm')(x);
  if (config.output === 'cls') {
    x = applied(new SelectToken({ index: 0, name: 'cls_output' }))(x);
    if (config.preLogits != null) {
      x = applied(
        tf.layers.dense({ units: config.preLogits, activation: 'tanh', name: 'pre_logits', ...linear() }),
      )(x);
    }
  }
  if (options.head === false) return tf.model({ inputs: input, outputs: x, name: 'vit_trunk' });
  const head = embeddingHead({
    ...(options.seed == null ? {} : { seed: options.seed + 1 }),
    ...options.head,
  });
  return tf.model({ inputs: input, outputs: head.apply(x), name: 'vit' });
}
