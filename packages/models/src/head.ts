import { RecallkitError, tf } from '@recallkit/core';
import { TorchInit } from './init';
import { GeM, L2Normalize, registerLayers, SelectToken } from './layers';
import { positiveInt } from './validate';

export type Pooling = 'gem' | 'avg' | 'max' | 'cls' | 'none';

export interface EmbeddingHeadOptions {
  /** Size of the output embedding (default 512, the paper's). */
  embeddingDim?: number;
  /**
   * Pooling: 'gem' (the default), 'avg' or 'max' for an NHWC feature map (rank 4); 'cls', the class
   * token (token 0), for a transformer's [batch, tokens, channels] sequence (rank 3, its default);
   * 'none' for feature vectors (rank 2, e.g. a ViT trunk that already outputs its class token).
   */
  pooling?: Pooling;
  /** GeM's initial exponent (default 3) and whether it is learned (default true). */
  p?: number;
  trainableP?: boolean;
  /** LayerNorm before the linear layer (default true), PyTorch's epsilon 1e-5, with learned scale and shift. */
  layerNorm?: boolean;
  /** Seed of the linear layer's PyTorch-style initialisation. */
  seed?: number;
  /** Prefix of the head's layer names (default 'head'). */
  name?: string;
}

/**
 * The paper's embedding head: GeM pooling, LayerNorm, a linear layer to the embedding size, L2 normalisation
 * (for a ViT, the authors' head: its class token, LayerNorm, linear, L2).
 */
export interface EmbeddingHead {
  /** The head's layers, created by the first `apply` (later calls share them). */
  readonly layers: tf.layers.Layer[];
  /** Connects the head to a trunk's output (rank 4 NHWC feature map, rank 3 token sequence, or rank 2 features). */
  apply(features: tf.SymbolicTensor): tf.SymbolicTensor;
}

export function embeddingHead(options: EmbeddingHeadOptions = {}): EmbeddingHead {
  registerLayers();
  const embeddingDim = positiveInt(options.embeddingDim ?? 512, 'embeddingHead: embeddingDim');
  const prefix = options.name ?? 'head';
  const init = new TorchInit(options.seed);
  let layers: tf.layers.Layer[] | null = null;

  const build = (features: tf.SymbolicTensor): tf.layers.Layer[] => {
    const rank = features.shape.length;
    if (rank < 2 || rank > 4) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `embeddingHead takes an NHWC feature map, a token sequence or a feature vector; got shape [${features.shape.join(', ')}]`,
      );
    }
    const pooling = options.pooling ?? (rank === 4 ? 'gem' : rank === 3 ? 'cls' : 'none');
    const fits =
      rank === 4 ? pooling !== 'none' && pooling !== 'cls' : pooling === (rank === 3 ? 'cls' : 'none');
    if (!fits) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `embeddingHead: pooling '${pooling}' does not fit a rank-${rank} input ('gem', 'avg' or 'max' pool rank-4 feature maps; 'cls' takes a rank-3 sequence's class token; 'none' is for rank 2)`,
      );
    }
    const channels = features.shape[rank - 1];
    if (channels == null) {
      throw new RecallkitError('INVALID_INPUT', 'embeddingHead: the feature size (last axis) must be known');
    }
    const built: tf.layers.Layer[] = [];
    if (pooling === 'gem') {
      built.push(
        new GeM({ p: options.p ?? 3, trainableP: options.trainableP ?? true, name: `${prefix}_gem` }),
      );
    } else if (pooling === 'avg') {
      built.push(tf.layers.globalAveragePooling2d({ name: `${prefix}_avg_pool` }));
    } else if (pooling === 'max') {
      built.push(tf.layers.globalMaxPooling2d({ name: `${prefix}_max_pool` }));
    } else if (pooling === 'cls') {
      built.push(new SelectToken({ index: 0, name: `${prefix}_cls_token` }));
    }
    if (options.layerNorm ?? true) {
      built.push(tf.layers.layerNormalization({ epsilon: 1e-5, name: `${prefix}_layer_norm` }));
    }
    built.push(
      tf.layers.dense({ units: embeddingDim, name: `${prefix}_linear`, ...init.layer(channels) }),
      new L2Normalize({ name: `${prefix}_l2_normalize` }),
    );
    return built;
  };

  return {
    get layers() {
      return layers ?? [];
    },
    apply(features) {
      layers ??= build(features);
      return layers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, features);
    },
  };
}

/** A model that runs `trunk` and then the embedding head on its output. */
export function withEmbeddingHead(trunk: tf.LayersModel, options: EmbeddingHeadOptions = {}): tf.LayersModel {
  if (trunk.outputs.length !== 1) {
    throw new RecallkitError(
      'TRUNK_OUTPUTS',
      `withEmbeddingHead: the trunk must have one output, it has ${trunk.outputs.length}`,
    );
  }
  const head = embeddingHead(options);
  const output = head.apply(trunk.outputs[0]!);
  return tf.model({ inputs: trunk.inputs, outputs: output, name: `${trunk.name}_embedding` });
}
