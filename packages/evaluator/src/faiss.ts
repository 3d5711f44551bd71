import { createRequire } from 'node:module';
import { RecallkitError } from '@recallkit/core';
import type { Matrix } from './input';
import { rowBlocks, type Searcher, type Similarity, sliceRows } from './search';

/** The part of faiss-node's API used here (declared locally: faiss-node is optional). */
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
interface FaissModule {
  IndexFlatIP: FaissIndexClass;
  IndexFlatL2: FaissIndexClass;
  Index: { fromFactory(d: number, descriptor: string, metric?: number): FaissIndex };
}

const METRIC_INNER_PRODUCT = 0;
const METRIC_L2 = 1;

let faissModule: FaissModule | null | undefined;

/** faiss-node, or null when its native addon is not installed or not built. Loaded once, on first use. */
export function loadFaiss(): FaissModule | null {
  if (faissModule === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const candidate = require('faiss-node') as FaissModule;
      faissModule = typeof candidate.IndexFlatIP === 'function' ? candidate : null;
    } catch {
      faissModule = null;
    }
  }
  return faissModule;
}

/** True when faiss-node's native addon loads here. */
export function faissAvailable(): boolean {
  return loadFaiss() !== null;
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
      "faiss-node's native addon is not available here; use index: 'exact' (or build faiss-node)",
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
        'BAD_INDEX',
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
