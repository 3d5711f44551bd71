export { type ContrastiveOptions, contrastive } from './contrastive';
export { terminateWorkers } from './fused/pool';
export { denseBytes, type RankingLossOptions } from './ranking-loss';
export { type RecallAtKOptions, recallAtKSurrogate } from './rsk';
export { type SmoothAPOptions, smoothAP } from './smoothap';
export type { EmbeddingLoss, LossStats, ScoreBlock } from './types';
