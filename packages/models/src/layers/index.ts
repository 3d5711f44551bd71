import { tf } from '@recallkit/core';
import { LAYER_PACKAGE } from './common';
import { FrozenBatchNormalization } from './frozen-batch-norm';
import { GeM } from './gem';
import { GraphModelLayer } from './graph-model-layer';
import { L2Normalize } from './l2-normalize';
import { LayerNorm } from './layer-norm';
import { MultiHeadSelfAttention } from './multi-head-self-attention';
import { PatchEmbedding } from './patch-embedding';
import { PositionEmbedding } from './position-embedding';
import { SelectToken } from './select-token';

export { FrozenBatchNormalization, type FrozenBatchNormalizationArgs } from './frozen-batch-norm';
export { GeM, type GeMArgs } from './gem';
export { GraphModelLayer, type GraphModelLayerArgs } from './graph-model-layer';
export { L2Normalize, type L2NormalizeArgs } from './l2-normalize';
export { LayerNorm, type LayerNormArgs } from './layer-norm';
export { MultiHeadSelfAttention, type MultiHeadSelfAttentionArgs } from './multi-head-self-attention';
export { PatchEmbedding, type PatchEmbeddingArgs } from './patch-embedding';
export { PositionEmbedding, type PositionEmbeddingArgs } from './position-embedding';
export { SelectToken, type SelectTokenArgs } from './select-token';

let registered = false;

/**
 * Registers Recallkit's custom layers with tf.serialization so saved models deserialise. Idempotent;
 * every builder and loader of this package calls it, so users only need it for tf.loadLayersModel.
 */
export function registerLayers(): void {
  if (registered) return;
  for (const cls of [
    GeM,
    L2Normalize,
    FrozenBatchNormalization,
    GraphModelLayer,
    LayerNorm,
    MultiHeadSelfAttention,
    PatchEmbedding,
    PositionEmbedding,
    SelectToken,
  ]) {
    tf.serialization.registerClass(cls, LAYER_PACKAGE);
  }
  registered = true;
}
