/**
 * How far one machine goes with @recallkit/evaluator's serving index: for each faiss factory and
 * gallery size, build time (vectors added in batches, never all in memory at once), peak memory,
 * search throughput (a block of queries, and one query at a time), recall@k of approximate
 * indexes against the exact one, and save/load time and size. Each configuration runs in its
 * own process so that its peak RSS is its own.
 *   cd bench && npx tsx --conditions=source evaluator/index-scale.ts [--dim 128
 *     --rows 100000,1000000 --factories 'Flat;IVF1024,Flat;HNSW32' --hnsw-rows 100000
 *     --queries 1000 --k 10 --batch 50000 --exact-rows 100000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createIndex, loadIndex, type SearchIndex } from '@recallkit/evaluator';

const { values: args } = parseArgs({
  options: {
    dim: { type: 'string', default: '128' },
    rows: { type: 'string', default: '100000,1000000' },
    factories: { type: 'string', default: 'Flat;IVF1024,Flat;HNSW32' },
    'hnsw-rows': { type: 'string', default: '100000' },
    'exact-rows': { type: 'string', default: '100000' },
    queries: { type: 'string', default: '1000' },
    k: { type: 'string', default: '10' },
    batch: { type: 'string', default: '50000' },
    one: { type: 'string' },
    n: { type: 'string' },
    dir: { type: 'string' },
  },
});
const dim = Number(args.dim);
const k = Number(args.k);
const nQueries = Number(args.queries);
const batch = Number(args.batch);

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLUSTERS = 1000;
/** Cluster centres shared by gallery and queries: vectors scatter around one of 1,000 directions. */
const centres = (() => {
  const next = mulberry32(1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Float32Array.from({ length: CLUSTERS * dim }, normal);
})();

/** Rows start..end of the synthetic gallery (or the queries, seed 2), generated on demand. */
function rowsOf(start: number, end: number, seed: number): Float32Array {
  const next = mulberry32(seed * 1_000_003 + start);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const out = new Float32Array((end - start) * dim);
  for (let r = 0; r < end - start; r++) {
    const c = Math.floor(next() * CLUSTERS);
    for (let j = 0; j < dim; j++) out[r * dim + j] = centres[c * dim + j]! + 0.7 * normal();
  }
  return out;
}

async function one(factory: string, n: number, dir: string) {
  const ids = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);
  const t0 = performance.now();
  const first = Math.min(n, batch);
  const index: SearchIndex<number> = await createIndex(rowsOf(0, first, 1), ids(0, first), {
    dim,
    ...(factory === 'exact' ? { index: 'exact' as const } : { index: 'faiss' as const, factory }),
  });
  for (let start = first; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    index.add(rowsOf(start, end, 1), ids(start, end));
  }
  const buildSeconds = (performance.now() - t0) / 1000;
  const rssAfterBuildMb = process.memoryUsage().rss / 2 ** 20;

  const queries = rowsOf(0, nQueries, 2);
  await index.search(queries.subarray(0, 20 * dim), k); // warm-up
  const t1 = performance.now();
  const hits = await index.search(queries, k);
  const blockSeconds = (performance.now() - t1) / 1000;
  const singles = Math.min(100, nQueries);
  const t2 = performance.now();
  for (let q = 0; q < singles; q++) await index.search(queries.subarray(q * dim, (q + 1) * dim), k);
  const singleMs = (performance.now() - t2) / singles;

  const truthFile = join(dir, `truth-${n}.json`);
  let recall: number | null = null;
  if (factory === 'Flat') {
    writeFileSync(truthFile, JSON.stringify(hits.ids));
  } else {
    try {
      const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as number[][];
      let found = 0;
      hits.ids.forEach((row, q) => {
        const want = new Set(truth[q]);
        for (const id of row) if (want.has(id)) found++;
      });
      recall = found / (k * nQueries);
    } catch {
      recall = null;
    }
  }

  const file = join(dir, `index-${n}.rkindex`);
  const t3 = performance.now();
  await index.save(file);
  const saveSeconds = (performance.now() - t3) / 1000;
  const fileMb = statSync(file).size / 2 ** 20;
  index.dispose();
  const t4 = performance.now();
  const loaded = await loadIndex<number>(file);
  const loadSeconds = (performance.now() - t4) / 1000;
  const again = await loaded.search(queries.subarray(0, 50 * dim), k);
  const same = JSON.stringify(again.ids) === JSON.stringify(hits.ids.slice(0, 50));
  loaded.dispose();
  rmSync(file, { force: true });
  console.log(
    JSON.stringify({
      factory,
      name: index.name,
      rows: n,
      dim,
      buildSeconds,
      rssAfterBuildMb,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      queriesPerSecond: nQueries / blockSeconds,
      singleQueryMs: singleMs,
      recallAtK: recall,
      saveSeconds,
      fileMb,
      loadSeconds,
      sameAfterLoad: same,
    }),
  );
}

if (args.one !== undefined) {
  await one(args.one, Number(args.n), args.dir!);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'recallkit-bench-index-'));
  const results: Record<string, unknown>[] = [];
  try {
    const sizes = args.rows.split(',').map(Number);
    const factories = args.factories.split(';');
    const run = (factory: string, n: number) => {
      const argv = [
        '--conditions=source',
        '--import',
        'tsx',
        import.meta.filename,
        ...['--one', factory, '--n', String(n), '--dir', dir, '--dim', String(dim)],
        ...['--queries', String(nQueries), '--k', String(k), '--batch', String(batch)],
      ];
      const out = execFileSync(process.execPath, argv, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
      results.push(line);
      console.error(JSON.stringify(line));
    };
    for (const n of sizes) {
      for (const factory of factories) {
        if (factory.startsWith('HNSW') && n > Number(args['hnsw-rows'])) continue;
        run(factory, n);
      }
      if (n <= Number(args['exact-rows'])) run('exact', n);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (v: unknown, d = 1) => (typeof v === 'number' ? v.toFixed(d) : '-');
  console.log(
    `| index | vectors (d = ${dim}) | build s | peak RSS MB | file MB | queries/s (block of ${nQueries}) | ms per single query | recall@${k} vs Flat | save s | load s |`,
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r['name']} | ${(r['rows'] as number).toLocaleString('en-US')} | ${f(r['buildSeconds'])} | ${f(r['peakRssMb'], 0)} | ${f(r['fileMb'], 0)} | ${f(r['queriesPerSecond'], 0)} | ${f(r['singleQueryMs'], 2)} | ${r['recallAtK'] === null ? '-' : f(r['recallAtK'], 3)} | ${f(r['saveSeconds'])} | ${f(r['loadSeconds'])} |`,
    );
  }
}
