import type { Implementation, Labels, tf } from '@recallkit/core';

/** The ranking core's input: a block of similarities and which columns are relevant to each query. */
export interface ScoreBlock {
  /** Q x N similarities of Q queries to N database items. */
  scores: tf.Tensor2D;
  /**
   * Q x N 0/1: 1 where the column is a positive of the query (never the query's own column). A
   * tensor, or the same values row-major on the host (a Float32Array or Uint8Array of Q x N), which
   * spares a GPU backend the read-back: the losses need the positives on the host.
   */
  relevant: tf.Tensor2D | Float32Array | Uint8Array;
  /** Length Q: the column of each query's own entry, or -1 when the query is not among the N. */
  self?: Int32Array;
}

/** What the last call of a loss saw; also passed to the `onStats` option. */
export interface LossStats {
  /** Number of queries (rows of the score block). */
  queries: number;
  /** Queries without any positive: left out of the mean. */
  queriesWithoutPositives: number;
  /** Implementation that ran. */
  implementation: Implementation;
}

/** A loss on a batch of embeddings, differentiable by `tf.grad` / `tf.valueAndGrad`. */
export type EmbeddingLoss = ((embeddings: tf.Tensor2D, labels: Labels) => tf.Scalar) & {
  /** 'rsk', 'smoothap' or 'contrastive'. */
  readonly id: string;
  /** The same loss on a score block (present on losses built on the ranking core). */
  readonly onScores?: (block: ScoreBlock) => tf.Scalar;
  /** Statistics of the most recent call (undefined before the first). */
  readonly lastStats?: LossStats;
};
