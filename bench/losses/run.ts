/**
 * RS@k forward + backward (similarity matMul, loss, gradient back to the embeddings), Recallkit on
 * the batches of `embeddings.ts` (synthetic 512-d unit vectors, 4 per class; small CNNs' 128-d
 * embeddings of MNIST and of the emoji benchmark, untrained and trained) against the PyTorch peer
 * (`peer_rsk.py --threads 2`: the `rsk` of ../shared/peers/rsk_torch.py, the authors' formulation)
 * on the same batch file, run alternately in the same run. The peer's layout needs the same number
 * of positives per query and a B x P x B tensor: batches of 10 classes x B/10 (`cnn-untrained`,
 * `cnn-trained`) are compared against the peer on `random` instead (its cost does not depend on the
 * data), marked so. A first, untimed run of each kind also compares the two gradients (largest
 * difference over the largest entry). Every measurement is a fresh process, so its peak RSS is its
 * own: ours from `process.resourceUsage().maxRSS`, the peer's from `/usr/bin/time -v`.
 *
 * With --warm, both sides first make one untimed call on the timed batch itself (as every step of
 * a training run after the first does): the timed call then pays no first-call costs (heap growth,
 * worker start, allocator), on either side.
 *
 * Usage (from bench/): npx tsx --conditions=source losses/run.ts [--reps 3] [--warm] [--data k1,k2] [B ...]
 * Prints a markdown table (medians over the repetitions; ratio = ours / peer) and writes
 * losses/last-run.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from './embeddings';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const peer = resolve(here, 'peer_rsk.py');
const peerRsk = resolve(repoRoot, '../shared/peers/rsk_torch.py');
/** Kinds with 10 classes x B/10: the peer would need B x (B/10 - 1) x B floats. */
const PEER_CANNOT = new Set(['cnn-untrained', 'cnn-trained']);

const args = process.argv.slice(2);
const repsAt = args.indexOf('--reps');
const reps = repsAt >= 0 ? Number(args.splice(repsAt, 2)[1]) : 3;
const warmAt = args.indexOf('--warm');
const warm = warmAt >= 0 && args.splice(warmAt, 1).length === 1;
const dataAt = args.indexOf('--data');
const kinds = dataAt >= 0 ? args.splice(dataAt, 2)[1]!.split(',') : [...KINDS];
const sizes = args.length > 0 ? args.map(Number) : [1000, 2000, 4000];
if (!existsSync(peerRsk)) throw new Error(`peer not found: ${peerRsk} (see docs/benchmarks.md)`);

interface Measure {
  seconds: number;
  cpuSeconds?: number;
  peakMb: number;
  loss: number;
}

function runPeer(batch: number, file: string, gradOut?: string): Measure {
  // /usr/bin/time -v reports on stderr; the peer prints its JSON line on stdout.
  const extra = `${gradOut ? ` --grad-out ${gradOut}` : ''}${warm ? ' --warm' : ''}`;
  const out = execFileSync(
    '/bin/sh',
    ['-c', `/usr/bin/time -v /usr/bin/python3 ${peer} --threads 2 ${file} ${batch}${extra} 2>&1`],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(out)![1]);
  return { seconds: json.total_s, peakMb: rss / 1024, loss: json.loss };
}

function runOurs(
  batch: number,
  data: string,
  implementation = 'auto',
  gradOut?: string,
): Measure & { implementation: string; batchFile?: string } {
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
      ...(gradOut ? [gradOut] : []),
      ...(warm ? ['--warm'] : []),
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
    batchFile: json.batch_file,
  };
}

/** Largest |ours - peer| over the largest |peer| of two float32 gradient files. */
function gradientDifference(a: string, b: string): number {
  const read = (f: string) => {
    const bytes = readFileSync(f);
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  };
  const x = read(a);
  const y = read(b);
  let diff = 0;
  let max = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    max = Math.max(max, Math.abs(y[i]!));
  }
  return diff / max;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const loadBefore = loadavg();
const rows: Record<string, unknown>[] = [];
const peerOf = (data: string) => (PEER_CANNOT.has(data) ? 'random' : data);
for (const batch of sizes) {
  const ours: Record<string, Measure[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  const peerKinds = [...new Set(kinds.map(peerOf))];
  const peerRuns: Record<string, Measure[]> = Object.fromEntries(peerKinds.map((k) => [k, []]));
  // A first, untimed run of each kind makes (and caches) the network embeddings, so no timed run
  // pays for them, writes the batch file the peer reads, and compares the two gradients.
  const files: Record<string, string> = {};
  const agreement: Record<string, { lossOurs: number; lossPeer: number; gradient: number }> = {};
  const scratch = join(tmpdir(), `recallkit-bench-losses-grad-${process.pid}`);
  for (const data of new Set([...kinds, ...peerKinds])) {
    const o = runOurs(batch, data, 'auto', `${scratch}.ours`);
    files[data] = o.batchFile!;
    if (PEER_CANNOT.has(data)) continue;
    const p = runPeer(batch, files[data]!, `${scratch}.peer`);
    agreement[data] = {
      lossOurs: o.loss,
      lossPeer: p.loss,
      gradient: gradientDifference(`${scratch}.ours`, `${scratch}.peer`),
    };
    process.stderr.write(
      `B=${batch} ${data}: loss ${o.loss} (peer ${p.loss}), gradient difference ${agreement[data]!.gradient.toExponential(2)} of the largest entry\n`,
    );
  }
  rmSync(`${scratch}.ours`, { force: true });
  rmSync(`${scratch}.peer`, { force: true });
  for (let r = 0; r < reps; r++) {
    for (const data of kinds) {
      if (!PEER_CANNOT.has(data)) peerRuns[data]!.push(runPeer(batch, files[data]!));
      ours[data]!.push(runOurs(batch, data));
    }
    if (!kinds.includes('random') && peerKinds.includes('random'))
      peerRuns['random']!.push(runPeer(batch, files['random']!));
    process.stderr.write(`B=${batch} repetition ${r + 1}/${reps} done (load ${loadavg()[0]!.toFixed(1)})\n`);
  }
  for (const data of kinds) {
    const pr = peerRuns[peerOf(data)]!;
    const p = {
      seconds: median(pr.map((m) => m.seconds)),
      peakMb: median(pr.map((m) => m.peakMb)),
    };
    const runs = ours[data]!;
    const o = {
      seconds: median(runs.map((m) => m.seconds)),
      cpuSeconds: median(runs.map((m) => m.cpuSeconds ?? Number.NaN)),
      peakMb: median(runs.map((m) => m.peakMb)),
    };
    rows.push({
      B: batch,
      data,
      peerData: peerOf(data),
      agreement: agreement[data] ?? null,
      oursSeconds: o.seconds,
      oursCpuSeconds: o.cpuSeconds,
      oursLoss: runs[0]!.loss,
      peerSeconds: p.seconds,
      timeRatio: o.seconds / p.seconds,
      oursPeakMb: o.peakMb,
      peerPeakMb: p.peakMb,
      memoryRatio: o.peakMb / p.peakMb,
      oursRuns: runs,
      peerRuns: pr,
    });
  }
}
const loadAfter = loadavg();

const table = [
  '| B | embeddings | loss | peer on | gradient difference | Recallkit time (s) | Recallkit CPU (s) | peer time (s) | time ratio | Recallkit peak RSS (MB) | peer peak RSS (MB) | memory ratio |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r['B']} | ${r['data']} | ${(r['oursLoss'] as number).toFixed(3)} | ${r['peerData'] === r['data'] ? 'same' : r['peerData']} | ` +
      `${r['agreement'] ? (r['agreement'] as { gradient: number }).gradient.toExponential(1) : '-'} | ${(r['oursSeconds'] as number).toFixed(2)} | ` +
      `${(r['oursCpuSeconds'] as number).toFixed(2)} | ${(r['peerSeconds'] as number).toFixed(2)} | ` +
      `${(r['timeRatio'] as number).toFixed(2)} | ${Math.round(r['oursPeakMb'] as number)} | ` +
      `${Math.round(r['peerPeakMb'] as number)} | ${(r['memoryRatio'] as number).toFixed(2)} |`,
  ),
].join('\n');
const machine = `${cpus().length} cores, load average ${loadBefore[0]!.toFixed(1)} before and ${loadAfter[0]!.toFixed(1)} after`;
console.log(table);
console.log(
  `\nmedians of ${reps} repetitions${warm ? ', each after one untimed call on the same batch (--warm)' : ''}; ${machine}`,
);
writeFileSync(
  resolve(here, 'last-run.json'),
  `${JSON.stringify({ date: new Date().toISOString(), reps, warm, machine, rows }, null, 2)}\n`,
);
