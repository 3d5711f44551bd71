export {
  type Augmentation,
  type AugmentContext,
  type BatchSampler,
  checkIndices,
  type Dataset,
  PixelDataset,
  type PixelDatasetOptions,
  planTranslation,
  remapLabels,
  type TranslateOptions,
  type Translation,
  translateInto,
} from './dataset';
export {
  decodeEmojiPng,
  EMOJI_DATASOURCE_VERSION,
  EMOJI_VENDORS,
  EmojiDataset,
  type EmojiDecodeReport,
  type EmojiOptions,
  type EmojiSplits,
  type EmojiVendor,
  emoji,
  emojiInstallCommand,
  recallkitCacheDir,
} from './emoji';
export { type IdxArray, parseIdx, readIdx } from './idx';
export {
  type Box,
  centerCropBox,
  pyRound,
  type RandomResizedCropOptions,
  randomResizedCropBox,
  resizeShorterSide,
} from './image/geometry';
export { compositeOnWhite, resizeBilinear } from './image/pil';
export {
  decodeInto,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type PipelineOptions,
  planSample,
  type SamplePlan,
} from './image/pipeline';
export {
  type BadImage,
  type CheckImagesOptions,
  type DecodeSummary,
  ImageDataset,
  type ImageDatasetOptions,
  type LoadedBatch,
  type SkippedImage,
} from './image-dataset';
export {
  type MatCell,
  type MatChar,
  type MatNumeric,
  type MatNumericData,
  type MatStruct,
  type MatValue,
  parseMat,
  readMat,
} from './mat';
export {
  type ClassDisjointOptions,
  type FashionMnistOptions,
  fashionMnist,
  fashionMnistClassDisjoint,
  type IdxDatasetOptions,
  idxDataset,
  MNIST_MEAN,
  MNIST_STD,
  type MnistOptions,
  mnist,
  mnistClassDisjoint,
  mnistDataDir,
} from './mnist';
export { type PrefetchOptions, prefetchBatches } from './prefetch';
export { cars196 } from './readers/cars196';
export { cub200, type RootOptions } from './readers/cub';
export { IMAGE_FOLDER_EXTENSIONS, type ImageFolderOptions, imageFolder } from './readers/image-folder';
export { inaturalist2018 } from './readers/inaturalist';
export * from './readers/revisited';
export { stanfordOnlineProducts } from './readers/sop';
export { vehicleId } from './readers/vehicleid';
export {
  type ClassBalancedOptions,
  type MPerClassOptions,
  MPerClassSampler,
  mPerClassSampler,
  RskSampler,
  rskSampler,
} from './samplers';
