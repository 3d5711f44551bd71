import { createRng, RecallkitError, tf } from '@recallkit/core';
import { kMeans, normalizedMutualInformation } from './clustering';
import { exactSearcher } from './exact';
import { faissAvailable, faissSearcher } from './faiss';
import {
  type EmbeddingsInput,
  type LabelsInput,
  type Matrix,
  normalizeRows,
  toLabels,
  toMatrix,
} from './input';
import { createTally } from './metrics';
import { MIN_ROWS_PER_SEARCH, scanQueries } from './scan';
import { rowBlocks, type Searcher, type Similarity, sliceRows } from './search';

export type MetricName = 'recall' | 'precisionAt1' | 'rPrecision' | 'mapAtR' | 'nmi';
const METRIC_NAMES: readonly MetricName[] = ['recall', 'precisionAt1', 'rPrecision', 'mapAtR', 'nmi'];

export interface EvaluateOptions {
  /** Recall@k cut-offs. Default [1, 2, 4, 8, 16]. */
  k?: number[];
  /** Row length when the embeddings (and gallery) are flat Float32Arrays. */
  dim?: number;
  /** A separate gallery: queries are then searched in it (no self-match), with `galleryLabels`. */
  gallery?: EmbeddingsInput;
  galleryLabels?: LabelsInput;
  /**
   * Metrics to report. The rank metrics (recall, precisionAt1, rPrecision, mapAtR) share one search
   * and are always computed; add 'nmi' for NMI of seeded k-means. Default: the rank metrics.
   */
  metrics?: MetricName[];
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
  /** Seed of k-means for NMI (default 0) and its maximum number of iterations (default 20). */
  seed?: number | string;
  kMeansIterations?: number;
  /** Called after each block of queries. */
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluationResult {
  recall: { [k: number]: number };
  precisionAt1: number;
  rPrecision: number;
  mapAtR: number;
  nmi?: number;
  /** Queries that count in the means (R > 0). */
  queries: number;
  /** Queries with no other item of their label, left out of every mean. */
  loneQueries: number;
  debug: {
    /** What searched: 'faiss:IndexFlatIP', 'faiss:HNSW32', 'exact:tfjs-wasm', ... */
    index: string;
    similarity: Similarity;
    /** Neighbours scored per query (the query itself excluded). */
    depth: number;
    /** Largest R among the queries; MAP@R is exact when depth >= maxR. */
    maxR: number;
    /** Queries searched a second time to the full depth (no same-label item in the shallow pass). */
    deepQueries: number;
    warnings: string[];
    seconds: { search: number; nmi?: number };
  };
}

function checkOptions(options: EvaluateOptions): {
  ks: number[];
  metrics: Set<MetricName>;
  similarity: Similarity;
} {
  const ks = options.k ?? [1, 2, 4, 8, 16];
  if (!Array.isArray(ks) || ks.length === 0 || !ks.every((k) => Number.isInteger(k) && k >= 1)) {
    throw new RecallkitError(
      'BAD_OPTION',
      `options.k must be a non-empty list of positive integers, got ${JSON.stringify(ks)}`,
    );
  }
  const metrics = new Set<MetricName>(options.metrics ?? ['recall', 'precisionAt1', 'rPrecision', 'mapAtR']);
  for (const m of metrics) {
    if (!METRIC_NAMES.includes(m)) {
      throw new RecallkitError('BAD_OPTION', `unknown metric '${m}' (known: ${METRIC_NAMES.join(', ')})`);
    }
  }
  const similarity = options.similarity ?? 'cosine';
  if (!['cosine', 'dot', 'negSqL2'].includes(similarity)) {
    throw new RecallkitError(
      'BAD_OPTION',
      `unknown similarity '${similarity}' (known: cosine, dot, negSqL2)`,
    );
  }
  for (const key of ['depth', 'blockRows', 'kMeansIterations'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= (key === 'kMeansIterations' ? 0 : 1))) {
      throw new RecallkitError('BAD_OPTION', `options.${key} must be a positive integer, got ${v}`);
    }
  }
  return { ks, metrics, similarity };
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
      'BAD_OPTION',
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
export async function evaluate(
  embeddings: EmbeddingsInput,
  labels: LabelsInput,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const { ks, metrics, similarity } = checkOptions(options);
  const queries = toMatrix(embeddings, 'embeddings', options.dim);
  const queryLabels = toLabels(labels, queries.rows, 'labels');
  const separate = options.gallery !== undefined;
  if (separate !== (options.galleryLabels !== undefined)) {
    throw new RecallkitError('BAD_OPTION', 'options.gallery and options.galleryLabels go together');
  }
  const gallery = separate ? toMatrix(options.gallery!, 'options.gallery', options.dim) : queries;
  const galleryLabels = separate
    ? toLabels(options.galleryLabels!, gallery.rows, 'options.galleryLabels')
    : queryLabels;
  if (gallery.dim !== queries.dim) {
    throw new RecallkitError(
      'BAD_EMBEDDINGS',
      `gallery rows have ${gallery.dim} values, queries ${queries.dim}`,
    );
  }
  if (similarity === 'cosine') {
    normalizeRows(queries, 'embeddings');
    if (separate) normalizeRows(gallery, 'options.gallery');
  }

  const dense = denseLabels(queryLabels, galleryLabels);
  const relevant = dense.queries.map((id) => dense.counts[id]! - (separate ? 0 : 1));
  const maxR = relevant.reduce((a, b) => Math.max(a, b), 0);
  const candidates = gallery.rows - (separate ? 0 : 1);
  const maxK = Math.max(...ks);
  if (options.depth !== undefined && options.depth < Math.min(maxK, candidates)) {
    throw new RecallkitError(
      'BAD_OPTION',
      `options.depth = ${options.depth} is below the largest k (${maxK})`,
    );
  }
  const depth = Math.min(candidates, Math.max(maxK, maxR), options.depth ?? Number.POSITIVE_INFINITY);
  const warnings: string[] = [];
  if (depth < maxR) {
    const warning = `searched depth ${depth} is below the largest R (${maxR}): R-Precision and MAP@R are lower bounds`;
    warnings.push(warning);
    process.emitWarning(warning, { code: 'RECALLKIT_DEPTH_BELOW_R' });
  }
  if (candidates === 0) {
    throw new RecallkitError('BAD_EMBEDDINGS', 'all-vs-all evaluation needs at least two embeddings');
  }

  const started = performance.now();
  const tally = createTally(ks);
  const searcher = await createSearcher(options.index, gallery, similarity);
  let deepQueries: number;
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
  const searchSeconds = (performance.now() - started) / 1000;

  let nmi: number | undefined;
  let nmiSeconds: number | undefined;
  if (metrics.has('nmi')) {
    const t = performance.now();
    const flat = searcher.name.startsWith('faiss:') ? 'faiss' : 'exact';
    const clusters = await kMeans(queries, dense.classes, {
      iterations: options.kMeansIterations ?? 20,
      rng: createRng(options.seed ?? 0),
      assign: async (centroids) => {
        const assigner = await createSearcher(flat, centroids, 'negSqL2');
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
  if (tally.queries === 0) warnings.push('every query is lone (no other item of its label): metrics are 0');
  const recall: { [k: number]: number } = {};
  ks.forEach((k, i) => {
    recall[k] = mean(tally.recallHits[i]!);
  });
  return {
    recall,
    precisionAt1: mean(tally.precisionAt1),
    rPrecision: mean(tally.rPrecision),
    mapAtR: mean(tally.mapAtR),
    ...(nmi === undefined ? {} : { nmi }),
    queries: tally.queries,
    loneQueries: tally.loneQueries,
    debug: {
      index: searcher.name,
      similarity,
      depth,
      maxR,
      deepQueries,
      warnings,
      seconds: { search: searchSeconds, ...(nmiSeconds === undefined ? {} : { nmi: nmiSeconds }) },
    },
  };
}
