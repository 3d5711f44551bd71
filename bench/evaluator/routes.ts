/**
 * Ways to get vectors into faiss-node, whose API takes number[]: measured on the bench data.
 * - gallery: `add(number[])` (the addon converts value by value) vs a flat index rebuilt with
 *   `fromBuffer` from faiss's serialised layout (a byte copy of the Float32Array);
 * - queries: the Float32Array -> number[] copy done per block before `search`, and whole `search`
 *   calls with different query-block sizes.
 */
import { createRequire } from 'node:module';

interface FaissIndex {
  add(x: number[]): void;
  ntotal(): number;
  search(x: number[], k: number): { labels: number[] };
}
const require = createRequire(new URL('../../packages/evaluator/package.json', import.meta.url));
const faiss = require('faiss-node') as {
  IndexFlatIP: { new (d: number): FaissIndex; fromBuffer(b: Buffer): FaissIndex };
};

const seconds = (t: number) => (performance.now() - t) / 1000;

function toNumbers(values: Float32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

function flatIpBytes(data: Float32Array, rows: number, dim: number): Buffer {
  const bytes = Buffer.alloc(45 + data.byteLength);
  let at = bytes.write('IxFI', 0, 'latin1');
  at = bytes.writeInt32LE(dim, at);
  at = bytes.writeBigInt64LE(BigInt(rows), at);
  at = bytes.writeBigInt64LE(1n << 20n, at);
  at = bytes.writeBigInt64LE(1n << 20n, at);
  at = bytes.writeUInt8(1, at);
  at = bytes.writeInt32LE(0, at);
  at = bytes.writeBigUInt64LE(BigInt(data.length), at);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  return bytes;
}

export function measureRoutes(
  data: Float32Array,
  rows: number,
  dim: number,
  k: number,
  sampleQueries: number,
) {
  const out: Record<string, number> = {};
  let t = performance.now();
  const all = toNumbers(data);
  out['gallery Float32Array -> number[] (s)'] = seconds(t);
  t = performance.now();
  const added = new faiss.IndexFlatIP(dim);
  added.add(all);
  out['gallery add(number[]) in the addon (s)'] = seconds(t);
  t = performance.now();
  const built = faiss.IndexFlatIP.fromBuffer(flatIpBytes(data, rows, dim));
  out['gallery fromBuffer(serialised flat index) (s)'] = seconds(t);
  if (built.ntotal() !== added.ntotal()) throw new Error('fromBuffer and add disagree on ntotal');

  t = performance.now();
  for (let start = 0; start < rows; start += 4096)
    toNumbers(data.subarray(start * dim, Math.min(rows, start + 4096) * dim));
  out['all queries Float32Array -> number[] in 4096-row blocks (s)'] = seconds(t);

  const sample = data.subarray(0, sampleQueries * dim);
  for (const block of [4096, 1024]) {
    if (block > sampleQueries) continue;
    t = performance.now();
    for (let start = 0; start < sampleQueries; start += block) {
      built.search(toNumbers(sample.subarray(start * dim, Math.min(sampleQueries, start + block) * dim)), k);
    }
    out[`search ${sampleQueries} queries, k = ${k}, blocks of ${block} (s)`] = seconds(t);
  }
  const a = added.search(toNumbers(sample.subarray(0, 64 * dim)), k).labels;
  const b = built.search(toNumbers(sample.subarray(0, 64 * dim)), k).labels;
  if (a.some((v, i) => v !== b[i])) throw new Error('fromBuffer and add indexes return different neighbours');
  return out;
}
