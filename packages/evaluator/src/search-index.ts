/**
 * A search index for serving: embeddings with ids, searched for the k most similar, extended in
 * batches, saved to and loaded from one file (written atomically).
 *
 * - 'faiss': a faiss index built by its factory ('Flat' exact by default, 'HNSW32', 'IVF1024,Flat',
 *   'IVF4096,PQ32', ...) through faiss-node. The vectors live only inside faiss; each `add` passes
 *   one batch through.
 * - 'exact': brute force in TensorFlow.js, the vectors held as backend tensors in fixed-size chunks.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RecallkitError, tf, writeFileAtomic } from '@recallkit/core';
import { faissUnavailableMessage, loadFaiss } from './faiss';
import { checkMagnitudes, type EmbeddingsInput, type Matrix, normalizeRows, toMatrix } from './input';
import { rowBlocks, type Similarity, sliceRows } from './search';

export type IndexId = string | number;

export interface CreateIndexOptions {
  /** 'faiss' (the default when faiss-node's addon loads) or 'exact' (TensorFlow.js). */
  index?: 'faiss' | 'exact';
  /**
   * faiss index-factory string: 'Flat' (exact, the default), 'HNSW32', 'IVF1024,Flat', 'IVF4096,PQ32'...
   * An index that needs training is trained on the embeddings given to `createIndex`.
   */
  factory?: string;
  /** Default 'cosine' (inner product of L2-normalised rows); 'dot'; 'negSqL2' (scores are -||q - x||²). */
  similarity?: Similarity;
  /** Row length when embeddings are a flat Float32Array. */
  dim?: number;
}

/** The k best hits of each query, best first: ids and scores (higher is more similar). */
export interface SearchHits<Id extends IndexId = IndexId> {
  ids: Id[][];
  scores: number[][];
}

export interface SearchIndex<Id extends IndexId = IndexId> {
  readonly kind: 'faiss' | 'exact';
  /** What searches: 'faiss:Flat', 'faiss:HNSW32', 'exact:tfjs-wasm', ... */
  readonly name: string;
  readonly dim: number;
  readonly similarity: Similarity;
  /** Vectors held. */
  readonly size: number;
  /** Adds a batch of vectors with their ids (unique across the index). */
  add(embeddings: EmbeddingsInput, ids: readonly Id[]): void;
  /** The k most similar vectors of each query row (an approximate index may return fewer). */
  search(queries: EmbeddingsInput, k: number): Promise<SearchHits<Id>>;
  /** Writes the index to `file` atomically (temporary file, then rename). */
  save(file: string): Promise<void>;
  /** Frees the tensors or the faiss index. */
  dispose(): void;
}

interface FaissLike {
  ntotal(): number;
  isTrained(): boolean;
  add(x: number[]): void;
  train(x: number[]): void;
  search(x: number[], k: number): { distances: number[]; labels: number[] };
  toBuffer(): Buffer;
}

const MAGIC = Buffer.from('RKINDEX1', 'latin1');
const FORMAT_VERSION = 1;
/** Rows per faiss add/search call: faiss's own query block. */
const FAISS_BLOCK = 4096;
/** Elements per exact-index chunk (64 MB of float32): bounds each matMul's score block. */
const CHUNK_ELEMENTS = 1 << 24;
const CREATE_OPTIONS = ['index', 'factory', 'similarity', 'dim'];
const SIMILARITIES: readonly Similarity[] = ['cosine', 'dot', 'negSqL2'];

interface Header {
  format: string;
  version: number;
  kind: 'faiss' | 'exact';
  factory: string | null;
  similarity: Similarity;
  dim: number;
  size: number;
  ids: IndexId[];
  payloadBytes: number;
  payloadSha256: string;
}

function toNumbers(values: Float32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

class IdTable<Id extends IndexId> {
  readonly ids: Id[] = [];
  private readonly seen = new Set<Id>();

  check(ids: readonly Id[], rows: number): void {
    if (!Array.isArray(ids) || ids.length !== rows) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `ids must be a list with one id per embedding row (${rows}), got ${Array.isArray(ids) ? ids.length : typeof ids}`,
      );
    }
    const batch = new Set<Id>();
    ids.forEach((raw, i) => {
      const id: IndexId = raw;
      if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) {
        throw new RecallkitError(
          'INVALID_INPUT',
          `ids[${i}] = ${String(id)} is neither a string nor an integer`,
        );
      }
      if (this.seen.has(raw)) {
        throw new RecallkitError('DUPLICATE_ID', `ids[${i}] = ${JSON.stringify(id)} is already in the index`);
      }
      if (batch.has(raw)) {
        throw new RecallkitError(
          'DUPLICATE_ID',
          `ids[${i}] = ${JSON.stringify(id)} appears twice in this batch`,
        );
      }
      batch.add(raw);
    });
  }

  push(ids: readonly Id[]): void {
    for (const id of ids) {
      this.ids.push(id);
      this.seen.add(id);
    }
  }
}

function checkOptions(options: CreateIndexOptions): void {
  for (const key of Object.keys(options)) {
    if (!CREATE_OPTIONS.includes(key) && (options as Record<string, unknown>)[key] !== undefined) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `createIndex: unknown option '${key}' (valid: ${CREATE_OPTIONS.join(', ')})`,
      );
    }
  }
  if (options.index !== undefined && options.index !== 'faiss' && options.index !== 'exact') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `options.index must be 'faiss' or 'exact', got ${JSON.stringify(options.index)}`,
    );
  }
  if (options.similarity !== undefined && !SIMILARITIES.includes(options.similarity)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `unknown similarity '${options.similarity}' (known: ${SIMILARITIES.join(', ')})`,
    );
  }
  if (
    options.factory !== undefined &&
    (typeof options.factory !== 'string' || options.factory.trim() === '')
  ) {
    throw new RecallkitError('INVALID_OPTION', 'options.factory must be a faiss index-factory string');
  }
  if (options.index === 'exact' && options.factory !== undefined) {
    throw new RecallkitError('INVALID_OPTION', "options.factory needs index: 'faiss'");
  }
}

function checkK(k: number, size: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new RecallkitError('INVALID_OPTION', `k must be a positive integer, got ${k}`);
  }
  if (k > size) {
    throw new RecallkitError('INVALID_OPTION', `k = ${k} is larger than the index (${size} vectors)`);
  }
}

abstract class BaseIndex<Id extends IndexId> implements SearchIndex<Id> {
  abstract readonly kind: 'faiss' | 'exact';
  abstract readonly name: string;
  protected readonly table = new IdTable<Id>();

  constructor(
    readonly dim: number,
    readonly similarity: Similarity,
  ) {}

  get size(): number {
    return this.table.ids.length;
  }

  /** Rows as a float32 matrix of this index's dimension, normalised for cosine. */
  protected rows(input: EmbeddingsInput, what: string): Matrix {
    const matrix = toMatrix(input, what, input instanceof Float32Array ? this.dim : undefined);
    if (matrix.dim !== this.dim) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `${what} rows have ${matrix.dim} values, the index ${this.dim}`,
      );
    }
    if (this.similarity === 'cosine') normalizeRows(matrix, what);
    else checkMagnitudes(matrix, what);
    return matrix;
  }

  add(embeddings: EmbeddingsInput, ids: readonly Id[]): void {
    this.addMatrix(this.rows(embeddings, 'embeddings'), ids);
  }

  /** Adds rows already checked and normalised (createIndex's first batch, without another copy). */
  addMatrix(matrix: Matrix, ids: readonly Id[]): void {
    this.table.check(ids, matrix.rows);
    this.addRows(matrix);
    this.table.push(ids);
  }

  async search(queries: EmbeddingsInput, k: number): Promise<SearchHits<Id>> {
    checkK(k, this.size);
    const matrix = this.rows(queries, 'queries');
    const { positions, scores } = await this.searchRows(matrix, k);
    const ids = this.table.ids;
    return {
      ids: positions.map((row) => row.map((p) => ids[p]!)),
      scores,
    };
  }

  async save(file: string): Promise<void> {
    const payload = await this.payload();
    const sha = createHash('sha256');
    let bytes = 0;
    for (const part of payload) {
      sha.update(part);
      bytes += part.byteLength;
    }
    const header: Header = {
      format: 'recallkit-index',
      version: FORMAT_VERSION,
      kind: this.kind,
      factory: this.factory(),
      similarity: this.similarity,
      dim: this.dim,
      size: this.size,
      ids: this.table.ids,
      payloadBytes: bytes,
      payloadSha256: sha.digest('hex'),
    };
    // pad the header so that the payload starts at a multiple of 8 bytes (float32 views on load)
    const text = JSON.stringify(header);
    const json = Buffer.from(text.padEnd(text.length + ((8 - (Buffer.byteLength(text) % 8)) % 8), ' '));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.byteLength));
    await writeFileAtomic(file, [MAGIC, length, json, ...payload]);
  }

  abstract dispose(): void;
  protected abstract factory(): string | null;
  protected abstract addRows(matrix: Matrix): void;
  protected abstract searchRows(
    matrix: Matrix,
    k: number,
  ): Promise<{ positions: number[][]; scores: number[][] }>;
  protected abstract payload(): Promise<Uint8Array[]>;

  /** Used by load: registers ids without vectors (the vectors come with the payload). */
  restoreIds(ids: readonly Id[]): void {
    this.table.check(ids, ids.length);
    this.table.push(ids);
  }
}

class FaissIndex<Id extends IndexId> extends BaseIndex<Id> {
  readonly kind = 'faiss' as const;
  readonly name: string;
  /** Set when the index was read from a file: faiss-node cannot serialise such an index again. */
  private source: { file: string; offset: number; bytes: number; sha256: string; size: number } | null = null;

  constructor(
    dim: number,
    similarity: Similarity,
    private readonly descriptor: string,
    private readonly index: FaissLike,
  ) {
    super(dim, similarity);
    this.name = `faiss:${descriptor}`;
  }

  static metric(similarity: Similarity): number {
    return similarity === 'negSqL2' ? 1 : 0; // METRIC_L2 : METRIC_INNER_PRODUCT
  }

  protected factory(): string {
    return this.descriptor;
  }

  trainOn(matrix: Matrix): void {
    if (this.index.isTrained()) return;
    try {
      this.index.train(toNumbers(matrix.data));
    } catch (error) {
      throw new RecallkitError(
        'FAISS_FAILED',
        `faiss could not train '${this.descriptor}' on ${matrix.rows} vectors: ${(error as Error).message}`,
      );
    }
  }

  protected addRows(matrix: Matrix): void {
    if (!this.index.isTrained()) {
      throw new RecallkitError('FAISS_FAILED', `faiss index '${this.descriptor}' is not trained`);
    }
    try {
      for (const [start, end] of rowBlocks(matrix.rows, FAISS_BLOCK)) {
        this.index.add(toNumbers(sliceRows(matrix, start, end)));
      }
    } catch (error) {
      throw new RecallkitError('FAISS_FAILED', `faiss add failed: ${(error as Error).message}`);
    }
  }

  protected async searchRows(matrix: Matrix, k: number) {
    const positions: number[][] = [];
    const scores: number[][] = [];
    const sign = this.similarity === 'negSqL2' ? -1 : 1;
    for (const [start, end] of rowBlocks(matrix.rows, FAISS_BLOCK)) {
      let result: { distances: number[]; labels: number[] };
      try {
        result = this.index.search(toNumbers(sliceRows(matrix, start, end)), k);
      } catch (error) {
        throw new RecallkitError('FAISS_FAILED', `faiss search failed: ${(error as Error).message}`);
      }
      for (let r = 0; r < end - start; r++) {
        const p: number[] = [];
        const s: number[] = [];
        for (let j = r * k; j < (r + 1) * k; j++) {
          const label = result.labels[j]!;
          if (label < 0) continue; // an approximate index found fewer than k
          p.push(label);
          s.push(sign * result.distances[j]!);
        }
        positions.push(p);
        scores.push(s);
      }
    }
    return { positions, scores };
  }

  markLoaded(source: { file: string; offset: number; bytes: number; sha256: string }): void {
    this.source = { ...source, size: this.size };
  }

  protected async payload(): Promise<Uint8Array[]> {
    if (this.source === null) return [this.index.toBuffer()];
    // faiss-node's toBuffer/write crash the process on an index that faiss read back (faiss 1.7.3),
    // so an index loaded from a file is saved by copying its payload, while it is unchanged.
    if (this.size !== this.source.size) {
      throw new RecallkitError(
        'INDEX_NOT_SAVEABLE',
        `this faiss index was loaded from ${this.source.file} and has grown since; faiss-node cannot serialise a loaded faiss index: rebuild it with createIndex (or use index: 'exact') to save it`,
      );
    }
    const file = await readFile(this.source.file);
    const payload = file.subarray(this.source.offset, this.source.offset + this.source.bytes);
    if (
      payload.byteLength !== this.source.bytes ||
      createHash('sha256').update(payload).digest('hex') !== this.source.sha256
    ) {
      throw new RecallkitError(
        'INDEX_NOT_SAVEABLE',
        `${this.source.file} changed since this faiss index was loaded from it; load it again`,
      );
    }
    return [payload];
  }

  dispose(): void {}
}

class ExactIndex<Id extends IndexId> extends BaseIndex<Id> {
  readonly kind = 'exact' as const;
  readonly name: string;
  /** Full chunks of `chunkRows` rows each, then a last one that may be partial. */
  private chunks: tf.Tensor2D[] = [];
  private readonly chunkRows: number;
  private negSqNorms: (tf.Tensor1D | null)[] = [];

  constructor(dim: number, similarity: Similarity) {
    super(dim, similarity);
    this.name = `exact:tfjs-${tf.getBackend()}`;
    this.chunkRows = Math.max(1, Math.floor(CHUNK_ELEMENTS / dim));
  }

  protected factory(): null {
    return null;
  }

  private chunkSizes(): number[] {
    return this.chunks.map((c) => c.shape[0]);
  }

  protected addRows(matrix: Matrix): void {
    let start = 0;
    while (start < matrix.rows) {
      const last = this.chunks.length - 1;
      const lastRows = last >= 0 ? this.chunkSizes()[last]! : this.chunkRows;
      const room = this.chunkRows - lastRows;
      if (room === 0) {
        const end = Math.min(matrix.rows, start + this.chunkRows);
        this.chunks.push(tf.tensor2d(sliceRows(matrix, start, end), [end - start, this.dim]));
        this.negSqNorms.push(null);
        start = end;
      } else {
        const end = Math.min(matrix.rows, start + room);
        const extra = tf.tensor2d(sliceRows(matrix, start, end), [end - start, this.dim]);
        const merged = tf.concat2d([this.chunks[last]!, extra], 0);
        extra.dispose();
        this.chunks[last]!.dispose();
        this.negSqNorms[last]?.dispose();
        this.chunks[last] = merged;
        this.negSqNorms[last] = null;
        start = end;
      }
    }
  }

  private norms(c: number): tf.Tensor1D {
    let n = this.negSqNorms[c];
    if (!n) {
      const chunk = this.chunks[c]!;
      n = tf.tidy(() => chunk.square().sum(1).neg()) as tf.Tensor1D;
      this.negSqNorms[c] = n;
    }
    return n;
  }

  protected async searchRows(matrix: Matrix, k: number) {
    const positions: number[][] = [];
    const scores: number[][] = [];
    const blockRows = Math.max(1, Math.min(4096, Math.floor(CHUNK_ELEMENTS / this.chunkRows)));
    for (const [start, end] of rowBlocks(matrix.rows, blockRows)) {
      const rows = end - start;
      const q = tf.tensor2d(sliceRows(matrix, start, end), [rows, this.dim]);
      const candidates: { values: Float32Array; indices: Int32Array; width: number; offset: number }[] = [];
      try {
        let offset = 0;
        for (let c = 0; c < this.chunks.length; c++) {
          const chunk = this.chunks[c]!;
          const width = Math.min(k, chunk.shape[0]);
          const norms = this.similarity === 'negSqL2' ? this.norms(c) : null;
          const { values, indices } = tf.tidy(() => {
            let s: tf.Tensor2D = tf.matMul(q, chunk, false, true);
            // -||q - x||² = 2 q.x - ||x||² - ||q||²; the last term is added per row below
            if (norms) s = s.mul(2).add(norms);
            return tf.topk(s, width, true);
          });
          candidates.push({
            values: (await values.data()) as Float32Array,
            indices: (await indices.data()) as Int32Array,
            width,
            offset,
          });
          values.dispose();
          indices.dispose();
          offset += chunk.shape[0];
        }
      } finally {
        q.dispose();
      }
      for (let r = 0; r < rows; r++) {
        let qNorm = 0;
        if (this.similarity === 'negSqL2') {
          for (let j = (start + r) * this.dim; j < (start + r + 1) * this.dim; j++) {
            qNorm += matrix.data[j]! * matrix.data[j]!;
          }
        }
        const pool: [number, number][] = [];
        for (const cand of candidates) {
          for (let j = r * cand.width; j < (r + 1) * cand.width; j++) {
            pool.push([cand.values[j]! - qNorm, cand.offset + cand.indices[j]!]);
          }
        }
        pool.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
        const top = pool.slice(0, k);
        positions.push(top.map((t) => t[1]));
        scores.push(top.map((t) => t[0]));
      }
    }
    return { positions, scores };
  }

  protected async payload(): Promise<Uint8Array[]> {
    const parts: Uint8Array[] = [];
    for (const chunk of this.chunks) {
      const data = (await chunk.data()) as Float32Array;
      parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return parts;
  }

  /** Used by load: the vectors of a saved exact index, already normalised. */
  restoreVectors(data: Float32Array): void {
    this.addRows({ data, rows: data.length / this.dim, dim: this.dim });
  }

  dispose(): void {
    for (const c of this.chunks) c.dispose();
    for (const n of this.negSqNorms) n?.dispose();
    this.chunks = [];
    this.negSqNorms = [];
  }
}

function createFaiss<Id extends IndexId>(
  dim: number,
  similarity: Similarity,
  descriptor: string,
): FaissIndex<Id> {
  const faiss = loadFaiss();
  if (!faiss) {
    throw new RecallkitError(
      'FAISS_UNAVAILABLE',
      faissUnavailableMessage("index: 'faiss' was asked for", "; use index: 'exact'"),
    );
  }
  let index: FaissLike;
  try {
    index = faiss.Index.fromFactory(dim, descriptor, FaissIndex.metric(similarity)) as unknown as FaissLike;
  } catch (error) {
    throw new RecallkitError(
      'INVALID_INDEX',
      `faiss cannot build index '${descriptor}': ${(error as Error).message} (try 'Flat', 'HNSW32' or 'IVF256,Flat')`,
    );
  }
  return new FaissIndex<Id>(dim, similarity, descriptor, index);
}

/**
 * A search index holding `embeddings` under `ids`. More batches go in with `add`; `search` returns
 * ids and scores; `save` writes one file that `loadIndex` reads back.
 */
export async function createIndex<Id extends IndexId>(
  embeddings: EmbeddingsInput,
  ids: readonly Id[],
  options: CreateIndexOptions = {},
): Promise<SearchIndex<Id>> {
  checkOptions(options);
  const similarity = options.similarity ?? 'cosine';
  const matrix = toMatrix(embeddings, 'embeddings', options.dim);
  if (similarity === 'cosine') normalizeRows(matrix, 'embeddings');
  else checkMagnitudes(matrix, 'embeddings');
  const kind = options.index ?? (options.factory !== undefined || loadFaiss() ? 'faiss' : 'exact');
  if (kind === 'exact') {
    await tf.ready();
    const index = new ExactIndex<Id>(matrix.dim, similarity);
    index.addMatrix(matrix, ids);
    return index;
  }
  const index = createFaiss<Id>(matrix.dim, similarity, options.factory ?? 'Flat');
  index.trainOn(matrix);
  index.addMatrix(matrix, ids);
  return index;
}

function corrupt(file: string, why: string): RecallkitError {
  return new RecallkitError('INDEX_CORRUPT', `${file}: ${why}`, { file });
}

/** Reads an index written by `save`. */
export async function loadIndex<Id extends IndexId = IndexId>(file: string): Promise<SearchIndex<Id>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new RecallkitError('INDEX_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      file,
    });
  }
  if (bytes.byteLength < 16 || !bytes.subarray(0, 8).equals(MAGIC)) {
    throw corrupt(file, 'not a Recallkit index file (bad magic)');
  }
  const headerBytes = Number(bytes.readBigUInt64LE(8));
  if (16 + headerBytes > bytes.byteLength) throw corrupt(file, 'truncated header');
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(16, 16 + headerBytes).toString('utf8')) as Header;
  } catch {
    throw corrupt(file, 'unreadable header');
  }
  if (header.format !== 'recallkit-index' || header.version !== FORMAT_VERSION) {
    throw corrupt(file, `unsupported format ${header.format} version ${header.version}`);
  }
  const offset = 16 + headerBytes;
  const payload = bytes.subarray(offset);
  if (payload.byteLength !== header.payloadBytes) {
    throw corrupt(file, `payload holds ${payload.byteLength} bytes, the header says ${header.payloadBytes}`);
  }
  if (createHash('sha256').update(payload).digest('hex') !== header.payloadSha256) {
    throw corrupt(file, 'payload checksum mismatch');
  }
  if (!Array.isArray(header.ids) || header.ids.length !== header.size) {
    throw corrupt(file, `${header.ids?.length} ids for ${header.size} vectors`);
  }
  if (header.kind === 'exact') {
    if (payload.byteLength !== header.size * header.dim * 4) {
      throw corrupt(
        file,
        `payload of ${payload.byteLength} bytes is not ${header.size} x ${header.dim} float32`,
      );
    }
    await tf.ready();
    const index = new ExactIndex<Id>(header.dim, header.similarity);
    const aligned = payload.byteOffset % 4 === 0;
    const data = aligned
      ? new Float32Array(payload.buffer, payload.byteOffset, header.size * header.dim)
      : new Float32Array(Uint8Array.from(payload).buffer);
    index.restoreVectors(data);
    index.restoreIds(header.ids as Id[]);
    return index;
  }
  if (header.kind !== 'faiss' || typeof header.factory !== 'string')
    throw corrupt(file, 'unknown index kind');
  const faiss = loadFaiss();
  if (!faiss) {
    throw new RecallkitError('FAISS_UNAVAILABLE', faissUnavailableMessage(`${file} holds a faiss index`));
  }
  let raw: FaissLike;
  try {
    const reader = faiss.Index as unknown as { fromBuffer(src: Buffer): FaissLike };
    raw = reader.fromBuffer(payload);
  } catch (error) {
    throw corrupt(file, `faiss cannot read the index: ${(error as Error).message}`);
  }
  if (raw.ntotal() !== header.size) {
    throw corrupt(file, `faiss index holds ${raw.ntotal()} vectors, the header ${header.size}`);
  }
  const index = new FaissIndex<Id>(header.dim, header.similarity, header.factory, raw);
  index.restoreIds(header.ids as Id[]);
  index.markLoaded({ file, offset, bytes: header.payloadBytes, sha256: header.payloadSha256 });
  return index;
}
