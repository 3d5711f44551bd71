import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoTensorLeaks, useBackend } from '@recallkit/core';
import { createIndex, faissAvailable, loadIndex, type SearchIndex } from '@recallkit/evaluator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomRows } from './brute-force';

let dir: string;
beforeAll(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'recallkit-index-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Sim = 'cosine' | 'dot' | 'negSqL2';

/** Brute force in float64: the k best (id, score) of each query, ties by insertion order. */
function bruteForce(gallery: number[][], queries: number[][], k: number, similarity: Sim) {
  const norm = (r: number[]) => {
    const n = Math.hypot(...r);
    return similarity === 'cosine' ? r.map((v) => v / n) : r;
  };
  const g = gallery.map(norm);
  return queries.map(norm).map((q) => {
    const scored = g.map((x, i) => {
      const s =
        similarity === 'negSqL2'
          ? -x.reduce((a, v, j) => a + (v - q[j]!) ** 2, 0)
          : x.reduce((a, v, j) => a + v * q[j]!, 0);
      return [s, i] as const;
    });
    scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return scored.slice(0, k);
  });
}

const kinds = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);
const gallery = randomRows(700, 16, 5);
const queries = randomRows(45, 16, 6);
const names = gallery.map((_, i) => `img-${i}`);

describe.each(kinds)('createIndex (%s)', (kind) => {
  for (const similarity of ['cosine', 'dot', 'negSqL2'] as Sim[]) {
    it(`finds the same neighbours and scores as brute force (${similarity})`, async () => {
      const index = await createIndex(gallery, names, { index: kind, similarity });
      const hits = await index.search(queries, 10);
      const want = bruteForce(gallery, queries, 10, similarity);
      hits.ids.forEach((row, q) => {
        expect(row).toEqual(want[q]!.map(([, i]) => names[i]));
        row.forEach((_, j) => {
          expect(hits.scores[q]![j]).toBeCloseTo(want[q]![j]![0], 4);
        });
      });
      expect(index.size).toBe(700);
      expect(index.dim).toBe(16);
      index.dispose();
    });
  }

  it('adds in batches to the same index as one call', async () => {
    const whole = await createIndex(gallery, names, { index: kind });
    const parts = await createIndex(gallery.slice(0, 100), names.slice(0, 100), { index: kind });
    for (let start = 100; start < 700; start += 150) {
      const rows = Float32Array.from(gallery.slice(start, start + 150).flat());
      parts.add(rows, names.slice(start, start + 150));
    }
    expect(parts.size).toBe(700);
    expect(await parts.search(queries, 7)).toEqual(await whole.search(queries, 7));
    whole.dispose();
    parts.dispose();
  });

  it('saves and loads atomically, with identical search results', async () => {
    const index = await createIndex(gallery, names, { index: kind, similarity: 'negSqL2' });
    const file = join(dir, `${kind}.rkindex`);
    await index.save(file);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const loaded = await loadIndex(file);
    expect(loaded.kind).toBe(kind);
    expect(loaded.size).toBe(700);
    expect(loaded.similarity).toBe('negSqL2');
    expect(await loaded.search(queries, 12)).toEqual(await index.search(queries, 12));
    // saved again unchanged: the same file, byte for byte
    const again = join(dir, `${kind}-again.rkindex`);
    await loaded.save(again);
    expect(readFileSync(again).equals(readFileSync(file))).toBe(true);
    index.dispose();
    loaded.dispose();
  });

  it('keeps numeric ids as numbers through a round trip', async () => {
    const ids = gallery.map((_, i) => 1000 + i);
    const index = await createIndex(gallery, ids, { index: kind });
    const file = join(dir, `${kind}-numeric.rkindex`);
    await index.save(file);
    const loaded = await loadIndex<number>(file);
    const hits = await loaded.search(queries.slice(0, 3), 2);
    expect(typeof hits.ids[0]![0]).toBe('number');
    expect(hits).toEqual(await index.search(queries.slice(0, 3), 2));
    index.dispose();
    loaded.dispose();
  });

  it('rejects bad input with named errors', async () => {
    const index = await createIndex(gallery.slice(0, 5), names.slice(0, 5), { index: kind });
    await expect(index.search(queries, 6)).rejects.toThrow(/k = 6 is larger than the index \(5 vectors\)/);
    await expect(index.search(queries, 0)).rejects.toThrow(/k must be a positive integer/);
    await expect(index.search([[1, 2, 3]], 1)).rejects.toThrow(/queries rows have 3 values, the index 16/);
    expect(() => index.add(gallery.slice(5, 7), ['img-0', 'new'])).toThrow(/ids\[0\] = "img-0" is already/);
    expect(() => index.add(gallery.slice(5, 7), ['x', 'x'])).toThrow(
      /ids\[1\] = "x" appears twice in this batch/,
    );
    expect(() => index.add(gallery.slice(5, 7), ['a'])).toThrow(/one id per embedding row \(2\), got 1/);
    expect(index.size).toBe(5);
    index.dispose();
    await expect(createIndex(gallery, names, { index: kind, nprobe: 4 } as never)).rejects.toThrow(
      /unknown option 'nprobe' \(valid: index, factory, similarity, dim\)/,
    );
  });
});

describe.runIf(faissAvailable())('createIndex with a faiss factory', () => {
  // faiss-node cannot set nprobe: IVF searches 1 of its 16 lists, so it finds far fewer
  for (const [factory, share] of [
    ['HNSW32', 0.9],
    ['IVF16,Flat', 0.2],
  ] as const) {
    it(`${factory}: finds true neighbours and round-trips exactly`, async () => {
      const index = await createIndex(gallery, names, { factory });
      expect(index.name).toBe(`faiss:${factory}`);
      const hits = await index.search(queries, 10);
      const want = bruteForce(gallery, queries, 10, 'cosine');
      let found = 0;
      hits.ids.forEach((row, q) => {
        const truth = new Set(want[q]!.map(([, i]) => names[i]));
        found += row.filter((id) => truth.has(id)).length;
      });
      expect(found / (10 * queries.length)).toBeGreaterThan(share);
      const file = join(dir, `${factory}.rkindex`);
      await index.save(file);
      const loaded = await loadIndex(file);
      expect(await loaded.search(queries, 10)).toEqual(hits);
      index.dispose();
      loaded.dispose();
    });
  }

  it('says why a faiss index that was loaded and then grew cannot be saved', async () => {
    const index = await createIndex(gallery.slice(0, 600), names.slice(0, 600), { factory: 'HNSW16' });
    const file = join(dir, 'grown.rkindex');
    await index.save(file);
    const loaded = await loadIndex(file);
    loaded.add(gallery.slice(600), names.slice(600));
    expect(loaded.size).toBe(700);
    expect((await loaded.search(queries, 3)).ids.length).toBe(45);
    await expect(loaded.save(join(dir, 'grown-again.rkindex'))).rejects.toMatchObject({
      code: 'INDEX_NOT_SAVEABLE',
    });
    index.dispose();
  });

  it('rejects a factory faiss cannot build', async () => {
    await expect(createIndex(gallery, names, { factory: 'NoSuchIndex' })).rejects.toMatchObject({
      code: 'INVALID_INDEX',
    });
  });
});

describe('index files', () => {
  let file: string;
  let index: SearchIndex<string>;
  beforeAll(async () => {
    index = await createIndex(gallery.slice(0, 50), names.slice(0, 50), { index: 'exact' });
    file = join(dir, 'small.rkindex');
    await index.save(file);
  });
  afterAll(() => index.dispose());

  it('refuses truncated, altered and foreign files', async () => {
    const bytes = readFileSync(file);
    const truncated = join(dir, 'truncated.rkindex');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 4));
    await expect(loadIndex(truncated)).rejects.toMatchObject({ code: 'INDEX_CORRUPT' });
    const altered = Buffer.from(bytes);
    altered[altered.length - 1]! ^= 0xff;
    const alteredFile = join(dir, 'altered.rkindex');
    writeFileSync(alteredFile, altered);
    await expect(loadIndex(alteredFile)).rejects.toThrow(/checksum mismatch/);
    const foreign = join(dir, 'foreign.rkindex');
    writeFileSync(foreign, 'hello world, this is not an index');
    await expect(loadIndex(foreign)).rejects.toThrow(/bad magic/);
    await expect(loadIndex(join(dir, 'missing.rkindex'))).rejects.toMatchObject({
      code: 'INDEX_UNREADABLE',
    });
  });

  it('leaves no tensor behind (exact)', async () => {
    await assertNoTensorLeaks(async () => {
      const loaded = await loadIndex(file);
      await loaded.search(queries, 5);
      loaded.dispose();
    });
  });
});
