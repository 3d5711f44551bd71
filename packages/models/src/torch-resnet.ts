import { RecallkitError, tf } from '@recallkit/core';
import { type BatchNormMode, batchNormMode } from './batch-norm';
import type { EmbeddingHeadOptions } from './head';
import { resnet } from './resnet';
import { readSafetensors, type StoredTensor } from './safetensors';

export interface LoadTorchResNetOptions {
  /** NHWC input shape without the batch axis (default [224, 224, 3]). */
  inputShape?: [number, number, number];
  /**
   * Batch norm (default 'frozen-stats', the authors' setting): the stored running statistics are used and
   * never updated, gamma and beta train. 'frozen' also freezes gamma and beta; 'train' is ordinary batch norm.
   */
  batchNorm?: BatchNormMode;
  /** Older form of `batchNorm`: true is 'frozen', false 'train'. */
  frozenBatchNorm?: boolean;
  /** Put the embedding head on top (default false: the trunk, ending in the last stage's feature map). */
  head?: EmbeddingHeadOptions | false;
}

/**
 * Rebuilds a torchvision / timm ResNet from its state dict saved as .safetensors: depth, block type and
 * width are read from the tensor names and shapes, convolutions pad as PyTorch does, and every
 * convolution and batch-norm tensor is copied (kernels OIHW -> HWIO). The classifier (`fc`) is dropped.
 */
export async function loadTorchResNet(
  file: string,
  options: LoadTorchResNetOptions = {},
): Promise<tf.LayersModel> {
  const raw = await readSafetensors(file);
  // DataParallel and some wrappers prefix every name.
  const prefix = ['module.', 'model.', 'backbone.'].find((p) => raw.has(`${p}conv1.weight`)) ?? '';
  const tensor = (name: string): StoredTensor => {
    const t = raw.get(prefix + name);
    if (t === undefined) {
      throw new RecallkitError(
        'TORCH_RESNET_TENSOR',
        `${file}: no tensor '${prefix}${name}', which a ResNet needs`,
      );
    }
    return t;
  };
  const stem = tensor('conv1.weight');
  const blocks: number[] = [];
  for (const name of raw.keys()) {
    const match = /^layer(\d+)\.(\d+)\./.exec(name.slice(prefix.length));
    if (match == null || !name.startsWith(prefix)) continue;
    const stage = Number(match[1]) - 1;
    blocks[stage] = Math.max(blocks[stage] ?? 0, Number(match[2]) + 1);
  }
  if (blocks.length === 0 || [...blocks].some((n) => n === undefined)) {
    throw new RecallkitError(
      'TORCH_RESNET_TENSOR',
      `${file}: no layer1, layer2, ... tensors: not a torchvision-style ResNet`,
    );
  }
  const bottleneck = raw.has(`${prefix}layer1.0.conv3.weight`);
  const [width, inChannels, kernel] = stem.shape as [number, number, number, number];
  const inputShape = options.inputShape ?? [224, 224, inChannels];
  const model = resnet({
    inputShape,
    blocks,
    bottleneck,
    width,
    stem: kernel === 7 ? 'imagenet' : 'small',
    padding: 'torch',
    batchNorm: batchNormMode(options, 'frozen-stats', 'loadTorchResNet'),
    head: options.head ?? false,
  });

  const assign = (layerName: string, values: tf.Tensor[], source: string) => {
    const layer = model.getLayer(layerName);
    const expected = layer.getWeights().map((w) => w.shape.join('x'));
    const got = values.map((v) => v.shape.join('x'));
    if (expected.join() !== got.join()) {
      throw new RecallkitError(
        'TORCH_RESNET_SHAPE',
        `${file}: '${prefix}${source}' has shapes [${got.join(', ')}], layer ${layerName} needs [${expected.join(', ')}]`,
      );
    }
    layer.setWeights(values);
    tf.dispose(values);
  };
  const convKernel = (name: string) => {
    const t = tensor(`${name}.weight`);
    return tf.tidy(() => tf.transpose(tf.tensor(t.data, t.shape), [2, 3, 1, 0]));
  };
  const batchNorm = (name: string) =>
    ['weight', 'bias', 'running_mean', 'running_var'].map((part) => {
      const t = tensor(`${name}.${part}`);
      return tf.tensor(t.data, t.shape);
    });

  assign('stem_conv', [convKernel('conv1')], 'conv1');
  assign('stem_bn', batchNorm('bn1'), 'bn1');
  const convs = bottleneck ? [1, 2, 3] : [1, 2];
  for (const [stage, count] of blocks.entries()) {
    for (let i = 0; i < count; i++) {
      const ours = `stage${stage + 1}_block${i + 1}`;
      const theirs = `layer${stage + 1}.${i}`;
      for (const k of convs) {
        assign(`${ours}_conv${k}`, [convKernel(`${theirs}.conv${k}`)], `${theirs}.conv${k}`);
        assign(`${ours}_bn${k}`, batchNorm(`${theirs}.bn${k}`), `${theirs}.bn${k}`);
      }
      const hasShortcut = model.layers.some((l) => l.name === `${ours}_shortcut_conv`);
      if (hasShortcut !== raw.has(`${prefix}${theirs}.downsample.0.weight`)) {
        throw new RecallkitError(
          'TORCH_RESNET_TENSOR',
          `${file}: ${theirs} ${hasShortcut ? 'lacks' : 'has'} a downsample branch, unlike a standard ResNet`,
        );
      }
      if (hasShortcut) {
        assign(`${ours}_shortcut_conv`, [convKernel(`${theirs}.downsample.0`)], `${theirs}.downsample.0`);
        assign(`${ours}_shortcut_bn`, batchNorm(`${theirs}.downsample.1`), `${theirs}.downsample.1`);
      }
    }
  }
  return model;
}
