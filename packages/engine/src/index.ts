export { type CheckpointContents, readCheckpoint, type StoredTensor, writeCheckpoint } from './checkpoint';
export { assertChunkSafe } from './chunk-safety';
export {
  applyGradients,
  type ChunkLoader,
  chunkedGradients,
  chunkedStep,
  fullBatchGradients,
  type GradientOptions,
  type GradientResult,
  type StepLoss,
  type StepOptions,
  trainableVariables,
} from './chunked-step';
export type { RandomStateful, TrainingDataset, TrainingSampler } from './data';
export { MetricsLog } from './metrics-log';
export {
  type AdamOptions,
  adam,
  adamW,
  type LearningRate,
  type Optimizer,
  type OptimizerState,
} from './optimizers';
export { type Schedule, type StepScheduleOptions, stepSchedule } from './schedule';
export {
  type EvaluationConfig,
  type OptimizerConfig,
  type StepContext,
  type StepInfo,
  Trainer,
  type TrainLoss,
  type TrainOptions,
  type TrainResult,
  train,
} from './trainer';
