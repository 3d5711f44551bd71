/**
 * The loss contract of `@recallkit/losses` (docs: CONTRACTS), restated here structurally until that
 * package exports it; any loss built on the ranking core satisfies these types.
 */
import type { tf } from '@recallkit/core';

export type Labels = tf.Tensor1D | Int32Array | number[];

/** The ranking core's input: Q x N similarities, their relevance mask and each query's own column. */
export interface ScoreBlock {
  scores: tf.Tensor2D;
  relevant: tf.Tensor2D;
  self?: Int32Array;
}

export type EmbeddingLoss = ((embeddings: tf.Tensor2D, labels: Labels) => tf.Scalar) & {
  readonly id: string;
  readonly onScores?: (block: ScoreBlock) => tf.Scalar;
};
