/**
 * RS@k forward + backward (similarity matMul, loss, gradient back to the embeddings), Recallkit on
 * the batches of `embeddings.ts` (synthetic 512-d unit vectors, 4 per class, and a small CNN's
 * 128-d embeddings of MNIST, untrained and briefly trained) against the PyTorch peer
 * `../shared/peers/rsk_torch.py --threads 2` (B x 512 random, 4 per class; its cost does not depend
 * on the data), run alternately in the same run. Every measurement is a fresh process, so its peak
 * RSS is its own: ours from `process.resourceUsage().maxRSS`, the peer's from `/usr/bin/time -v`.
 *
 * Usage (from bench/): npx tsx --conditions=source losses/run.ts [--reps 3] [--data k1,k2] [B ...]
 * Prints a markdown table (medians over the repetitions; ratio = ours / peer) and writes
 * losses/last-run.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from './embeddings';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const peer = resolve(repoRoot, '../shared/peers/rsk_torch.py');

const args = process.argv.slice(2);
const repsAt = args.indexOf('--reps');
const reps = repsAt >= 0 ? Number(args.splice(repsAt, 2)[1]) : 3;
const dataAt = args.indexOf('--data');
const kinds = dataAt >= 0 ? args.splice(dataAt, 2)[1]!.split(',') : [...KINDS];
const sizes = args.length > 0 ? args.map(Number) : [1000, 2000, 4000];
if (!existsSync(peer)) throw new Error(`peer not found: ${peer} (see docs/benchmarks.md)`);

interface Measure {
  seconds: number;
  cpuSeconds?: number;
  peakMb: number;
  loss: number;
}

function runPeer(batch: number): Measure {
  // /usr/bin/time -v reports on stderr; the peer prints its JSON line on stdout.
  const out = execFileSync(
    '/bin/sh',
    ['-c', `/usr/bin/time -v /usr/bin/python3 ${peer} --threads 2 ${batch} 2>&1`],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(out)![1]);
  return { seconds: json.total_s, peakMb: rss / 1024, loss: json.loss };
}

function runOurs(batch: number, data: string, implementation = 'auto'): Measure & { implementation: string } {
  const out = execFileSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      resolve(here, 'child.ts'),
      String(batch),
      data,
      implementation,
    ],
    { encoding: 'utf8', cwd: resolve(here, '..'), maxBuffer: 1 << 24 },
  );
  const json = JSON.parse(out.trim().split('\n').pop()!);
  return {
    seconds: json.total_s,
    cpuSeconds: json.cpu_s,
    peakMb: json.peak_rss_mb,
    loss: json.loss,
    implementation: json.implementation,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const loadBefore = loadavg();
const rows: Record<string, unknown>[] = [];
for (const batch of sizes) {
  const peerRuns: Measure[] = [];
  const ours: Record<string, Measure[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  // A first, untimed run makes (and caches) the network embeddings, so no timed run pays for them.
  for (const data of kinds) if (data.startsWith('cnn')) runOurs(batch, data);
  for (let r = 0; r < reps; r++) {
    peerRuns.push(runPeer(batch));
    for (const data of kinds) ours[data]!.push(runOurs(batch, data));
    process.stderr.write(`B=${batch} repetition ${r + 1}/${reps} done (load ${loadavg()[0]!.toFixed(1)})\n`);
  }
  const p = {
    seconds: median(peerRuns.map((m) => m.seconds)),
    peakMb: median(peerRuns.map((m) => m.peakMb)),
  };
  for (const data of kinds) {
    const runs = ours[data]!;
    const o = {
      seconds: median(runs.map((m) => m.seconds)),
      cpuSeconds: median(runs.map((m) => m.cpuSeconds ?? Number.NaN)),
      peakMb: median(runs.map((m) => m.peakMb)),
    };
    rows.push({
      B: batch,
      data,
      oursSeconds: o.seconds,
      oursCpuSeconds: o.cpuSeconds,
      oursLoss: runs[0]!.loss,
      peerSeconds: p.seconds,
      timeRatio: o.seconds / p.seconds,
      oursPeakMb: o.peakMb,
      peerPeakMb: p.peakMb,
      memoryRatio: o.peakMb / p.peakMb,
      oursRuns: runs,
      peerRuns,
    });
  }
}
const loadAfter = loadavg();

const table = [
  '| B | embeddings | loss | Recallkit time (s) | Recallkit CPU (s) | peer time (s) | time ratio | Recallkit peak RSS (MB) | peer peak RSS (MB) | memory ratio |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r['B']} | ${r['data']} | ${(r['oursLoss'] as number).toFixed(3)} | ${(r['oursSeconds'] as number).toFixed(2)} | ` +
      `${(r['oursCpuSeconds'] as number).toFixed(2)} | ${(r['peerSeconds'] as number).toFixed(2)} | ` +
      `${(r['timeRatio'] as number).toFixed(2)} | ${Math.round(r['oursPeakMb'] as number)} | ` +
      `${Math.round(r['peerPeakMb'] as number)} | ${(r['memoryRatio'] as number).toFixed(2)} |`,
  ),
].join('\n');
const machine = `${cpus().length} cores, load average ${loadBefore[0]!.toFixed(1)} before and ${loadAfter[0]!.toFixed(1)} after`;
console.log(table);
console.log(`\nmedians of ${reps} repetitions; ${machine}`);
writeFileSync(
  resolve(here, 'last-run.json'),
  `${JSON.stringify({ date: new Date().toISOString(), reps, machine, rows }, null, 2)}\n`,
);
