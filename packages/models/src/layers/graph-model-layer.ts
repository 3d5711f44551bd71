import { resolve } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import { directoryHandlerSync } from '../io';
import { type Kwargs, type LayerArgs, type Shape, singleShape, singleTensor } from './common';

export interface GraphModelLayerArgs extends LayerArgs {
  /** Directory of a TF.js graph model (model.json + weight shards). */
  path?: string;
  /** The same, hex-encoded UTF-8: how the saved config stores it (see getConfig). */
  pathHex?: string;
}

/**
 * A TF.js GraphModel (e.g. a PyTorch or TF SavedModel network converted with tensorflowjs_converter)
 * used as a layer. Its weights are graph constants, so it is a frozen feature extractor: gradients flow
 * through it to its input but nothing in it trains. The config stores the directory, so a model that
 * contains this layer reloads only where that directory exists.
 */
export class GraphModelLayer extends tf.layers.Layer {
  static className = 'GraphModelLayer';
  readonly path: string;
  private readonly graph: tf.GraphModel<tf.io.IOHandlerSync>;

  constructor(args: GraphModelLayerArgs) {
    super({ ...args, trainable: false });
    const path =
      args?.path ?? (args?.pathHex == null ? undefined : Buffer.from(args.pathHex, 'hex').toString('utf8'));
    if (typeof path !== 'string' || path === '') {
      throw new RecallkitError(
        'GRAPH_MODEL_PATH',
        'GraphModelLayer needs the path of a graph-model directory',
      );
    }
    this.path = resolve(path);
    this.graph = tf.loadGraphModelSync(directoryHandlerSync(this.path));
    if (this.graph.inputs.length !== 1 || this.graph.outputs.length !== 1) {
      throw new RecallkitError(
        'GRAPH_MODEL_SIGNATURE',
        `${this.path}: a trunk graph model needs one input and one output, it has ${this.graph.inputs.length} and ${this.graph.outputs.length}`,
      );
    }
  }

  /** The graph's input shape without the batch axis, when its signature gives it. */
  get graphInputShape(): number[] | undefined {
    const shape = this.graph.inputs[0]!.shape;
    return shape?.slice(1);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const batch = singleShape(inputShape)[0] ?? null;
    const declared = this.graph.outputs[0]!.shape?.slice(1);
    if (declared?.every((d) => d > 0)) return [batch, ...declared];
    // The signature leaves some sizes open: run one zero sample to find them.
    const sample = singleShape(inputShape).slice(1);
    if (sample.some((d) => d == null)) {
      throw new RecallkitError('GRAPH_MODEL_SHAPE', `${this.path}: the input shape must be fully known`);
    }
    const probe = tf.tidy(() => this.call(tf.zeros([1, ...(sample as number[])]), {}).shape);
    return [batch, ...probe.slice(1)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return this.graph.execute(singleTensor(inputs)) as tf.Tensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    // TF.js rewrites string config values on save (snake_case, lower case) and load (camelCase), which
    // would corrupt a path: store it hex-encoded, which both rewrites leave alone.
    return { ...super.getConfig(), pathHex: Buffer.from(this.path, 'utf8').toString('hex') };
  }
}
