import { RecallkitError, tf } from '@recallkit/core';
import { FrozenBatchNormalization, registerLayers } from './layers';

// TF.js looks custom layers up by their bare className when deserialising.
const FROZEN_CLASS = FrozenBatchNormalization.className;

/**
 * Rewrites a Keras/TF.js model topology in place so every BatchNormalization layer becomes a
 * FrozenBatchNormalization (same config fields, same weight names), with trainable gamma and beta
 * for 'frozen-stats'. Returns how many were swapped.
 */
export function freezeBatchNormTopology(
  topology: unknown,
  mode: 'frozen' | 'frozen-stats' = 'frozen',
): number {
  let swapped = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
    } else if (node != null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (record['class_name'] === 'BatchNormalization') {
        record['class_name'] = FROZEN_CLASS;
        const config = (record['config'] ?? {}) as Record<string, unknown>;
        record['config'] = { ...config, trainable_affine: mode === 'frozen-stats' };
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
 * A copy of `model` whose BatchNormalization layers run in inference mode: the moving statistics keep
 * their values through training. With 'frozen' (default) gamma and beta are frozen too; with
 * 'frozen-stats' they train (the authors' batch norm for the pretrained ResNet-50). Other weights are
 * copied; `model` itself is left as it was.
 */
export async function freezeBatchNorm(
  model: tf.LayersModel,
  mode: 'frozen' | 'frozen-stats' = 'frozen',
): Promise<tf.LayersModel> {
  if (mode !== 'frozen' && mode !== 'frozen-stats') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `freezeBatchNorm: mode must be 'frozen' or 'frozen-stats', got ${JSON.stringify(mode)}`,
    );
  }
  registerLayers();
  const topology = model.toJSON(undefined, false) as tf.io.ModelJSON['modelTopology'];
  if (freezeBatchNormTopology(topology, mode) === 0) return model;
  const frozen = await tf.models.modelFromJSON({
    modelTopology: topology as tf.io.ModelJSON['modelTopology'],
  });
  copyWeights(model, frozen);
  return frozen;
}
