/** Embedding primitives: L2 normalisation, pairwise similarity (whole or in query blocks), relevance masks. */
import { RecallkitError } from './errors';
import { type Labels, labelArray } from './labels';
import { tf } from './tf';

export type SimilarityMetric = 'dot' | 'cosine' | 'negSqL2';

export interface SimilarityOptions {
  /** 'dot' (default): q . d; 'cosine': dot of L2-normalised rows; 'negSqL2': -||q - d||^2. */
  metric?: SimilarityMetric;
}

export interface SimilarityBlockOptions extends SimilarityOptions {
  /** Query rows per block; by default as many as keep one block under `maxBlockElements`. */
  blockSize?: number;
  /** Upper bound on the elements of one block when `blockSize` is not given (default 2^25: 128 MiB). */
  maxBlockElements?: number;
}

export interface SimilarityBlock {
  /** First query row of the block. */
  start: number;
  /** One past its last query row. */
  end: number;
  /** (end - start) x N similarities. */
  scores: tf.Tensor2D;
}

const metrics: readonly SimilarityMetric[] = ['dot', 'cosine', 'negSqL2'];

function requireMatrix(x: tf.Tensor, what: string): asserts x is tf.Tensor2D {
  if (!(x instanceof tf.Tensor) || x.rank !== 2) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${what} must be a 2-D tensor (rows x dim), got ${x instanceof tf.Tensor ? `shape [${x.shape}]` : typeof x}`,
    );
  }
}

function requireMetric(metric: string): asserts metric is SimilarityMetric {
  if (!(metrics as readonly string[]).includes(metric)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `Unknown similarity metric '${metric}'; choose one of ${metrics.join(', ')}`,
    );
  }
}

/** Divides each row by its L2 norm (rows of zeros stay zero: the norm is floored at `epsilon`). */
export function l2Normalize(x: tf.Tensor2D, epsilon = 1e-12): tf.Tensor2D {
  requireMatrix(x, 'l2Normalize input');
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(x), 1, true));
    return tf.div(x, tf.maximum(norm, epsilon));
  });
}

function requireCompatible(queries: tf.Tensor, database: tf.Tensor): void {
  requireMatrix(queries, 'queries');
  requireMatrix(database, 'database');
  if (queries.shape[1] !== database.shape[1]) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `queries have dimension ${queries.shape[1]} but the database has ${database.shape[1]}`,
    );
  }
}

/**
 * The database side of a metric, computed once and reused for every query block: normalised rows
 * for cosine, squared norms for negSqL2.
 */
interface PreparedDatabase {
  rows: tf.Tensor2D;
  sqNorms?: tf.Tensor2D; // 1 x N
}

function prepare(database: tf.Tensor2D, metric: SimilarityMetric): PreparedDatabase {
  if (metric === 'cosine') return { rows: l2Normalize(database) };
  if (metric === 'negSqL2') {
    return {
      rows: database,
      sqNorms: tf.tidy(() => tf.sum(tf.square(database), 1).expandDims(0) as tf.Tensor2D),
    };
  }
  return { rows: database };
}

function scoreBlock(queries: tf.Tensor2D, db: PreparedDatabase, metric: SimilarityMetric): tf.Tensor2D {
  return tf.tidy((): tf.Tensor2D => {
    if (metric === 'cosine') return tf.matMul(l2Normalize(queries), db.rows, false, true);
    const dots: tf.Tensor2D = tf.matMul(queries, db.rows, false, true);
    if (metric === 'dot') return dots;
    const qNorms = tf.sum(tf.square(queries), 1, true);
    // ||q||^2 + ||d||^2 - 2 q.d can dip below zero by rounding: clamp the distance at 0.
    const sqDist = tf.relu(tf.sub(tf.add(qNorms, db.sqNorms as tf.Tensor2D), tf.mul(dots, 2)));
    return tf.neg(sqDist) as tf.Tensor2D;
  });
}

/** Q x N similarities of every query row to every database row (differentiable). */
export function similarity(
  queries: tf.Tensor2D,
  database: tf.Tensor2D,
  options: SimilarityOptions = {},
): tf.Tensor2D {
  const metric = options.metric ?? 'dot';
  requireMetric(metric);
  requireCompatible(queries, database);
  return tf.tidy(() => scoreBlock(queries, prepare(database, metric), metric));
}

/**
 * Yields the similarities of consecutive blocks of query rows against the whole database, so a
 * Q x N matrix never exists at once. The caller owns (and disposes) each block's `scores`;
 * the database-side tensors are released when the iteration ends, early or not.
 */
export function* similarityBlocks(
  queries: tf.Tensor2D,
  database: tf.Tensor2D,
  options: SimilarityBlockOptions = {},
): Generator<SimilarityBlock, void, undefined> {
  const metric = options.metric ?? 'dot';
  requireMetric(metric);
  requireCompatible(queries, database);
  const [numQueries] = queries.shape;
  const numDatabase = database.shape[0];
  const blockSize =
    options.blockSize ??
    Math.max(1, Math.floor((options.maxBlockElements ?? 2 ** 25) / Math.max(1, numDatabase)));
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RecallkitError('INVALID_OPTION', `blockSize must be a positive integer, got ${blockSize}`);
  }
  const db = prepare(database, metric);
  const owned = [db.rows, db.sqNorms].filter((t): t is tf.Tensor2D => t !== undefined && t !== database);
  try {
    for (let start = 0; start < numQueries; start += blockSize) {
      const end = Math.min(numQueries, start + blockSize);
      const scores = tf.tidy(() => scoreBlock(tf.slice(queries, [start, 0], [end - start, -1]), db, metric));
      yield { start, end, scores };
    }
  } finally {
    tf.dispose(owned);
  }
}

/**
 * Calls `visit` with each query block's similarities and disposes them after it returns (or its
 * promise settles). Blocks are visited one at a time, in order.
 */
export async function forEachSimilarityBlock(
  queries: tf.Tensor2D,
  database: tf.Tensor2D,
  visit: (block: SimilarityBlock) => void | Promise<void>,
  options: SimilarityBlockOptions = {},
): Promise<void> {
  for (const block of similarityBlocks(queries, database, options)) {
    try {
      await visit(block);
    } finally {
      block.scores.dispose();
    }
  }
}

export interface RelevanceMaskOptions {
  /**
   * For each query, the database column holding the query itself (or -1): that column is set to 0,
   * so a query is never its own positive.
   */
  self?: ArrayLike<number>;
}

/** Q x N float mask: 1 where database row j has the label of query i, else 0. */
export function relevanceMask(
  queryLabels: Labels,
  databaseLabels: Labels,
  options: RelevanceMaskOptions = {},
): tf.Tensor2D {
  const q = labelArray(queryLabels, 'queryLabels');
  const d = labelArray(databaseLabels, 'databaseLabels');
  const { self } = options;
  if (self !== undefined && self.length !== q.length) {
    throw new RecallkitError('INVALID_INPUT', `self has ${self.length} entries for ${q.length} queries`);
  }
  const selfColumns =
    self === undefined
      ? undefined
      : Int32Array.from(self, (v, i) => {
          if (!Number.isInteger(v) || v < -1 || v >= d.length) {
            throw new RecallkitError('INVALID_OPTION', `self[${i}] = ${v} is not a database column or -1`);
          }
          return v;
        });
  return tf.tidy(() => {
    const equal = tf.cast(
      tf.equal(tf.tensor1d(q, 'int32').expandDims(1), tf.tensor1d(d, 'int32').expandDims(0)),
      'float32',
    ) as tf.Tensor2D;
    if (selfColumns === undefined) return equal;
    // oneHot stays int32 and is cast: wasm 4.22's OneHot writes int bits when asked for float32.
    const selfMask = tf.cast(tf.oneHot(tf.tensor1d(selfColumns, 'int32'), d.length), 'float32');
    return tf.mul(equal, tf.sub(1, selfMask)) as tf.Tensor2D;
  });
}
