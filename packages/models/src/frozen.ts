import { tf } from '@recallkit/core';
import { FrozenBatchNormalization, registerLayers } from './layers';

// TF.js looks custom layers up by their bare className when deserialising.
const FROZEN_CLASS = FrozenBatchNormalization.className;

/**
 * Rewrites a Keras/TF.js model topology in place so every BatchNormalization layer becomes a
 * FrozenBatchNormalization (same config fields, same weight names). Returns how many were swapped.
 */
export function freezeBatchNormTopology(topology: unknown): number {
  let swapped = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
    } else if (node != null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (record['class_name'] === 'BatchNormalization') {
        record['class_name'] = FROZEN_CLASS;
        swapped++;
      }
      for (const value of Object.values(record)) visit(value);
    }
  };
  visit(topology);
  return swapped;
}

function copyWeights(from: tf.LayersModel, to: tf.LayersModel): void {
  for (const layer of from.layers) {
    const target = to.getLayer(layer.name);
    if (layer instanceof tf.LayersModel && target instanceof tf.LayersModel) {
      copyWeights(layer, target);
    } else {
      target.setWeights(layer.getWeights());
    }
  }
}

/**
 * A copy of `model` whose BatchNormalization layers run in inference mode with non-trainable
 * parameters (the paper's frozen BN for ResNet-50): moving statistics and affine terms keep their
 * values through training. Other weights are copied; `model` itself is left as it was.
 */
export async function freezeBatchNorm(model: tf.LayersModel): Promise<tf.LayersModel> {
  registerLayers();
  const topology = model.toJSON(undefined, false) as tf.io.ModelJSON['modelTopology'];
  if (freezeBatchNormTopology(topology) === 0) return model;
  const frozen = await tf.models.modelFromJSON({
    modelTopology: topology as tf.io.ModelJSON['modelTopology'],
  });
  copyWeights(model, frozen);
  return frozen;
}
