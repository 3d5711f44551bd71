import { RecallkitError, type tf } from '@recallkit/core';

/** Layers whose training-mode output depends on randomness or on the rest of the batch. */
const BATCH_DEPENDENT = new Set(['BatchNormalization']);
const STOCHASTIC = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'AlphaDropout',
  'GaussianDropout',
  'GaussianNoise',
]);

/**
 * Multistage backpropagation runs every layer twice (stage 1 without tape, stage 3 with it) and
 * on chunks instead of the whole batch. That is exact only when a layer's output depends on its
 * own sample and weights alone. In training mode batch normalisation uses the chunk's statistics
 * (and updates its moving averages twice) and dropout draws a fresh mask on each pass, so both
 * are refused; in inference mode (`training: false`) batch norm is frozen and dropout is off.
 */
export function assertChunkSafe(model: tf.LayersModel, training: boolean): void {
  if (!training) return;
  for (const layer of allLayers(model)) {
    const kind = layer.getClassName();
    if (BATCH_DEPENDENT.has(kind)) {
      throw new RecallkitError(
        'CHUNK_UNSAFE_LAYER',
        `layer '${layer.name}' (${kind}) normalises with batch statistics in training mode, so chunked embeddings would differ from full-batch ones; freeze it by running the step with training: false (batch norm then uses its moving statistics)`,
        { layer: layer.name, kind },
      );
    }
    if (STOCHASTIC.has(kind) && dropRate(layer) !== 0) {
      throw new RecallkitError(
        'CHUNK_UNSAFE_LAYER',
        `layer '${layer.name}' (${kind}) draws new random noise on each pass, so stage 3 would not recompute stage 1's embeddings; set its rate to 0 or run the step with training: false`,
        { layer: layer.name, kind },
      );
    }
  }
}

function* allLayers(model: tf.LayersModel): Generator<tf.layers.Layer> {
  for (const layer of model.layers) {
    yield layer;
    // Nested models (a trunk used as a layer) carry their own layers.
    const nested = (layer as unknown as { layers?: unknown }).layers;
    if (Array.isArray(nested)) yield* allLayers(layer as unknown as tf.LayersModel);
  }
}

function dropRate(layer: tf.layers.Layer): number {
  const config = layer.getConfig() as { rate?: number; stddev?: number };
  return config.rate ?? config.stddev ?? 1;
}
