import { createRng, type Labels, labelArray, RecallkitError, tf } from '@recallkit/core';
import { kMeans, normalizedMutualInformation } from './clustering';
import { exactSearcher } from './exact';
import { faissAvailable, faissSearcher } from './faiss';
import { checkMagnitudes, type EmbeddingsInput, type Matrix, normalizeRows, toMatrix } from './input';
import { createTally } from './metrics';
import { MIN_ROWS_PER_SEARCH, scanQueries } from './scan';
import { rowBlocks, type Searcher, type Similarity, sliceRows } from './search';

export type RankMetricName = 'recall' | 'precisionAt1' | 'rPrecision' | 'mapAtR';
export type MetricName = RankMetricName | 'nmi';
const RANK_METRICS: readonly RankMetricName[] = ['recall', 'precisionAt1', 'rPrecision', 'mapAtR'];
const METRIC_NAMES: readonly MetricName[] = [...RANK_METRICS, 'nmi'];

/** The defaults of `evaluate`'s options, in one place. */
export const EVALUATE_DEFAULTS = Object.freeze({
  k: Object.freeze([1, 2, 4, 8, 16]) as readonly number[],
  metrics: RANK_METRICS,
  similarity: 'cosine' as Similarity,
  seed: 0,
  kMeansIterations: 20,
});

export interface EvaluateOptions<M extends MetricName = MetricName> {
  /**
   * Recall@k cut-offs, each at most the number of gallery items a query is ranked against.
   * Default [1, 2, 4, 8, 16], less those larger than the gallery.
   */
  k?: number[];
  /** Row length when the embeddings (and gallery) are flat Float32Arrays. */
  dim?: number;
  /** A separate gallery: queries are then searched in it (no self-match), with `galleryLabels`. */
  gallery?: EmbeddingsInput;
  galleryLabels?: Labels;
  /**
   * Metrics to report: any of 'recall', 'precisionAt1', 'rPrecision', 'mapAtR' (they share one
   * search) and 'nmi' (seeded k-means; no search when it is the only one). Default: the four rank
   * metrics.
   */
  metrics?: readonly M[];
  /**
   * 'faiss' (exact flat index; the default when faiss-node's addon loads), 'exact' (TensorFlow.js,
   * the fallback), or a faiss index-factory string such as 'HNSW32' or 'IVF1024,Flat' (approximate).
   */
  index?: string;
  /** Default 'cosine': inner product of L2-normalised embeddings. */
  similarity?: Similarity;
  /**
   * Cap on the neighbours searched per query. By default max(k) or the largest R, whichever is
   * larger; below the largest R, R-Precision and MAP@R are lower bounds (see `debug.warnings`).
   */
  depth?: number;
  /** Queries per search call (default: 4096 for faiss, about 64 MB of scores for 'exact'). */
  blockRows?: number;
  /** Seed of k-means for NMI (default 0) and its maximum number of iterations (default 20; 0 keeps the initial centroids). */
  seed?: number | string;
  kMeansIterations?: number;
  /** Called after each block of queries. */
  onProgress?: (done: number, total: number) => void;
}

/** Every option `evaluate` knows; any other key is an error. */
export const EVALUATE_OPTIONS: readonly string[] = [
  'k',
  'dim',
  'gallery',
  'galleryLabels',
  'metrics',
  'index',
  'similarity',
  'depth',
  'blockRows',
  'seed',
  'kMeansIterations',
  'onProgress',
];

interface MetricValues {
  recall: { [k: number]: number };
  precisionAt1: number;
  rPrecision: number;
  mapAtR: number;
  nmi: number;
}

/** The metrics asked for (by default the four rank metrics), with counts and diagnostics. */
export type EvaluationResult<M extends MetricName = RankMetricName> = { [K in M]: MetricValues[K] } & {
  /** Queries that count in the means (R > 0). */
  queries: number;
  /** Queries with no other item of their label, left out of every mean. */
  loneQueries: number;
  debug: {
    /** What searched: 'faiss:IndexFlatIP', 'faiss:HNSW32', 'exact:tfjs-wasm', ... */
    index: string;
    similarity: Similarity;
    /** Neighbours scored per query (the query itself excluded); 0 when no rank metric was asked for. */
    depth: number;
    /** Largest R among the queries; MAP@R is exact when depth >= maxR. */
    maxR: number;
    /** Queries searched a second time to the full depth (no same-label item in the shallow pass). */
    deepQueries: number;
    warnings: string[];
    seconds: { search: number; nmi?: number };
  };
};

function checkOptions(options: EvaluateOptions): {
  ks: number[] | null;
  metrics: Set<MetricName>;
  similarity: Similarity;
} {
  if (options === null || typeof options !== 'object') {
    throw new RecallkitError('INVALID_OPTION', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!EVALUATE_OPTIONS.includes(key) && (options as Record<string, unknown>)[key] !== undefined) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `unknown option '${key}' (valid: ${EVALUATE_OPTIONS.join(', ')})`,
        { option: key, valid: EVALUATE_OPTIONS },
      );
    }
  }
  const ks = options.k ?? null;
  if (
    ks !== null &&
    (!Array.isArray(ks) || ks.length === 0 || !ks.every((k) => Number.isInteger(k) && k >= 1))
  ) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.k must be a non-empty list of positive integers, got ${JSON.stringify(ks)}`,
    );
  }
  if (options.metrics !== undefined && (!Array.isArray(options.metrics) || options.metrics.length === 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.metrics must be a non-empty list of ${METRIC_NAMES.join(', ')}`,
    );
  }
  const metrics = new Set<MetricName>(options.metrics ?? EVALUATE_DEFAULTS.metrics);
  for (const m of metrics) {
    if (!METRIC_NAMES.includes(m)) {
      throw new RecallkitError('INVALID_OPTION', `unknown metric '${m}' (known: ${METRIC_NAMES.join(', ')})`);
    }
  }
  const similarity = options.similarity ?? EVALUATE_DEFAULTS.similarity;
  if (!['cosine', 'dot', 'negSqL2'].includes(similarity)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `unknown similarity '${similarity}' (known: cosine, dot, negSqL2)`,
    );
  }
  for (const key of ['depth', 'blockRows'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new RecallkitError('INVALID_OPTION', `options.${key} must be a positive integer, got ${v}`);
    }
  }
  const iterations = options.kMeansIterations;
  if (iterations !== undefined && !(Number.isInteger(iterations) && iterations >= 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.kMeansIterations must be a non-negative integer (0 keeps the initial centroids), got ${iterations}`,
    );
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new RecallkitError('INVALID_OPTION', 'options.onProgress must be a function');
  }
  return { ks, metrics, similarity };
}

/** Throws when `options.dim` contradicts the row length of a tensor or number[][] input. */
function checkDim(input: EmbeddingsInput, matrix: Matrix, dim: number | undefined, what: string): void {
  if (dim !== undefined && !(input instanceof Float32Array) && matrix.dim !== dim) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${what} rows have ${matrix.dim} values, but options.dim = ${dim}`,
    );
  }
}

async function createSearcher(
  index: string | undefined,
  gallery: Matrix,
  similarity: Similarity,
): Promise<Searcher> {
  if (index === 'exact' || (index === undefined && !faissAvailable())) {
    await tf.ready(); // initialises the preferred backend when none was chosen
    return exactSearcher(gallery, similarity);
  }
  if (index === 'faiss' || index === undefined) return faissSearcher(gallery, similarity);
  if (typeof index !== 'string' || index.trim() === '') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.index must be 'faiss', 'exact' or a faiss factory string`,
    );
  }
  return faissSearcher(gallery, similarity, index);
}

/** Dense label ids shared by queries and gallery, and per-id gallery counts. */
function denseLabels(queryLabels: Int32Array, galleryLabels: Int32Array) {
  const ids = new Map<number, number>();
  const dense = (labels: Int32Array) =>
    labels.map((l) => {
      let id = ids.get(l);
      if (id === undefined) ids.set(l, (id = ids.size));
      return id;
    });
  const gallery = dense(galleryLabels);
  const queries = queryLabels === galleryLabels ? gallery : dense(queryLabels);
  const counts = new Int32Array(ids.size);
  for (const id of gallery) counts[id]!++;
  return { queries, gallery, counts, classes: new Set(queries).size };
}

/**
 * Retrieval metrics of `embeddings` with `labels`: every item queries all the others (all-vs-all),
 * or, with `options.gallery`, every item queries the gallery.
 */
export async function evaluate<M extends MetricName = RankMetricName>(
  embeddings: EmbeddingsInput,
  labels: Labels,
  options: EvaluateOptions<M> = {},
): Promise<EvaluationResult<M>> {
  const { ks: askedKs, metrics, similarity } = checkOptions(options);
  const queries = toMatrix(embeddings, 'embeddings', options.dim);
  checkDim(embeddings, queries, options.dim, 'embeddings');
  const queryLabels = labelArray(labels, 'labels', queries.rows);
  const separate = options.gallery !== undefined;
  if (separate !== (options.galleryLabels !== undefined)) {
    throw new RecallkitError('INVALID_OPTION', 'options.gallery and options.galleryLabels go together');
  }
  const gallery = separate ? toMatrix(options.gallery!, 'options.gallery', options.dim) : queries;
  if (separate) checkDim(options.gallery!, gallery, options.dim, 'options.gallery');
  const galleryLabels = separate
    ? labelArray(options.galleryLabels!, 'options.galleryLabels', gallery.rows)
    : queryLabels;
  if (gallery.dim !== queries.dim) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `gallery rows have ${gallery.dim} values, queries ${queries.dim}`,
    );
  }
  const candidates = gallery.rows - (separate ? 0 : 1);
  if (candidates === 0) {
    throw new RecallkitError('INVALID_INPUT', 'all-vs-all evaluation needs at least two embeddings');
  }
  const rankMetrics = RANK_METRICS.some((m) => metrics.has(m));
  let ks: number[];
  if (askedKs === null) {
    // the default cut-offs that the gallery can answer
    ks = EVALUATE_DEFAULTS.k.filter((k) => k <= candidates);
  } else {
    ks = askedKs;
    const maxAsked = Math.max(...ks);
    if (rankMetrics && maxAsked > candidates) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `options.k = ${maxAsked} is larger than the ${candidates} gallery items each query is ranked against${separate ? '' : ' (the query itself excluded)'}`,
        { k: maxAsked, candidates },
      );
    }
  }
  if (similarity === 'cosine') {
    normalizeRows(queries, 'embeddings');
    if (separate) normalizeRows(gallery, 'options.gallery');
  } else {
    checkMagnitudes(queries, 'embeddings');
    if (separate) checkMagnitudes(gallery, 'options.gallery');
  }

  const dense = denseLabels(queryLabels, galleryLabels);
  const relevant = dense.queries.map((id) => dense.counts[id]! - (separate ? 0 : 1));
  const maxR = relevant.reduce((a, b) => Math.max(a, b), 0);
  const maxK = Math.max(...ks);
  if (rankMetrics && options.depth !== undefined && options.depth < maxK) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.depth = ${options.depth} is below the largest k (${maxK})`,
    );
  }
  const depth = rankMetrics
    ? Math.min(candidates, Math.max(maxK, maxR), options.depth ?? Number.POSITIVE_INFINITY)
    : 0;
  const warnings: string[] = [];
  if (rankMetrics && depth < maxR) {
    const warning = `searched depth ${depth} is below the largest R (${maxR}): R-Precision and MAP@R are lower bounds`;
    warnings.push(warning);
    process.emitWarning(warning, { code: 'RECALLKIT_DEPTH_BELOW_R' });
  }

  const started = performance.now();
  const tally = createTally(ks);
  let deepQueries = 0;
  let indexName = '';
  if (rankMetrics) {
    const searcher = await createSearcher(options.index, gallery, similarity);
    indexName = searcher.name;
    try {
      deepQueries = await scanQueries(
        {
          searcher,
          queries,
          labels: dense.queries,
          galleryLabels: dense.gallery,
          relevant,
          inGallery: !separate,
          depth,
          maxR,
          blockRows: options.blockRows ?? searcher.blockRows,
          onProgress: options.onProgress,
        },
        tally,
      );
    } finally {
      searcher.dispose();
    }
  } else {
    for (const r of relevant) {
      if (r === 0) tally.loneQueries++;
      else tally.queries++;
    }
  }
  const searchSeconds = rankMetrics ? (performance.now() - started) / 1000 : 0;

  let nmi: number | undefined;
  let nmiSeconds: number | undefined;
  if (metrics.has('nmi')) {
    const t = performance.now();
    const flat =
      options.index === 'exact' || (options.index === undefined && !faissAvailable()) ? 'exact' : 'faiss';
    const clusters = await kMeans(queries, dense.classes, {
      iterations: options.kMeansIterations ?? EVALUATE_DEFAULTS.kMeansIterations,
      rng: createRng(options.seed ?? EVALUATE_DEFAULTS.seed),
      assign: async (centroids) => {
        const assigner = await createSearcher(flat, centroids, 'negSqL2');
        if (!rankMetrics) indexName = assigner.name;
        try {
          const out = new Int32Array(queries.rows);
          const rows =
            flat === 'faiss' ? assigner.blockRows : Math.max(1, Math.floor((1 << 24) / centroids.rows));
          for (const [start, end] of rowBlocks(queries.rows, rows, MIN_ROWS_PER_SEARCH)) {
            out.set(await assigner.search(sliceRows(queries, start, end), end - start, 1), start);
          }
          return out;
        } finally {
          assigner.dispose();
        }
      },
    });
    nmi = normalizedMutualInformation(clusters, dense.queries);
    nmiSeconds = (performance.now() - t) / 1000;
  }

  const mean = (sum: number) => (tally.queries === 0 ? 0 : sum / tally.queries);
  if (rankMetrics && tally.queries === 0) {
    warnings.push('every query is lone (no other item of its label): metrics are 0');
  }
  const values: Partial<MetricValues> = {};
  if (metrics.has('recall')) {
    const recall: { [k: number]: number } = {};
    ks.forEach((k, i) => {
      recall[k] = mean(tally.recallHits[i]!);
    });
    values.recall = recall;
  }
  if (metrics.has('precisionAt1')) values.precisionAt1 = mean(tally.precisionAt1);
  if (metrics.has('rPrecision')) values.rPrecision = mean(tally.rPrecision);
  if (metrics.has('mapAtR')) values.mapAtR = mean(tally.mapAtR);
  if (nmi !== undefined) values.nmi = nmi;
  return {
    ...values,
    queries: tally.queries,
    loneQueries: tally.loneQueries,
    debug: {
      index: indexName,
      similarity,
      depth,
      maxR,
      deepQueries,
      warnings,
      seconds: { search: searchSeconds, ...(nmiSeconds === undefined ? {} : { nmi: nmiSeconds }) },
    },
  } as EvaluationResult<M>;
}
