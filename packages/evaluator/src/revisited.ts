/**
 * The revisited Oxford and Paris protocol (Radenovic, Iscen, Tolias, Avrithis and Chum, "Revisiting
 * Oxford and Paris: Large-Scale Image Retrieval Benchmarking", CVPR 2018), computed as the authors'
 * revisitop code does (python/evaluate.py `compute_ap` / `compute_map`, python/example_evaluate.py):
 * every query has `easy`, `hard` and `junk` database images; the three setups are
 * - Easy: positives = easy, junk = junk + hard;
 * - Medium: positives = easy + hard, junk = junk;
 * - Hard: positives = hard, junk = junk + easy.
 * Junk images are removed from the ranking (each positive moves up by the junk ranked above it),
 * AP is the trapezoid rule over recall steps, mP@k uses revisitop's k = min(k, rank of the last
 * positive), and queries without positives are left out of every mean.
 */
import { RecallkitError } from '@recallkit/core';
import { type EmbeddingsInput, toMatrix } from './input';
import type { Similarity } from './search';
import { createIndex } from './search-index';

/** One query's ground truth: 0-based database indices, and its bounding box [x1, y1, x2, y2]. */
export interface RevisitedQueryTruth {
  easy: readonly number[];
  hard: readonly number[];
  junk: readonly number[];
  bbx?: readonly number[];
}

/** The content of `gnd_roxford5k.pkl` / `gnd_rparis6k.pkl` (or a JSON file of the same shape). */
export interface RevisitedGroundTruth {
  gnd: readonly RevisitedQueryTruth[];
  imlist?: readonly string[];
  qimlist?: readonly string[];
}

export type RevisitedSetup = 'easy' | 'medium' | 'hard';
export const REVISITED_SETUPS: readonly RevisitedSetup[] = ['easy', 'medium', 'hard'];
/** revisitop's cut-offs for mP@k. */
export const REVISITED_KS: readonly number[] = [1, 5, 10];

/** Positives and junk of one query in one setup (revisitop's `{'ok': ..., 'junk': ...}`). */
export interface RevisitedQuerySetup {
  ok: readonly number[];
  junk: readonly number[];
}

export interface RevisitedSetupResult {
  /** Mean AP over the queries with positives; NaN when no query has any (revisitop divides by zero). */
  map: number;
  /** Mean precision at each k over the same queries. */
  mpAtK: { [k: number]: number };
  /** AP of each query, NaN for a query without positives. */
  aps: number[];
  /** Precision at each k of each query (rows follow `ks`), NaN for a query without positives. */
  prs: number[][];
  /** Queries in the means, and queries skipped for having no positive. */
  queries: number;
  skipped: number;
}

export interface RevisitedResult {
  ks: number[];
  easy: RevisitedSetupResult;
  medium: RevisitedSetupResult;
  hard: RevisitedSetupResult;
}

/** A ranking: for each query, database indices from the most to the least similar (revisitop's `ranks.T`). */
export type RankingInput = readonly ArrayLike<number>[];

/**
 * revisitop's `compute_ap`: `positions` are the 0-based ranks of the positives (junk already
 * removed), `positives` their number; trapezoids under the precision-recall curve.
 */
export function revisitedAveragePrecision(positions: ArrayLike<number>, positives: number): number {
  let ap = 0;
  const recallStep = 1 / positives;
  for (let j = 0; j < positions.length; j++) {
    const rank = positions[j]!;
    const precision0 = rank === 0 ? 1 : j / rank;
    const precision1 = (j + 1) / (rank + 1);
    ap += ((precision0 + precision1) * recallStep) / 2;
  }
  return ap;
}

/** The ranks (0-based, junk removed) of one query's positives, as revisitop computes them. */
function positiveRanks(ranking: ArrayLike<number>, truth: RevisitedQuerySetup): number[] {
  const ok = new Set(truth.ok);
  const junkSet = new Set(truth.junk);
  const pos: number[] = [];
  const junk: number[] = [];
  for (let j = 0; j < ranking.length; j++) {
    const id = ranking[j]!;
    if (ok.has(id)) pos.push(j);
    if (junkSet.has(id)) junk.push(j);
  }
  // decrease the positions of positives by the number of junk images ranked before them
  let k = 0;
  let ij = 0;
  for (let ip = 0; ip < pos.length; ip++) {
    while (ij < junk.length && pos[ip]! > junk[ij]!) {
      k++;
      ij++;
    }
    pos[ip] = pos[ip]! - k;
  }
  return pos;
}

/**
 * revisitop's `compute_map` for one setup: `rankings[i]` ranks the database for query i, `truth[i]`
 * holds its positives and junk. A query whose positive list is empty is skipped. A ranking that
 * is cut short and holds none of a query's positives gives AP 0 and precision 0 (revisitop,
 * which expects full rankings, raises there).
 */
export function computeRevisitedMap(
  rankings: RankingInput,
  truth: readonly RevisitedQuerySetup[],
  ks: readonly number[] = REVISITED_KS,
): RevisitedSetupResult {
  if (rankings.length !== truth.length) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `${rankings.length} rankings for ${truth.length} queries of ground truth`,
    );
  }
  let map = 0;
  const pr = new Float64Array(ks.length);
  const aps: number[] = [];
  const prs: number[][] = [];
  let skipped = 0;
  for (let i = 0; i < truth.length; i++) {
    const q = truth[i]!;
    if (q.ok.length === 0) {
      aps.push(Number.NaN);
      prs.push(ks.map(() => Number.NaN));
      skipped++;
      continue;
    }
    const pos = positiveRanks(rankings[i]!, q);
    const ap = revisitedAveragePrecision(pos, q.ok.length);
    map += ap;
    aps.push(ap);
    const last = pos.length === 0 ? 0 : pos[pos.length - 1]! + 1; // positions are increasing
    const row = ks.map((k) => {
      const kq = Math.min(last, k);
      if (kq === 0) return 0;
      let hits = 0;
      for (const p of pos) if (p + 1 <= kq) hits++;
      return hits / kq;
    });
    row.forEach((v, j) => {
      pr[j] = pr[j]! + v;
    });
    prs.push(row);
  }
  const counted = truth.length - skipped;
  const mpAtK: { [k: number]: number } = {};
  ks.forEach((k, j) => {
    mpAtK[k] = counted === 0 ? Number.NaN : pr[j]! / counted;
  });
  return {
    map: counted === 0 ? Number.NaN : map / counted,
    mpAtK,
    aps,
    prs,
    queries: counted,
    skipped,
  };
}

function checkIndexList(value: unknown, what: string, databaseSize: number | undefined): number[] {
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) {
    throw new RecallkitError('INVALID_GROUND_TRUTH', `${what} must be a list of database indices`);
  }
  const list = Array.from(value as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));
  list.forEach((v, j) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new RecallkitError(
        'INVALID_GROUND_TRUTH',
        `${what}[${j}] = ${String(v)} is not a database index (a non-negative integer)`,
      );
    }
    if (databaseSize !== undefined && v >= databaseSize) {
      throw new RecallkitError(
        'INVALID_GROUND_TRUTH',
        `${what}[${j}] = ${v} is outside the database (${databaseSize} images)`,
      );
    }
  });
  return list as number[];
}

/** Checks the ground truth's shape and returns its `gnd` list with plain number lists. */
function queryTruths(
  groundTruth: RevisitedGroundTruth | readonly RevisitedQueryTruth[],
  databaseSize: number | undefined,
): { easy: number[]; hard: number[]; junk: number[] }[] {
  const gnd = Array.isArray(groundTruth) ? groundTruth : (groundTruth as RevisitedGroundTruth)?.gnd;
  if (!Array.isArray(gnd)) {
    throw new RecallkitError(
      'INVALID_GROUND_TRUTH',
      'ground truth must be { gnd: [{ easy, hard, junk }, ...] } or its gnd list',
    );
  }
  const size =
    databaseSize ??
    (!Array.isArray(groundTruth) && Array.isArray((groundTruth as RevisitedGroundTruth).imlist)
      ? (groundTruth as RevisitedGroundTruth).imlist!.length
      : undefined);
  return gnd.map((q, i) => {
    if (q === null || typeof q !== 'object') {
      throw new RecallkitError(
        'INVALID_GROUND_TRUTH',
        `gnd[${i}] must be an object with easy, hard and junk`,
      );
    }
    return {
      easy: checkIndexList(q.easy, `gnd[${i}].easy`, size),
      hard: checkIndexList(q.hard, `gnd[${i}].hard`, size),
      junk: checkIndexList(q.junk, `gnd[${i}].junk`, size),
    };
  });
}

function checkKs(ks: readonly number[]): number[] {
  if (!Array.isArray(ks) || ks.length === 0 || !ks.every((k) => Number.isInteger(k) && k >= 1)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.ks must be a non-empty list of positive integers, got ${JSON.stringify(ks)}`,
    );
  }
  return [...ks];
}

function checkRankings(rankings: RankingInput, queries: number, databaseSize: number | undefined): void {
  if (!Array.isArray(rankings) || rankings.length !== queries) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `expected one ranking per query (${queries}), got ${Array.isArray(rankings) ? rankings.length : typeof rankings}`,
    );
  }
  rankings.forEach((ranking, i) => {
    if (ranking === null || typeof ranking !== 'object' || typeof ranking.length !== 'number') {
      throw new RecallkitError('INVALID_INPUT', `ranking ${i} must be a list of database indices`);
    }
    const seen = new Set<number>();
    for (let j = 0; j < ranking.length; j++) {
      const id = ranking[j]!;
      if (!Number.isInteger(id) || id < 0 || (databaseSize !== undefined && id >= databaseSize)) {
        throw new RecallkitError(
          'INVALID_INPUT',
          `ranking ${i}, position ${j}: ${id} is not a database index${databaseSize === undefined ? '' : ` (0..${databaseSize - 1})`}`,
        );
      }
      if (seen.has(id)) {
        throw new RecallkitError('INVALID_INPUT', `ranking ${i} lists database image ${id} twice`);
      }
      seen.add(id);
    }
  });
}

export interface RevisitedOptions {
  /** mP@k cut-offs; default [1, 5, 10]. */
  ks?: number[];
  /** Number of database images, to check indices against (default: the ground truth's imlist length). */
  databaseSize?: number;
}

/** The three setups of a ground truth, as revisitop's example_evaluate.py builds them. */
export function revisitedSetups(
  groundTruth: RevisitedGroundTruth | readonly RevisitedQueryTruth[],
  databaseSize?: number,
): Record<RevisitedSetup, RevisitedQuerySetup[]> {
  const gnd = queryTruths(groundTruth, databaseSize);
  return {
    easy: gnd.map((g) => ({ ok: g.easy, junk: [...g.junk, ...g.hard] })),
    medium: gnd.map((g) => ({ ok: [...g.easy, ...g.hard], junk: g.junk })),
    hard: gnd.map((g) => ({ ok: g.hard, junk: [...g.junk, ...g.easy] })),
  };
}

const RANKING_OPTIONS = ['ks', 'databaseSize'];

function checkKeys(options: object, valid: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!valid.includes(key) && (options as Record<string, unknown>)[key] !== undefined) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `${what}: unknown option '${key}' (valid: ${valid.join(', ')})`,
      );
    }
  }
}

/** mAP and mP@k of the Easy, Medium and Hard setups for rankings of the database. */
export function revisitedMetrics(
  rankings: RankingInput,
  groundTruth: RevisitedGroundTruth | readonly RevisitedQueryTruth[],
  options: RevisitedOptions = {},
): RevisitedResult {
  checkKeys(options, RANKING_OPTIONS, 'revisitedMetrics');
  const ks = checkKs(options.ks ?? [...REVISITED_KS]);
  const setups = revisitedSetups(groundTruth, options.databaseSize);
  checkRankings(rankings, setups.easy.length, options.databaseSize);
  return {
    ks,
    easy: computeRevisitedMap(rankings, setups.easy, ks),
    medium: computeRevisitedMap(rankings, setups.medium, ks),
    hard: computeRevisitedMap(rankings, setups.hard, ks),
  };
}

export interface EvaluateRevisitedOptions {
  /** mP@k cut-offs; default [1, 5, 10]. */
  ks?: number[];
  /** Row length when queries and database are flat Float32Arrays. */
  dim?: number;
  /** Default 'cosine'. */
  similarity?: Similarity;
  /** 'faiss' (default when its addon loads) or 'exact'. */
  index?: 'faiss' | 'exact';
  /** A faiss index-factory string (approximate search; default exact 'Flat'). */
  factory?: string;
  /**
   * Ranks kept per query; default the whole database, as revisitop ranks it. A shorter ranking
   * (for a database with a million distractors) misses the positives beyond it: AP and mP@k are
   * then lower bounds.
   */
  depth?: number;
}

const EVALUATE_REVISITED_OPTIONS = ['ks', 'dim', 'similarity', 'index', 'factory', 'depth'];

/**
 * Ranks the whole database for every query embedding (as revisitop's `argsort` does; equal scores
 * in database order) and computes the revisited protocol's figures. The query images must not be
 * in the database (the official imlist does not hold them).
 */
export async function evaluateRevisited(
  queries: EmbeddingsInput,
  database: EmbeddingsInput,
  groundTruth: RevisitedGroundTruth | readonly RevisitedQueryTruth[],
  options: EvaluateRevisitedOptions = {},
): Promise<RevisitedResult & { debug: { index: string; seconds: number } }> {
  checkKeys(options, EVALUATE_REVISITED_OPTIONS, 'evaluateRevisited');
  const ks = checkKs(options.ks ?? [...REVISITED_KS]);
  const q = toMatrix(queries, 'queries', options.dim);
  const db = toMatrix(database, 'database', options.dim);
  if (q.dim !== db.dim) {
    throw new RecallkitError('INVALID_INPUT', `database rows have ${db.dim} values, queries ${q.dim}`);
  }
  const setups = revisitedSetups(groundTruth, db.rows);
  if (setups.easy.length !== q.rows) {
    throw new RecallkitError(
      'INVALID_GROUND_TRUTH',
      `the ground truth has ${setups.easy.length} queries, the query embeddings ${q.rows} rows`,
    );
  }
  const depth = options.depth ?? db.rows;
  if (!Number.isInteger(depth) || depth < 1 || depth > db.rows) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.depth must be an integer from 1 to the database size (${db.rows}), got ${depth}`,
    );
  }
  const started = performance.now();
  const ids = Array.from({ length: db.rows }, (_, i) => i);
  const index = await createIndex(db.data, ids, {
    dim: db.dim,
    similarity: options.similarity ?? 'cosine',
    ...(options.index === undefined ? {} : { index: options.index }),
    ...(options.factory === undefined ? {} : { factory: options.factory }),
  });
  let rankings: Int32Array[];
  try {
    const hits = await index.search(q.data, depth);
    rankings = hits.ids.map((row, i) => {
      const scores = hits.scores[i]!;
      const order = row.map((_, j) => j);
      order.sort((a, b) => scores[b]! - scores[a]! || row[a]! - row[b]!);
      return Int32Array.from(order, (j) => row[j]!);
    });
  } finally {
    index.dispose();
  }
  return {
    ks,
    easy: computeRevisitedMap(rankings, setups.easy, ks),
    medium: computeRevisitedMap(rankings, setups.medium, ks),
    hard: computeRevisitedMap(rankings, setups.hard, ks),
    debug: { index: index.name, seconds: (performance.now() - started) / 1000 },
  };
}
