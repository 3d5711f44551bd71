/**
 * Instance-level retrieval in the pipeline: the revisited Oxford 5k and Paris 6k datasets as test
 * sets that carry their own protocol, and the `instance` evaluator that scores them.
 *
 * The pipeline embeds a test set's rows and hands the embeddings to the evaluator with the set
 * itself. A revisited test set's rows are the database (`imlist`) first, then the queries
 * (`qimlist`, each cropped to its bounding box by `@recallkit/datasets`); its `instance` field
 * says where one ends and holds the ground truth. The evaluator splits the rows there and
 * computes revisitop's mAP and mP@k of the Easy, Medium and Hard setups with
 * `@recallkit/evaluator`'s `evaluateRevisited`.
 */
import { RecallkitError, tf } from '@recallkit/core';
import { checkIndices, type RevisitedGroundTruth, revisitedOxfordParis } from '@recallkit/datasets';
import { evaluateRevisited, REVISITED_KS, REVISITED_SETUPS } from '@recallkit/evaluator';
import type {
  Dataset,
  DatasetSplits,
  Evaluator,
  InstanceProtocol,
  RevisitedMetrics,
  RevisitedSetupMetrics,
} from './types';

type Checked = {
  skipped?: readonly { path: string; reason: string }[];
  summary?: () => { badImages: readonly { path: string; reason: string }[] };
};

/**
 * A test set of database images then query images, with the ground truth of the queries. Each row
 * is its own label (the protocol has no classes); `load` takes rows of either part in any order.
 */
export class InstanceTestSet implements Dataset {
  readonly length: number;
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly sampleShape: number[];
  readonly instance: InstanceProtocol;

  constructor(
    readonly name: string,
    readonly database: Dataset,
    readonly queries: Dataset,
    groundTruth: RevisitedGroundTruth,
  ) {
    if (database.sampleShape.join(',') !== queries.sampleShape.join(',')) {
      throw new RecallkitError(
        'DATASET_SHAPE',
        `${name}: database samples are [${database.sampleShape}], queries [${queries.sampleShape}]`,
      );
    }
    if (groundTruth.gnd.length !== queries.length) {
      throw new RecallkitError(
        'DATASET_SHAPE',
        `${name}: ${queries.length} query images for ${groundTruth.gnd.length} queries of ground truth`,
      );
    }
    this.length = database.length + queries.length;
    this.labels = Int32Array.from({ length: this.length }, (_, i) => i);
    this.numClasses = this.length;
    this.sampleShape = [...database.sampleShape];
    this.instance = { kind: 'revisited', database: database.length, queries: queries.length, groundTruth };
  }

  async load(indices: ArrayLike<number>, augment?: { seed: number; epoch: number }): Promise<tf.Tensor4D> {
    checkIndices(this.name, this.length, indices);
    const n = this.database.length;
    const fromDatabase: number[] = [];
    const fromQueries: number[] = [];
    const position = new Int32Array(indices.length);
    for (let row = 0; row < indices.length; row++) {
      const index = indices[row]!;
      if (index < n) position[row] = fromDatabase.push(index) - 1;
      else position[row] = -fromQueries.push(index - n);
    }
    if (fromQueries.length === 0) return this.database.load(fromDatabase, augment);
    if (fromDatabase.length === 0) return this.queries.load(fromQueries, augment);
    const a = await this.database.load(fromDatabase, augment);
    const b = await this.queries.load(fromQueries, augment);
    const order = Int32Array.from(position, (p) => (p >= 0 ? p : fromDatabase.length - p - 1));
    try {
      return tf.tidy(() => tf.gather(tf.concat([a, b], 0), order) as tf.Tensor4D);
    } finally {
      a.dispose();
      b.dispose();
    }
  }

  /** The database's files left out (none: the protocol keeps every image), for the run's report. */
  get skipped(): readonly { path: string; reason: string }[] | undefined {
    return (this.database as Checked).skipped;
  }

  /** Images of either part that failed to load (rows of zeros with `onBadImage: 'skip'`). */
  summary(): { badImages: { path: string; reason: string }[] } {
    const of = (d: Dataset) => (d as Checked).summary?.().badImages ?? [];
    return { badImages: [...of(this.database), ...of(this.queries)] };
  }
}

/** The training split of a test benchmark: no images; loading it is an error that says why. */
export class NoTrainingSplit implements Dataset {
  readonly length = 0;
  readonly labels = new Int32Array(0);
  readonly numClasses = 0;

  constructor(
    readonly name: string,
    readonly sampleShape: number[],
  ) {}

  async load(): Promise<tf.Tensor4D> {
    throw new RecallkitError('DATASET_NO_TRAIN', `${this.name}: this dataset is a test set only`);
  }
}

export interface RevisitedSplitsOptions {
  root: string;
  /** Square input side; default 224. */
  size?: number;
  /** Shorter side before the centre crop; default round(size x 256 / 224), as image-folder. */
  resize?: number;
  onBadImage?: 'skip' | 'fail';
  concurrency?: number;
}

/**
 * `roxford5k` / `rparis6k` (or any `gnd_<name>.pkl` + `jpg/` tree) as dataset splits: the test set
 * is the database then the cropped queries, read through the datasets' evaluation pipeline
 * (Resize + CenterCrop, ImageNet normalisation); there is no training split.
 */
export function revisitedSplits(name: string, options: RevisitedSplitsOptions): DatasetSplits {
  const size = options.size ?? 224;
  const resize = options.resize ?? Math.round((size * 256) / 224);
  const { database, queries, groundTruth } = revisitedOxfordParis({
    root: options.root,
    name,
    // The protocol scores every database image: an unreadable one fails the run unless 'skip'
    // (which embeds it as the mean image, a row of zeros, and reports it in badImages).
    onBadImage: options.onBadImage ?? 'fail',
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    pipeline: { size, resize },
  });
  const test = new InstanceTestSet(name, database, queries, groundTruth);
  return { train: new NoTrainingSplit(`${name}-train`, test.sampleShape), test };
}

export interface InstanceEvaluatorOptions {
  /** mP@k cut-offs; default revisitop's [1, 5, 10]. */
  k?: number[];
  /** 'auto' (faiss when its addon loads), 'faiss', 'exact', or a faiss factory string (approximate). */
  index?: string;
}

function setupMetrics(result: {
  map: number;
  mpAtK: { [k: number]: number };
  queries: number;
}): RevisitedSetupMetrics {
  return {
    map: result.map,
    mpAtK: Object.fromEntries(Object.entries(result.mpAtK)),
    queries: result.queries,
  };
}

/**
 * The `instance` evaluator: for a test set with an `instance` protocol, ranks the whole database
 * for each query embedding and returns revisitop's mAP and mP@k of the three setups.
 */
export function instanceEvaluator(options: InstanceEvaluatorOptions = {}): Evaluator {
  const index = options.index ?? 'auto';
  const search: { index?: 'faiss' | 'exact'; factory?: string } =
    index === 'auto'
      ? {}
      : index === 'faiss' || index === 'exact'
        ? { index }
        : { index: 'faiss', factory: index };
  return async (embeddings, _labels, test) => {
    const protocol = test?.instance;
    if (protocol?.kind !== 'revisited') {
      throw new RecallkitError(
        'INVALID_CONFIG',
        `evaluator 'instance' scores a test set with queries and their ground truth (dataset roxford5k or rparis6k); ` +
          `${test?.name ?? 'this test set'} has none: use evaluator 'retrieval'`,
      );
    }
    const [rows, dim] = embeddings.shape;
    if (rows !== protocol.database + protocol.queries) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${test!.name}: ${rows} embeddings for ${protocol.database} database images and ${protocol.queries} queries`,
      );
    }
    const data = (await embeddings.data()) as Float32Array;
    const split = protocol.database * dim;
    const result = await evaluateRevisited(
      data.subarray(split),
      data.subarray(0, split),
      protocol.groundTruth,
      {
        dim,
        ks: options.k ?? [...REVISITED_KS],
        ...search,
      },
    );
    const revisited = Object.fromEntries(
      REVISITED_SETUPS.map((setup) => [setup, setupMetrics(result[setup])]),
    ) as unknown as RevisitedMetrics;
    return { revisited, index: result.debug.index };
  };
}
