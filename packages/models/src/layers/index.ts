import { tf } from '@recallkit/core';
import { LAYER_PACKAGE } from './common';
import { FrozenBatchNormalization } from './frozen-batch-norm';
import { GeM } from './gem';
import { GraphModelLayer } from './graph-model-layer';
import { L2Normalize } from './l2-normalize';

export { LAYER_PACKAGE } from './common';
export { FrozenBatchNormalization, type FrozenBatchNormalizationArgs } from './frozen-batch-norm';
export { GeM, type GeMArgs } from './gem';
export { GraphModelLayer, type GraphModelLayerArgs } from './graph-model-layer';
export { L2Normalize, type L2NormalizeArgs } from './l2-normalize';

let registered = false;

/**
 * Registers Recallkit's custom layers with tf.serialization so saved models deserialise. Idempotent;
 * every builder and loader of this package calls it, so users only need it for tf.loadLayersModel.
 */
export function registerLayers(): void {
  if (registered) return;
  for (const cls of [GeM, L2Normalize, FrozenBatchNormalization, GraphModelLayer]) {
    tf.serialization.registerClass(cls, LAYER_PACKAGE);
  }
  registered = true;
}
