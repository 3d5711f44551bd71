import { RecallkitError, tf } from '@recallkit/core';
import { type BatchNormMode, batchNormMode } from './batch-norm';
import { type EmbeddingHeadOptions, embeddingHead } from './head';
import { TorchInit } from './init';
import { FrozenBatchNormalization, registerLayers } from './layers';
import { positiveInt, shapeOf } from './validate';

const PRESETS: Record<number, { blocks: number[]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

export interface ResNetOptions {
  /** NHWC input shape without the batch axis (default [32, 32, 3]). */
  inputShape?: [number, number, number];
  /** A standard depth (18, 34, 50, 101, 152) fixing `blocks` and `bottleneck`. */
  depth?: 18 | 34 | 50 | 101 | 152;
  /** Residual blocks per stage (default [2, 2, 2, 2], ResNet-18); stage i has width * 2^i channels and, after the first, stride 2. */
  blocks?: number[];
  /** Bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion) instead of basic ones (default false; true for depth >= 50). */
  bottleneck?: boolean;
  /** Channels of the first stage (default 64). */
  width?: number;
  /** 'imagenet': conv7x7/2 + maxpool3x3/2 (default); 'small': conv3x3/1, for small images. */
  stem?: 'imagenet' | 'small';
  /**
   * 'same' (default): TF's padding. 'torch': PyTorch's symmetric k // 2 padding (explicit zero padding, then
   * 'valid' convolutions), so that torchvision / timm weights compute exactly what they compute in PyTorch.
   */
  padding?: 'same' | 'torch';
  /**
   * Batch norm (default 'train', for training from scratch): 'frozen-stats' normalises with the moving
   * statistics and never updates them, gamma and beta trainable (the authors' setting for a pretrained
   * trunk); 'frozen' also freezes gamma and beta.
   */
  batchNorm?: BatchNormMode;
  /** Older form of `batchNorm`: true is 'frozen', false 'train'. */
  frozenBatchNorm?: boolean;
  /** The embedding head on top (default: the paper's head, 512-d); false returns the trunk's feature map. */
  head?: EmbeddingHeadOptions | false;
  /** Seed of the initialisation (He-normal fan-out convolutions, as torchvision). */
  seed?: number;
}

type Apply = (x: tf.SymbolicTensor) => tf.SymbolicTensor;

/** A ResNet (He et al. 2016) of configurable depth and width, by default with the paper's embedding head. */
export function resnet(options: ResNetOptions = {}): tf.LayersModel {
  registerLayers();
  const preset = options.depth == null ? undefined : PRESETS[options.depth];
  if (options.depth != null && preset == null) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `resnet: depth must be one of ${Object.keys(PRESETS).join(', ')}, got ${options.depth}`,
    );
  }
  const blocks = options.blocks ?? preset?.blocks ?? [2, 2, 2, 2];
  if (blocks.length === 0)
    throw new RecallkitError('INVALID_OPTION', 'resnet: blocks must name at least one stage');
  for (const [i, n] of blocks.entries()) positiveInt(n, `resnet: blocks[${i}]`);
  const bottleneck = options.bottleneck ?? preset?.bottleneck ?? false;
  const width = positiveInt(options.width ?? 64, 'resnet: width');
  const inputShape = shapeOf(options.inputShape ?? [32, 32, 3], 3, 'resnet: inputShape');
  const init = new TorchInit(options.seed);
  const bnMode = batchNormMode(options, 'train', 'resnet');

  const torchPadding = (options.padding ?? 'same') === 'torch';
  /** PyTorch pads k // 2 on every side; TF's 'same' pads asymmetrically when the stride is 2. */
  const pad = (size: number, name: string): Apply => {
    if (!torchPadding || size === 0) return (x) => x;
    const layer = tf.layers.zeroPadding2d({ padding: size, name });
    return (x) => layer.apply(x) as tf.SymbolicTensor;
  };
  const conv = (filters: number, kernelSize: number, strides: number, name: string): Apply => {
    const layer = tf.layers.conv2d({
      filters,
      kernelSize,
      strides,
      padding: torchPadding ? 'valid' : 'same',
      useBias: false,
      kernelInitializer: init.heFanOut(),
      name,
    });
    const padded = pad(Math.floor(kernelSize / 2), `${name}_pad`);
    return (x) => layer.apply(padded(x)) as tf.SymbolicTensor;
  };
  const norm = (name: string): Apply => {
    const layer =
      bnMode === 'train'
        ? tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9, name })
        : new FrozenBatchNormalization({ epsilon: 1e-5, trainableAffine: bnMode === 'frozen-stats', name });
    return (x) => layer.apply(x) as tf.SymbolicTensor;
  };
  const relu = (name: string): Apply => {
    const layer = tf.layers.reLU({ name });
    return (x) => layer.apply(x) as tf.SymbolicTensor;
  };

  const block = (x: tf.SymbolicTensor, filters: number, strides: number, name: string): tf.SymbolicTensor => {
    const outChannels = bottleneck ? 4 * filters : filters;
    let y: tf.SymbolicTensor;
    if (bottleneck) {
      y = relu(`${name}_relu1`)(norm(`${name}_bn1`)(conv(filters, 1, 1, `${name}_conv1`)(x)));
      y = relu(`${name}_relu2`)(norm(`${name}_bn2`)(conv(filters, 3, strides, `${name}_conv2`)(y)));
      y = norm(`${name}_bn3`)(conv(outChannels, 1, 1, `${name}_conv3`)(y));
    } else {
      y = relu(`${name}_relu1`)(norm(`${name}_bn1`)(conv(filters, 3, strides, `${name}_conv1`)(x)));
      y = norm(`${name}_bn2`)(conv(filters, 3, 1, `${name}_conv2`)(y));
    }
    const shortcut =
      strides !== 1 || x.shape[3] !== outChannels
        ? norm(`${name}_shortcut_bn`)(conv(outChannels, 1, strides, `${name}_shortcut_conv`)(x))
        : x;
    const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
    return relu(`${name}_out`)(sum);
  };

  const input = tf.input({ shape: inputShape, name: 'images' });
  let x: tf.SymbolicTensor;
  if ((options.stem ?? 'imagenet') === 'imagenet') {
    x = relu('stem_relu')(norm('stem_bn')(conv(width, 7, 2, 'stem_conv')(input)));
    // Zero padding equals PyTorch's -inf padding here: the pool follows a ReLU.
    x = tf.layers
      .maxPooling2d({ poolSize: 3, strides: 2, padding: torchPadding ? 'valid' : 'same', name: 'stem_pool' })
      .apply(pad(1, 'stem_pool_pad')(x)) as tf.SymbolicTensor;
  } else {
    x = relu('stem_relu')(norm('stem_bn')(conv(width, 3, 1, 'stem_conv')(input)));
  }
  for (const [stage, count] of blocks.entries()) {
    for (let i = 0; i < count; i++) {
      x = block(x, width * 2 ** stage, stage > 0 && i === 0 ? 2 : 1, `stage${stage + 1}_block${i + 1}`);
    }
  }
  if (options.head === false) return tf.model({ inputs: input, outputs: x, name: 'resnet_trunk' });
  const head = embeddingHead({
    ...(options.seed == null ? {} : { seed: options.seed + 1 }),
    ...options.head,
  });
  return tf.model({ inputs: input, outputs: head.apply(x), name: 'resnet' });
}
