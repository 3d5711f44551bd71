import type { Labels, tf } from '@recallkit/core';
import type { RevisitedGroundTruth } from '@recallkit/evaluator';

/**
 * What the pipeline needs from each kind of component. The built-in components (and any plugin's)
 * satisfy these structurally; `builtins.ts` registers them under these types.
 */

/** A labelled image collection (the @recallkit/datasets `Dataset` contract). */
export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly sampleShape: number[];
  load(indices: ArrayLike<number>, augment?: { seed: number; epoch: number }): Promise<tf.Tensor4D>;
  /** Present on a test set evaluated by an instance-level protocol (the `instance` evaluator). */
  readonly instance?: InstanceProtocol;
}

/**
 * What an instance-level test set carries besides its images: its rows are the database first,
 * then the queries (in ground-truth order), and the ground truth says which database images are
 * easy, hard or junk for each query (the revisited Oxford and Paris protocol).
 */
export interface InstanceProtocol {
  readonly kind: 'revisited';
  /** Rows 0 .. database - 1 are the database images. */
  readonly database: number;
  /** Rows database .. database + queries - 1 are the queries. */
  readonly queries: number;
  readonly groundTruth: RevisitedGroundTruth;
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

/** mAP and mP@k of one setup (Easy, Medium or Hard) of the revisited protocol, as fractions. */
export interface RevisitedSetupMetrics {
  readonly map: number;
  readonly mpAtK: Readonly<Record<string, number>>;
  /** Queries with a positive in this setup; the others are left out of the means, as revisitop does. */
  readonly queries: number;
}

/** The revisited Oxford / Paris figures of one evaluation. */
export interface RevisitedMetrics {
  readonly easy: RevisitedSetupMetrics;
  readonly medium: RevisitedSetupMetrics;
  readonly hard: RevisitedSetupMetrics;
}

/**
 * Metrics of one evaluation: class-level retrieval (all-vs-all on the test split, the query
 * removed) reports `recall` and `mapAtR`; instance-level retrieval reports `revisited`.
 */
export interface RetrievalMetrics {
  readonly recall?: Readonly<Record<number, number>>;
  readonly mapAtR?: number;
  readonly revisited?: RevisitedMetrics;
  readonly precisionAt1?: number;
  readonly rPrecision?: number;
  readonly queries?: number;
  /** What searched, e.g. 'faiss:IndexFlatIP' or 'exact:tfjs-wasm'. */
  readonly index?: string;
}

/** Evaluates the embeddings of a test set's rows; `test` is the set itself (its `instance` protocol, if any). */
export type Evaluator = (
  embeddings: tf.Tensor2D,
  labels: Int32Array,
  test?: Dataset,
) => Promise<RetrievalMetrics>;
