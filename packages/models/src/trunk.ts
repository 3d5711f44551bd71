import { RecallkitError, tf } from '@recallkit/core';
import { type BatchNormMode, batchNormMode } from './batch-norm';
import { freezeBatchNormTopology } from './frozen';
import { directoryHandler, modelFormat } from './io';
import { GraphModelLayer, registerLayers } from './layers';

export interface LoadTrunkOptions {
  /** Cut a layers model at this layer's output (e.g. the last convolutional block); default: the model's output. */
  outputLayer?: string;
  /**
   * The trunk's BatchNormalization layers (default 'frozen-stats', the authors' setting for a pretrained
   * trunk): moving statistics used and never updated, gamma and beta trainable. 'frozen' also freezes
   * gamma and beta; 'train' keeps them as saved (ordinary batch norm).
   */
  batchNorm?: BatchNormMode;
  /** Older form of `batchNorm`: true is 'frozen', false 'train'. */
  frozenBatchNorm?: boolean;
  /** Whether the trunk's weights train (default true; graph models never train). */
  trainable?: boolean;
}

/**
 * Loads a pretrained trunk from a local TF.js model directory (model.json + weight shards).
 * A layers model (converted from Keras) comes back as a trainable tf.LayersModel; a graph model
 * (converted from a TF SavedModel, or from PyTorch through ONNX) comes back wrapped in a frozen
 * GraphModelLayer. Attach the paper's head with `withEmbeddingHead(trunk)`; docs/models.md gives
 * the conversion recipes for ResNet-50 and ViT.
 */
export async function loadTrunk(dir: string, options: LoadTrunkOptions = {}): Promise<tf.LayersModel> {
  registerLayers();
  const mode = batchNormMode(options, 'frozen-stats', 'loadTrunk');
  if ((await modelFormat(dir)) === 'graph-model') {
    if (options.outputLayer != null) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `loadTrunk: outputLayer applies to layers models, and ${dir} holds a graph model`,
      );
    }
    const layer = new GraphModelLayer({ path: dir, name: 'graph_trunk' });
    const shape = layer.graphInputShape;
    if (shape == null || shape.some((d) => !(d > 0))) {
      throw new RecallkitError(
        'GRAPH_MODEL_SHAPE',
        `loadTrunk: the graph model at ${dir} must declare its input size, got [${shape}]`,
      );
    }
    const input = tf.input({ shape, name: 'images' });
    return tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor, name: 'graph_trunk' });
  }
  const artifacts = await directoryHandler(dir).load!();
  if (mode !== 'train') freezeBatchNormTopology(artifacts.modelTopology, mode);
  let trunk = await tf.loadLayersModel({ load: async () => artifacts });
  if (options.outputLayer != null) {
    const names = trunk.layers.map((l) => l.name);
    if (!names.includes(options.outputLayer)) {
      throw new RecallkitError(
        'TRUNK_LAYER',
        `loadTrunk: no layer '${options.outputLayer}' in ${dir}; layers: ${names.slice(-10).join(', ')}${names.length > 10 ? ' (last 10)' : ''}`,
      );
    }
    const output = trunk.getLayer(options.outputLayer).output as tf.SymbolicTensor;
    trunk = tf.model({ inputs: trunk.inputs, outputs: output, name: trunk.name });
  }
  if (options.trainable === false) {
    for (const layer of trunk.layers) layer.trainable = false;
  }
  return trunk;
}
