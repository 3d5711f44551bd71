// Memory and time of the multistage (chunked) step against the plain full-batch step, MNIST CNN.
//   cd bench && npx tsx --conditions=source engine/run.ts [--loss contrastive|rsk] [--table]
// The grid (plain and chunked at B = 400..4000, stage 2 alone) uses --loss (default contrastive);
// without --loss, RS@k's chunked step and stage 2 at B = 4000 follow it.
// Every configuration runs in its own process (engine/step.ts) so each peak RSS is its own.
// Writes engine/results.json and prints the Markdown table of docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

type LossId = 'contrastive' | 'rsk';
const LOSS_NAMES: Record<LossId, string> = { contrastive: 'contrastive', rsk: 'RS@k' };

interface Row {
  ok: boolean;
  mode: 'chunked' | 'plain' | 'loss';
  loss?: LossId;
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

const lossArg = process.argv.indexOf('--loss');
const gridLoss = (lossArg >= 0 ? process.argv[lossArg + 1] : 'contrastive') as LossId;
if (!(gridLoss in LOSS_NAMES)) throw new Error(`--loss must be contrastive or rsk, got ${gridLoss}`);

function measure(mode: Row['mode'], batch: number, chunkSize: number, steps: number, loss = gridLoss): Row {
  const args = [
    '--import',
    'tsx',
    '--conditions=source',
    path.join(here, 'step.ts'),
    mode,
    String(batch),
    String(chunkSize),
    String(steps),
    loss,
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
      loss,
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

// `run.ts --table` prints the table of the last results.json without measuring again.
const resultsFile = path.join(here, 'results.json');
const rows: Row[] = process.argv.includes('--table')
  ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Row[])
  : measureAll();
if (!process.argv.includes('--table')) writeFileSync(resultsFile, `${JSON.stringify(rows, null, 2)}\n`);

function measureAll(): Row[] {
  const rows: Row[] = [];
  // Plain and chunked back to back at each batch, so both see the same machine load; then stage 2
  // alone (the loss and dL/dE on random embeddings), the part of the peak that chunking cannot touch.
  for (const batch of [400, 1000, 2000, 4000]) {
    const steps = batch >= 4000 ? 1 : 2;
    rows.push(measure('plain', batch, batch, steps));
    rows.push(measure('chunked', batch, 200, steps));
    rows.push(measure('loss', batch, 0, 0));
  }
  rows.push(measure('chunked', 4000, 100, 1));
  // Where the plain step stops: between 2000 and 4000, or above 4000 (1000 at a time).
  if (!rows.some((r) => r.mode === 'plain' && r.batch === 4000 && r.ok)) {
    rows.push(measure('plain', 3000, 3000, 1));
  } else {
    for (let batch = 5000; batch <= 8000; batch += 1000) {
      const row = measure('plain', batch, batch, 1);
      rows.push(row);
      if (!row.ok) break;
    }
  }
  // The paper's loss at the target batch.
  if (lossArg < 0) {
    rows.push(measure('chunked', 4000, 200, 1, 'rsk'));
    rows.push(measure('loss', 4000, 0, 0, 'rsk'));
  }
  return rows;
}

const gb = (b?: number) => (b === undefined || Number.isNaN(b) ? '-' : (b / GB).toFixed(2));
const s = (x?: number) => (x === undefined ? '-' : x.toFixed(2));
const table = [
  '| step | loss | batch | chunk | wall s/step | CPU s/step | peak RSS (GiB) | peak tensors (GiB) | CPU time vs plain |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const loss = r.loss ?? 'contrastive'; // results.json rows from before the loss was an option
    const plain = rows.find(
      (p) => p.mode === 'plain' && (p.loss ?? 'contrastive') === loss && p.batch === r.batch && p.ok,
    );
    const ratio =
      r.ok && r.mode === 'chunked' && plain?.cpuSecondsPerStep && r.cpuSecondsPerStep
        ? `${(r.cpuSecondsPerStep / plain.cpuSecondsPerStep).toFixed(2)}x`
        : '-';
    const chunk = r.mode === 'chunked' ? r.chunkSize : '-';
    const name = r.mode === 'loss' ? 'loss alone (stage 2)' : r.mode;
    const cells = `| ${name} | ${LOSS_NAMES[loss]} | ${r.batch} | ${chunk}`;
    if (!r.ok) return `${cells} | failed: ${r.error?.split('\n')[0]} | | ${gb(r.peakRssBytes)} | | |`;
    return `${cells} | ${s(r.secondsPerStep)} | ${s(r.cpuSecondsPerStep)} | ${gb(r.peakRssBytes)} | ${gb(r.peakTensorBytes)} | ${ratio} |`;
  }),
];
console.log(table.join('\n'));
