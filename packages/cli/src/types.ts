import type { tf } from '@recallkit/core';

/**
 * What the pipeline needs from each kind of component. The built-in components (and any plugin's)
 * satisfy these structurally; `builtins.ts` registers them under these types.
 */

export type Labels = tf.Tensor1D | Int32Array | number[];

/** A labelled image collection (the @recallkit/datasets `Dataset` contract). */
export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly sampleShape: number[];
  load(indices: ArrayLike<number>, augment?: { seed: number; epoch: number }): Promise<tf.Tensor4D>;
}

/** A dataset component resolves to its training and test (query = gallery) splits. */
export interface DatasetSplits {
  readonly train: Dataset;
  readonly test: Dataset;
  /** Further test sets, evaluated with the final model beside `test` (e.g. VehicleID's medium and large). */
  readonly testSets?: Readonly<Record<string, Dataset>>;
}

export interface BatchSampler {
  readonly batchSize: number;
  batches(epoch: number): Int32Array[];
}

/** `(embeddings, labels) => scalar`, differentiable by tfjs (the @recallkit/losses contract). */
export type EmbeddingLoss = ((embeddings: tf.Tensor2D, labels: Labels) => tf.Scalar) & {
  readonly id: string;
};

/** Retrieval metrics of one evaluation (all-vs-all on the test split, the query removed). */
export interface RetrievalMetrics {
  readonly recall: Readonly<Record<number, number>>;
  readonly mapAtR: number;
  readonly precisionAt1?: number;
  readonly rPrecision?: number;
  readonly queries?: number;
  /** What searched, e.g. 'faiss:IndexFlatIP' or 'exact:tfjs-wasm'. */
  readonly index?: string;
}

export type Evaluator = (embeddings: tf.Tensor2D, labels: Int32Array) => Promise<RetrievalMetrics>;
