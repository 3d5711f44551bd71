import { RecallkitError, tf } from '@recallkit/core';
import type { EmbeddingHeadOptions } from './head';
import { POSITION_RESAMPLES, type PositionResample, resamplePositionEmbedding } from './pos-embed';
import { readSafetensors, type StoredTensor } from './safetensors';
import { vit } from './vit';

export interface LoadTimmViTOptions {
  /** NHWC input shape without the batch axis (default: the image size the weights were trained at, e.g. [224, 224, 3]). */
  inputShape?: [number, number, number];
  /**
   * Attention heads: not recorded in a state dict. Default: width / 64, the head size of every standard
   * ViT (12 for ViT-B's 768 channels, 6 for ViT-S, 3 for ViT-Ti, 16 for ViT-L).
   */
  numHeads?: number;
  /**
   * How the position embedding is resampled when `inputShape` gives another patch grid than the weights'
   * (default 'bicubic-antialias', timm >= 0.9's; 'bicubic' for timm 0.5 - 0.6, 'bilinear' for timm
   * 0.4.12); false refuses other image sizes.
   */
  resizePosEmbed?: PositionResample | false;
  /** 'cls' (default): the class token after the final LayerNorm (and pre-logits, if the file has them); 'tokens': every token. */
  output?: 'cls' | 'tokens';
  /** Put the embedding head on top (default false: the trunk). The authors' ViT head is `{ embeddingDim: 512 }`. */
  head?: EmbeddingHeadOptions | false;
}

/** Tensors a timm checkpoint may hold that the trunk does not use: the classifier, and the RS@k authors' wrapper's head. */
const IGNORED = /^(head|layer_norm|gem)\./;

/**
 * Rebuilds a timm VisionTransformer (ViT-B/16, ViT-B/32, ... with a class token) from its state dict saved
 * as .safetensors: patch size, width, depth, MLP size, qkv bias and pre-logits are read from the tensor
 * names and shapes, every tensor is copied (convolution OIHW -> HWIO, linear weights transposed), and
 * the classifier (`head`) is dropped. The network computes what timm's `forward_features` then the class
 * token compute; it trains (AdamW, as the authors fine-tune it).
 */
export async function loadTimmViT(file: string, options: LoadTimmViTOptions = {}): Promise<tf.LayersModel> {
  const raw = await readSafetensors(file);
  // DataParallel, the authors' wrapper (`self.model = timm.create_model(...)`) and others prefix every name.
  const prefix = ['module.', 'model.', 'backbone.'].find((p) => raw.has(`${p}pos_embed`)) ?? '';
  const used = new Set<string>();
  const tensor = (name: string): StoredTensor => {
    const t = raw.get(prefix + name);
    if (t === undefined) {
      throw new RecallkitError(
        'TIMM_VIT_TENSOR',
        `${file}: no tensor '${prefix}${name}', which a timm ViT needs`,
      );
    }
    used.add(prefix + name);
    return t;
  };
  const has = (name: string) => raw.has(prefix + name);

  const patch = tensor('patch_embed.proj.weight');
  if (patch.shape.length !== 4 || patch.shape[2] !== patch.shape[3]) {
    throw new RecallkitError(
      'TIMM_VIT_TENSOR',
      `${file}: patch_embed.proj.weight has shape [${patch.shape}], not [width, channels, patch, patch]`,
    );
  }
  const [width, channels, patchSize] = patch.shape as [number, number, number, number];
  if (!has('cls_token')) {
    throw new RecallkitError(
      'TIMM_VIT_UNSUPPORTED',
      `${file}: no cls_token: only ViTs with a class token are supported (global-average-pooling-only models are not)`,
    );
  }
  const position = tensor('pos_embed');
  const storedTokens = position.shape[1] ?? 0;
  const side = Math.round(Math.sqrt(storedTokens - 1));
  if (position.shape.length !== 3 || position.shape[2] !== width || side * side !== storedTokens - 1) {
    throw new RecallkitError(
      'TIMM_VIT_UNSUPPORTED',
      `${file}: pos_embed has shape [${position.shape}]; expected [1, 1 + n * n, ${width}] (a class token and a square grid of patches)`,
    );
  }
  let depth = 0;
  for (const name of raw.keys()) {
    const match = /^blocks\.(\d+)\./.exec(name.slice(prefix.length));
    if (match != null && name.startsWith(prefix)) depth = Math.max(depth, Number(match[1]) + 1);
  }
  if (depth === 0) {
    throw new RecallkitError(
      'TIMM_VIT_TENSOR',
      `${file}: no blocks.0, blocks.1, ... tensors: not a timm ViT`,
    );
  }
  const mlpDim = tensor('blocks.0.mlp.fc1.weight').shape[0]!;
  const qkvBias = has('blocks.0.attn.qkv.bias');
  const preLogits = has('pre_logits.fc.weight') ? tensor('pre_logits.fc.weight').shape[0] : undefined;
  const numHeads = options.numHeads ?? width / 64;
  if (!Number.isInteger(numHeads) || numHeads < 1) {
    throw new RecallkitError(
      'TIMM_VIT_HEADS',
      `${file}: width ${width} is not a multiple of 64, so the number of heads cannot be guessed: pass numHeads`,
    );
  }
  const inputShape = options.inputShape ?? [side * patchSize, side * patchSize, channels];
  if (inputShape[2] !== channels) {
    throw new RecallkitError(
      'TIMM_VIT_SHAPE',
      `${file}: the patch embedding takes ${channels} channels, inputShape gives ${inputShape[2]}`,
    );
  }
  const output = options.output ?? 'cls';
  if (preLogits != null && output === 'tokens') {
    throw new RecallkitError(
      'TIMM_VIT_UNSUPPORTED',
      `${file} has a pre-logits layer, which acts on the class token: use output 'cls'`,
    );
  }
  const model = vit({
    inputShape,
    patchSize,
    width,
    depth,
    numHeads,
    mlpDim,
    qkvBias,
    output,
    head: options.head ?? false,
    ...(preLogits == null ? {} : { preLogits }),
  });

  const values = (name: string, transpose?: number[]) => {
    const t = tensor(name);
    return tf.tidy(() => {
      const v = tf.tensor(t.data, t.shape);
      return transpose == null ? v : tf.transpose(v, transpose);
    });
  };
  const assign = (layerName: string, weights: tf.Tensor[], source: string) => {
    const layer = model.getLayer(layerName);
    const expected = layer.getWeights().map((w) => w.shape.join('x'));
    const got = weights.map((v) => v.shape.join('x'));
    if (expected.join() !== got.join()) {
      tf.dispose(weights);
      throw new RecallkitError(
        'TIMM_VIT_SHAPE',
        `${file}: '${prefix}${source}' has shapes [${got.join(', ')}], layer ${layerName} needs [${expected.join(', ')}]`,
      );
    }
    layer.setWeights(weights);
    tf.dispose(weights);
  };
  const linear = (name: string, bias = true) => [
    values(`${name}.weight`, [1, 0]),
    ...(bias ? [values(`${name}.bias`)] : []),
  ];
  const layerNorm = (name: string) => [values(`${name}.weight`), values(`${name}.bias`)];

  assign(
    'patch_embed',
    [values('patch_embed.proj.weight', [2, 3, 1, 0]), values('patch_embed.proj.bias')],
    'patch_embed.proj',
  );
  const [height, imageWidth] = inputShape;
  const grid: [number, number] = [height / patchSize, imageWidth / patchSize];
  let positions = position.data;
  if (grid[0] !== side || grid[1] !== side) {
    const mode = options.resizePosEmbed ?? 'bicubic-antialias';
    if (mode === false) {
      throw new RecallkitError(
        'TIMM_VIT_POS_EMBED',
        `${file}: the weights were trained on ${side} x ${side} patches (${side * patchSize} x ${side * patchSize} images), inputShape gives ${grid[0]} x ${grid[1]}; allow resizePosEmbed to resample the position embedding`,
      );
    }
    if (!POSITION_RESAMPLES.includes(mode)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `loadTimmViT: resizePosEmbed must be one of ${POSITION_RESAMPLES.join(', ')} or false, got ${JSON.stringify(mode)}`,
      );
    }
    positions = resamplePositionEmbedding(positions, { from: [side, side], to: grid, channels: width, mode });
  }
  const cls = tensor('cls_token');
  assign(
    'embed',
    [tf.tensor(cls.data, cls.shape), tf.tensor(positions, [1, 1 + grid[0] * grid[1], width])],
    'cls_token, pos_embed',
  );
  for (let i = 0; i < depth; i++) {
    const theirs = `blocks.${i}`;
    const ours = `blocks_${i}`;
    assign(`${ours}_norm1`, layerNorm(`${theirs}.norm1`), `${theirs}.norm1`);
    assign(
      `${ours}_attn`,
      [...linear(`${theirs}.attn.qkv`, qkvBias), ...linear(`${theirs}.attn.proj`)],
      `${theirs}.attn`,
    );
    assign(`${ours}_norm2`, layerNorm(`${theirs}.norm2`), `${theirs}.norm2`);
    assign(`${ours}_mlp_fc1`, linear(`${theirs}.mlp.fc1`), `${theirs}.mlp.fc1`);
    assign(`${ours}_mlp_fc2`, linear(`${theirs}.mlp.fc2`), `${theirs}.mlp.fc2`);
  }
  assign('norm', layerNorm('norm'), 'norm');
  if (preLogits != null) assign('pre_logits', linear('pre_logits.fc'), 'pre_logits.fc');

  // Anything else changes what the network computes (layer scale, register or distillation tokens,
  // q/k norms, a pre-norm, a pooled head): refuse rather than compute something else.
  const unknown = [...raw.keys()].filter(
    (name) => !used.has(name) && !(name.startsWith(prefix) && IGNORED.test(name.slice(prefix.length))),
  );
  if (unknown.length > 0) {
    model.dispose();
    throw new RecallkitError(
      'TIMM_VIT_UNSUPPORTED',
      `${file}: tensors a plain ViT does not have: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? `, ... (${unknown.length})` : ''}`,
    );
  }
  return model;
}
