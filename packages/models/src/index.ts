export { BATCH_NORM_MODES, type BatchNormMode } from './batch-norm';
export {
  type BatchSource,
  type Embeddings,
  type EmbedOptions,
  embedDataset,
  type IndexedSource,
} from './embed';
export { freezeBatchNorm } from './frozen';
export {
  type EmbeddingHead,
  type EmbeddingHeadOptions,
  embeddingHead,
  type Pooling,
  withEmbeddingHead,
} from './head';
export { directoryHandler, modelFormat } from './io';
export {
  FrozenBatchNormalization,
  type FrozenBatchNormalizationArgs,
  GeM,
  type GeMArgs,
  GraphModelLayer,
  type GraphModelLayerArgs,
  L2Normalize,
  type L2NormalizeArgs,
  registerLayers,
} from './layers';
export { type MlpOptions, mlp } from './mlp';
export { type ResNetOptions, resnet } from './resnet';
export { readSafetensors, type StoredTensor } from './safetensors';
export { loadModel, type SaveModelOptions, saveModel } from './save-load';
export { type SmallCnnOptions, smallCnn } from './small-cnn';
export { countParams, type ParameterCount, summarize } from './summary';
export { type LoadTorchResNetOptions, loadTorchResNet } from './torch-resnet';
export { type LoadTrunkOptions, loadTrunk } from './trunk';
