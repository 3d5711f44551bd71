// Memory and time of the multistage (chunked) step against the plain full-batch step, MNIST CNN.
//   cd bench && npx tsx --conditions=source engine/run.ts
// Every configuration runs in its own process (engine/step.ts) so each peak RSS is its own.
// Writes engine/results.json and prints the Markdown table of docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

interface Row {
  ok: boolean;
  mode: 'chunked' | 'plain';
  batch: number;
  chunkSize: number;
  secondsPerStep?: number;
  cpuSecondsPerStep?: number;
  peakRssBytes: number;
  peakTensorBytes?: number;
  error?: string;
}

const here = path.dirname(new URL(import.meta.url).pathname);
const GB = 1024 ** 3;
const RSS_LIMIT = 16 * GB;

function measure(mode: Row['mode'], batch: number, chunkSize: number, steps: number): Row {
  const args = [
    '--import',
    'tsx',
    '--conditions=source',
    path.join(here, 'step.ts'),
    mode,
    String(batch),
    String(chunkSize),
    String(steps),
  ];
  const child = spawnSync(process.execPath, args, {
    cwd: path.dirname(here),
    encoding: 'utf8',
    timeout: 30 * 60_000,
  });
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  let row: Row;
  try {
    row = JSON.parse(line) as Row;
  } catch {
    row = {
      ok: false,
      mode,
      batch,
      chunkSize,
      peakRssBytes: Number.NaN,
      error: `exit ${child.status ?? child.signal}: ${child.stderr.slice(-300)}`,
    };
  }
  if (row.ok && row.peakRssBytes > RSS_LIMIT) row = { ...row, ok: false, error: 'over 16 GB RSS' };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

const rows: Row[] = [];
// Plain and chunked back to back at each batch, so both see the same machine load.
for (const batch of [400, 1000, 2000, 4000]) {
  const steps = batch >= 4000 ? 1 : 2;
  rows.push(measure('plain', batch, batch, steps));
  rows.push(measure('chunked', batch, 200, steps));
}
rows.push(measure('chunked', 4000, 100, 1));
// Past 4000: does each step reach 8000 (one timed step)?
for (const mode of ['plain', 'chunked'] as const) {
  if (rows.some((r) => r.mode === mode && r.batch === 4000 && r.ok))
    rows.push(measure(mode, 8000, mode === 'plain' ? 8000 : 200, 1));
}
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(rows, null, 2)}\n`);

const gb = (b?: number) => (b === undefined || Number.isNaN(b) ? '-' : (b / GB).toFixed(2));
const s = (x?: number) => (x === undefined ? '-' : x.toFixed(2));
const table = [
  '| step | batch | chunk | wall s/step | CPU s/step | peak RSS (GB) | peak tensors (GB) | CPU time vs plain |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const plain = rows.find((p) => p.mode === 'plain' && p.batch === r.batch && p.ok);
    const ratio =
      r.ok && plain?.cpuSecondsPerStep && r.cpuSecondsPerStep
        ? `${(r.cpuSecondsPerStep / plain.cpuSecondsPerStep).toFixed(2)}x`
        : '-';
    if (!r.ok)
      return `| ${r.mode} | ${r.batch} | ${r.mode === 'plain' ? '-' : r.chunkSize} | failed: ${r.error?.split('\n')[0]} | | ${gb(r.peakRssBytes)} | | |`;
    return `| ${r.mode} | ${r.batch} | ${r.mode === 'plain' ? '-' : r.chunkSize} | ${s(r.secondsPerStep)} | ${s(r.cpuSecondsPerStep)} | ${gb(r.peakRssBytes)} | ${gb(r.peakTensorBytes)} | ${ratio} |`;
  }),
];
console.log(table.join('\n'));
