export {
  type EmbeddingHead,
  type EmbeddingHeadOptions,
  embeddingHead,
  type Pooling,
  withEmbeddingHead,
} from './head';
export {
  FrozenBatchNormalization,
  type FrozenBatchNormalizationArgs,
  GeM,
  type GeMArgs,
  L2Normalize,
  type L2NormalizeArgs,
  LAYER_PACKAGE,
  registerLayers,
} from './layers';
export { type MlpOptions, mlp } from './mlp';
export { type SmallCnnOptions, smallCnn } from './small-cnn';
