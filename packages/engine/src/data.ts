import type { tf } from '@recallkit/core';

/**
 * The parts of `@recallkit/datasets`' Dataset and BatchSampler contracts the trainer uses,
 * declared structurally so any conforming implementation (or a test's in-memory one) fits.
 */
export interface TrainingDataset {
  readonly length: number;
  readonly labels: Int32Array;
  /** Images of `indices`; `augment` decides every random choice from (seed, epoch, index). */
  load(indices: ArrayLike<number>, augment?: { seed: number; epoch: number }): Promise<tf.Tensor>;
}

export interface TrainingSampler {
  readonly batchSize: number;
  /** The epoch's batches of dataset indices, a pure function of (seed, epoch). */
  batches(epoch: number): Int32Array[];
}
