export {
  type AugmentContext,
  type BatchSampler,
  checkIndices,
  type Dataset,
  PixelDataset,
  remapLabels,
} from './dataset';
export { type IdxArray, parseIdx, readIdx } from './idx';
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
export {
  type ClassBalancedOptions,
  type MPerClassOptions,
  MPerClassSampler,
  mPerClassSampler,
  RskSampler,
  rskSampler,
} from './samplers';
