import type { tf } from '@recallkit/core';

/**
 * The parts of `@recallkit/datasets`' Dataset and BatchSampler contracts the trainer uses,
 * declared structurally so any conforming implementation (or a test's in-memory one) fits.
 */
export interface TrainingDataset {
  readonly length: number;
  readonly labels: Int32Array;
  /**
   * Images of `indices`; `augment` decides every random choice from (seed, epoch, index). The
   * trainer loads one chunk ahead (`loadAhead`), so a call may start before an earlier one resolves.
   */
  load(indices: ArrayLike<number>, augment?: { seed: number; epoch: number }): Promise<tf.Tensor>;
}

/**
 * A part of the run that keeps random state of its own between calls (SiMix's generator): the
 * trainer saves `randomState()` in every checkpoint and hands it back to `restoreRandomState` on
 * resume, so that the resumed run draws what the uninterrupted one would have.
 */
export interface RandomStateful {
  /** A JSON-serialisable snapshot. */
  randomState(): unknown;
  restoreRandomState(state: unknown): void;
}

/** A sampler may keep random state of its own (`RandomStateful`); it is then checkpointed too. */
export interface TrainingSampler extends Partial<RandomStateful> {
  readonly batchSize: number;
  /** The epoch's batches of dataset indices, a pure function of (seed, epoch). */
  batches(epoch: number): Int32Array[];
}
