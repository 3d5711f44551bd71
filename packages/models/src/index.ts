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
  LayerNorm,
  type LayerNormArgs,
  MultiHeadSelfAttention,
  type MultiHeadSelfAttentionArgs,
  PatchEmbedding,
  type PatchEmbeddingArgs,
  PositionEmbedding,
  type PositionEmbeddingArgs,
  registerLayers,
  SelectToken,
  type SelectTokenArgs,
} from './layers';
export { type MlpOptions, mlp } from './mlp';
export {
  POSITION_RESAMPLES,
  type PositionResample,
  type ResamplePositionEmbeddingOptions,
  resamplePositionEmbedding,
} from './pos-embed';
export { type ResNetOptions, resnet } from './resnet';
export { readSafetensors, type StoredTensor } from './safetensors';
export { loadModel, type SaveModelOptions, saveModel } from './save-load';
export { type SmallCnnOptions, smallCnn } from './small-cnn';
export { countParams, type ParameterCount, summarize } from './summary';
export { type LoadTimmViTOptions, loadTimmViT } from './timm-vit';
export { type LoadTorchResNetOptions, loadTorchResNet } from './torch-resnet';
export { type LoadTrunkOptions, loadTrunk } from './trunk';
export { VIT_PRESETS, type ViTConfig, type ViTOptions, type ViTPreset, vit, vitConfig } from './vit';
