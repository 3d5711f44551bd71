import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { useBackend } from '@recallkit/core';
import { createIndex, evaluate, faissInfo } from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';
import { findFaiss } from '../src/faiss';
import { randomRows } from './brute-force';

const require = createRequire(import.meta.url);

/** True when @recallkit/faiss-linux-x64's addon was built (tools/setup builds it on Linux x64). */
function prebuiltAddonBuilt(): boolean {
  try {
    const pkg = dirname(require.resolve('@recallkit/faiss-linux-x64/package.json'));
    return existsSync(join(pkg, 'dist', 'faiss-node.node'));
  } catch {
    return false;
  }
}

const faissApi = () => ({ IndexFlatIP: () => {}, IndexFlatL2: () => {}, Index: { fromFactory: () => {} } });

function notFound(name: string): Error {
  return Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- here`), {
    code: 'MODULE_NOT_FOUND',
  });
}

/** A `require` that knows only `modules`: a value is returned, an Error thrown. */
function fakeRequire(modules: Record<string, unknown>) {
  const tried: string[] = [];
  const load = (name: string) => {
    tried.push(name);
    if (!(name in modules)) throw notFound(name);
    const value = modules[name];
    if (value instanceof Error) throw value;
    return value;
  };
  return { load, tried };
}

describe('finding a faiss addon', () => {
  it('prefers the prebuilt package, and says how it was built', () => {
    const { load, tried } = fakeRequire({
      '@recallkit/faiss-linux-x64': {
        ...faissApi(),
        build: { faissNode: '0.5.1', faiss: '1.7.3-2+b1', openblas: '0.3.21+ds-4' },
      },
      '@recallkit/faiss-linux-x64/package.json': { version: '0.1.0' },
      'faiss-node': faissApi(),
    });
    const { module, info } = findFaiss(load);
    expect(module).not.toBeNull();
    expect(info).toEqual({
      loaded: true,
      source: '@recallkit/faiss-linux-x64',
      version: '0.1.0',
      detail: "prebuilt from faiss-node 0.5.1's source; faiss 1.7.3-2+b1 and OpenBLAS 0.3.21+ds-4 linked in",
    });
    expect(tried).not.toContain('faiss-node');
  });

  it('falls back to a faiss-node the user built when the prebuilt addon does not load', () => {
    const { load } = fakeRequire({
      '@recallkit/faiss-linux-x64': new Error("/lib/libc.so.6: version `GLIBC_2.34' not found"),
      'faiss-node': faissApi(),
      'faiss-node/package.json': { version: '0.5.1' },
    });
    expect(findFaiss(load).info).toEqual({
      loaded: true,
      source: 'faiss-node',
      version: '0.5.1',
      detail: 'built on this machine',
    });
  });

  it('says what was tried, why each failed and what to do when nothing loads', () => {
    const { load } = fakeRequire({
      'faiss-node': new Error('Could not locate the bindings file. Tried:\n → build/faiss-node.node'),
    });
    const { module, info } = findFaiss(load);
    expect(module).toBeNull();
    expect(info.loaded).toBe(false);
    expect(info.reason).toContain('@recallkit/faiss-linux-x64: not installed');
    expect(info.reason).toContain('faiss-node: installed, but its native addon was never built');
    expect(info.reason).toContain("@recallkit/evaluator's README");
    expect(info.reason).not.toContain('Tried:'); // first lines only
  });

  it('passes over a module without faiss-node API', () => {
    const { load } = fakeRequire({ '@recallkit/faiss-linux-x64': {}, 'faiss-node': { IndexFlatIP: 1 } });
    const { info } = findFaiss(load);
    expect(info.loaded).toBe(false);
    expect(info.reason).toMatch(
      /faiss-linux-x64: loaded, but it is not faiss-node's API; faiss-node: loaded/,
    );
  });
});

describe.runIf(prebuiltAddonBuilt())('the prebuilt addon (@recallkit/faiss-linux-x64)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('is the faiss the evaluator loads', () => {
    const info = faissInfo();
    expect(info.loaded).toBe(true);
    expect(info.source).toBe('@recallkit/faiss-linux-x64');
    expect(info.detail).toMatch(
      /^prebuilt from faiss-node [\d.]+'s source; faiss .+ and OpenBLAS .+ linked in$/,
    );
  });

  const gallery = randomRows(2000, 24, 11);
  const queries = randomRows(150, 24, 12);
  const ids = gallery.map((_, i) => i);

  for (const similarity of ['cosine', 'dot', 'negSqL2'] as const) {
    it(`gives the same neighbours as exact search (${similarity})`, async () => {
      const faiss = await createIndex(gallery, ids, { index: 'faiss', similarity });
      const exact = await createIndex(gallery, ids, { index: 'exact', similarity });
      expect(faiss.name).toBe('faiss:Flat');
      // One more neighbour than compared, to know the gap below the tenth.
      const got = await faiss.search(queries, 11);
      const want = await exact.search(queries, 11);
      let compared = 0;
      want.ids.forEach((row, q) => {
        const scores = want.scores[q]!;
        for (let r = 0; r < 10; r++) {
          expect(got.scores[q]![r]).toBeCloseTo(scores[r]!, 4);
          // Neighbours within float32 rounding of each other may come in either order.
          const gap = Math.min(r > 0 ? scores[r - 1]! - scores[r]! : Infinity, scores[r]! - scores[r + 1]!);
          if (gap > 1e-4) {
            expect(got.ids[q]![r]).toBe(row[r]);
            compared++;
          }
        }
      });
      expect(compared).toBeGreaterThan(0.95 * 150 * 10);
      faiss.dispose();
      exact.dispose();
    });
  }

  it('gives evaluate() the same metrics as exact search', async () => {
    const labels = gallery.map((_, i) => i % 97);
    const k = [1, 2, 4, 8];
    const metrics = ['recall', 'mapAtR', 'rPrecision'] as ('recall' | 'mapAtR' | 'rPrecision')[];
    const viaFaiss = await evaluate(gallery, labels, { k, metrics, index: 'faiss' });
    const viaExact = await evaluate(gallery, labels, { k, metrics, index: 'exact' });
    expect(viaFaiss.debug.index).toBe('faiss:IndexFlatIP');
    expect(viaFaiss.recall).toEqual(viaExact.recall);
    expect(viaFaiss.mapAtR).toBeCloseTo(viaExact.mapAtR, 12);
    expect(viaFaiss.rPrecision).toBeCloseTo(viaExact.rPrecision, 12);
  });
});
