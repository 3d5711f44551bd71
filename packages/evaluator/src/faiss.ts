import { createRequire } from 'node:module';
import { RecallkitError } from '@recallkit/core';
import type { Matrix } from './input';
import { rowBlocks, type Searcher, type Similarity, sliceRows } from './search';

/**
 * The part of faiss-node's API used here (declared locally: the addon is optional). Both sources
 * below expose it: the prebuilt package is faiss-node's own source compiled with faiss linked in.
 */
interface FaissIndex {
  ntotal(): number;
  isTrained(): boolean;
  add(x: number[]): void;
  train(x: number[]): void;
  search(x: number[], k: number): { distances: number[]; labels: number[] };
}
interface FaissIndexClass {
  new (d: number): FaissIndex;
  fromBuffer(src: Buffer): FaissIndex;
}
export interface FaissModule {
  IndexFlatIP: FaissIndexClass;
  IndexFlatL2: FaissIndexClass;
  Index: { fromFactory(d: number, descriptor: string, metric?: number): FaissIndex };
}

const METRIC_INNER_PRODUCT = 0;
const METRIC_L2 = 1;

/** Where the faiss addon came from, first found first used. */
export type FaissSource = '@recallkit/faiss-linux-x64' | 'faiss-node';

/** Which faiss addon the evaluator uses, or why it uses exact search. */
export interface FaissInfo {
  readonly loaded: boolean;
  /**
   * '@recallkit/faiss-linux-x64': the prebuilt addon (an optional dependency, installed on Linux x64
   * with glibc), faiss and OpenBLAS linked in; 'faiss-node': a faiss-node installed and built by the user.
   */
  readonly source?: FaissSource;
  /** The version of the package that loaded. */
  readonly version?: string;
  /** How it was built, for the prebuilt addon: faiss-node source, faiss and OpenBLAS versions. */
  readonly detail?: string;
  /** When not loaded: what was tried and why each failed, and what to do. */
  readonly reason?: string;
}

interface PrebuiltModule extends FaissModule {
  build?: { faissNode?: string; faiss?: string; openblas?: string; linked?: string };
}

/** Candidates in the order they are tried: the prebuilt package first, then a faiss-node built by the user. */
const SOURCES: readonly FaissSource[] = ['@recallkit/faiss-linux-x64', 'faiss-node'];

const HOW_TO_GET_FAISS =
  "@recallkit/faiss-linux-x64 installs with @recallkit/evaluator on Linux x64 (glibc); elsewhere install and build faiss-node (see @recallkit/evaluator's README, 'faiss')";

function isFaissModule(candidate: unknown): candidate is FaissModule {
  const m = candidate as Partial<FaissModule> | null;
  return (
    typeof m?.IndexFlatIP === 'function' &&
    typeof m.IndexFlatL2 === 'function' &&
    typeof m.Index?.fromFactory === 'function'
  );
}

/** Why `name` did not load, in a few words. */
function whyNot(name: FaissSource, error: unknown): string {
  const e = error as { code?: string; message?: string };
  const message = String(e?.message ?? error).split('\n')[0]!;
  if (e?.code === 'MODULE_NOT_FOUND' && message.includes(`'${name}'`)) return 'not installed';
  if (name === 'faiss-node' && /Could not locate the bindings file/.test(message))
    return 'installed, but its native addon was never built (its install script did not run or failed)';
  return message;
}

/** The result of looking for faiss: the module that loaded (or null) and what to report. */
export interface FaissLoad {
  readonly module: FaissModule | null;
  readonly info: FaissInfo;
}

/**
 * Tries each source in order with `load` (a `require`) and keeps the first that loads and has
 * faiss-node's API. Exported for tests; the evaluator calls it once, with its own `require`.
 */
export function findFaiss(load: (name: string) => unknown): FaissLoad {
  const failures: string[] = [];
  for (const source of SOURCES) {
    let candidate: unknown;
    try {
      candidate = load(source);
    } catch (error) {
      failures.push(`${source}: ${whyNot(source, error)}`);
      continue;
    }
    if (!isFaissModule(candidate)) {
      failures.push(`${source}: loaded, but it is not faiss-node's API`);
      continue;
    }
    let version: string | undefined;
    try {
      version = (load(`${source}/package.json`) as { version?: string }).version;
    } catch {}
    const build = (candidate as PrebuiltModule).build;
    const detail =
      source === '@recallkit/faiss-linux-x64' && build
        ? `prebuilt from faiss-node ${build.faissNode}'s source; faiss ${build.faiss} and OpenBLAS ${build.openblas} linked in`
        : source === 'faiss-node'
          ? 'built on this machine'
          : undefined;
    return {
      module: candidate,
      info: {
        loaded: true,
        source,
        ...(version !== undefined ? { version } : {}),
        ...(detail !== undefined ? { detail } : {}),
      },
    };
  }
  return { module: null, info: { loaded: false, reason: `${failures.join('; ')}. ${HOW_TO_GET_FAISS}` } };
}

let found: FaissLoad | undefined;

function faissLoad(): FaissLoad {
  found ??= findFaiss(createRequire(import.meta.url));
  return found;
}

/** faiss-node's API from the first addon that loads, or null. Loaded once, on first use. */
export function loadFaiss(): FaissModule | null {
  return faissLoad().module;
}

/** True when a faiss addon loads here. */
export function faissAvailable(): boolean {
  return loadFaiss() !== null;
}

/** Which faiss addon loaded (`source`, `version`, `detail`), or why none did (`reason`). */
export function faissInfo(): FaissInfo {
  return faissLoad().info;
}

/** The FAISS_UNAVAILABLE message: `what` needed faiss, why no addon loaded, then `advice`. */
export function faissUnavailableMessage(what: string, advice = ''): string {
  return `${what}, but no faiss addon loaded here (${faissInfo().reason})${advice}`;
}

/**
 * The serialised form of a flat index holding `gallery` (faiss's `write_index` layout: fourcc, header,
 * then the raw float32 vectors). faiss-node's `add` takes a `number[]`, converted value by value;
 * building the index from these bytes copies the Float32Array as is.
 */
export function flatIndexBytes(gallery: Matrix, metric: 'ip' | 'l2'): Buffer {
  const header = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8;
  const bytes = Buffer.alloc(header + gallery.data.byteLength);
  let at = bytes.write(metric === 'ip' ? 'IxFI' : 'IxF2', 0, 'latin1');
  at = bytes.writeInt32LE(gallery.dim, at);
  at = bytes.writeBigInt64LE(BigInt(gallery.rows), at);
  at = bytes.writeBigInt64LE(1n << 20n, at); // two unused fields faiss writes as 2^20
  at = bytes.writeBigInt64LE(1n << 20n, at);
  at = bytes.writeUInt8(1, at); // is_trained
  at = bytes.writeInt32LE(metric === 'ip' ? METRIC_INNER_PRODUCT : METRIC_L2, at);
  at = bytes.writeBigUInt64LE(BigInt(gallery.data.length), at);
  bytes.set(new Uint8Array(gallery.data.buffer, gallery.data.byteOffset, gallery.data.byteLength), at);
  return bytes;
}

function toNumbers(values: Float32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

/** faiss's own query block (distance_compute_blas_query_bs): equal calls give equal arithmetic. */
const FAISS_QUERY_BLOCK = 4096;

function wrapFaissError(what: string, error: unknown): RecallkitError {
  return new RecallkitError('FAISS_FAILED', `faiss ${what} failed: ${(error as Error).message ?? error}`);
}

/**
 * Search through faiss-node. `descriptor` undefined means an exact flat index (IndexFlatIP for
 * cosine/dot, IndexFlatL2 for negSqL2); otherwise a faiss index-factory string such as 'HNSW32' or
 * 'IVF256,Flat', trained on the gallery when it needs training.
 */
export function faissSearcher(gallery: Matrix, similarity: Similarity, descriptor?: string): Searcher {
  const faiss = loadFaiss();
  if (!faiss) {
    throw new RecallkitError(
      'FAISS_UNAVAILABLE',
      faissUnavailableMessage("index: 'faiss' was asked for", "; use index: 'exact'"),
    );
  }
  const ip = similarity !== 'negSqL2';
  let index: FaissIndex;
  let name: string;
  if (descriptor === undefined) {
    const cls = ip ? faiss.IndexFlatIP : faiss.IndexFlatL2;
    name = ip ? 'faiss:IndexFlatIP' : 'faiss:IndexFlatL2';
    try {
      index = cls.fromBuffer(flatIndexBytes(gallery, ip ? 'ip' : 'l2'));
    } catch (error) {
      throw wrapFaissError('building a flat index', error);
    }
  } else {
    name = `faiss:${descriptor}`;
    try {
      index = faiss.Index.fromFactory(gallery.dim, descriptor, ip ? METRIC_INNER_PRODUCT : METRIC_L2);
    } catch (error) {
      throw new RecallkitError(
        'INVALID_INDEX',
        `faiss cannot build index '${descriptor}': ${(error as Error).message} (try 'faiss', 'exact', 'HNSW32' or 'IVF256,Flat')`,
      );
    }
    try {
      if (!index.isTrained()) index.train(toNumbers(gallery.data));
      for (const [start, end] of rowBlocks(gallery.rows, FAISS_QUERY_BLOCK)) {
        index.add(toNumbers(sliceRows(gallery, start, end)));
      }
    } catch (error) {
      throw wrapFaissError(`training or filling '${descriptor}'`, error);
    }
  }
  return {
    name,
    blockRows: FAISS_QUERY_BLOCK,
    async search(queries, _rows, depth) {
      let labels: number[];
      try {
        labels = index.search(toNumbers(queries), depth).labels;
      } catch (error) {
        throw wrapFaissError('search', error);
      }
      return Int32Array.from(labels);
    },
    dispose() {},
  };
}
