/**
 * Evaluator benchmark: SOP-sized synthetic data written as .npy, evaluated by @recallkit/evaluator
 * (faiss-node) and by the Python peer (faiss + numpy) on the same files, one after the other.
 *   cd bench && npx tsx --conditions=source evaluator/run.ts [--rows 60502 --classes 11316 --dim 512
 *     --kind clustered|random --k 1,10,100,1000 --no-routes]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '@recallkit/evaluator';
import { sopLike } from './data';
import { measureRoutes } from './routes';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '60502' },
    classes: { type: 'string', default: '11316' },
    dim: { type: 'string', default: '512' },
    kind: { type: 'string', default: 'clustered' },
    k: { type: 'string', default: '1,10,100,1000' },
    'no-routes': { type: 'boolean', default: false },
  },
});
const rows = Number(args.rows);
const dim = Number(args.dim);
const kind = args.kind as 'clustered' | 'random';
const peer = process.env['RECALLKIT_PEERS'] ?? join(import.meta.dirname, '../../../shared/peers');

const dir = mkdtempSync(join(tmpdir(), 'recallkit-bench-evaluator-'));
try {
  const data = sopLike({ rows, classes: Number(args.classes), dim, kind });
  const emb = join(dir, 'emb.npy');
  const lab = join(dir, 'labels.npy');
  await writeNpy(emb, data.vectors, [rows, dim]);
  await writeNpy(lab, data.labels, [rows]);

  /** Runs a command under /usr/bin/time; returns its last stdout line as JSON plus wall time and peak RSS. */
  const timed = (cmd: string, argv: string[], cwd?: string) => {
    const timeFile = join(dir, 'time.txt');
    const stdout = execFileSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M', cmd, ...argv], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const [wall, rssKb] = execFileSync('cat', [timeFile], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .map(Number);
    const json = JSON.parse(stdout.trim().split('\n').at(-1)!);
    return { json, wall: wall!, rssMb: rssKb! / 1024 };
  };
  const load = () =>
    execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');

  const loadBefore = load();
  const py = timed('/usr/bin/python3', [
    join(peer, 'eval_faiss.py'),
    '--npy',
    emb,
    lab,
    '--k',
    args.k!,
    '--threads',
    '2',
  ]);
  const ours = timed(
    'npx',
    ['tsx', '--conditions=source', 'evaluator/eval-once.ts', emb, lab, args.k!, 'faiss'],
    join(import.meta.dirname, '..'),
  );
  const loadAfter = load();

  const ks = args.k!.split(',').map(Number);
  const pairs: [string, number, number][] = [
    ...ks.map(
      (k) => [`Recall@${k}`, ours.json.recall[k], py.json[`recall@${k}`]] as [string, number, number],
    ),
    ['Precision@1', ours.json.precisionAt1, py.json['precision@1']],
    ['R-Precision', ours.json.rPrecision, py.json['r_precision']],
    ['MAP@R', ours.json.mapAtR, py.json['map@r']],
    ['lone queries', ours.json.loneQueries, py.json['lone_queries']],
  ];
  console.log(
    `\n${rows} x ${dim}, ${args.classes} classes, ${kind} vectors; index ${ours.json.debug.index}, depth ${ours.json.debug.depth}, ${ours.json.debug.deepQueries} queries searched to full depth; load avg ${loadBefore} -> ${loadAfter}\n`,
  );
  console.log('| metric | @recallkit/evaluator | peer (faiss + numpy) | abs diff |\n|---|---|---|---|');
  let worst = 0;
  for (const [name, a, b] of pairs) {
    worst = Math.max(worst, Math.abs(a - b));
    console.log(`| ${name} | ${a.toFixed(8)} | ${b.toFixed(8)} | ${Math.abs(a - b).toExponential(1)} |`);
  }
  console.log(
    `\nlargest difference ${worst.toExponential(2)} (${worst <= 1e-6 ? 'within' : 'OUTSIDE'} 1e-6)\n`,
  );
  console.log('| | @recallkit/evaluator | peer | ratio |\n|---|---|---|---|');
  const row = (name: string, a: number, b: number, unit: string) =>
    console.log(`| ${name} | ${a.toFixed(2)} ${unit} | ${b.toFixed(2)} ${unit} | ${(a / b).toFixed(2)} |`);
  row('search + metrics', ours.json.total_s, py.json.total_s, 's');
  row('reading the .npy files', ours.json.load_s, py.json.load_s, 's');
  row('whole process (wall)', ours.wall, py.wall, 's');
  row('peak memory (max RSS)', ours.rssMb, py.rssMb, 'MB');

  if (!args['no-routes']) {
    console.log('\nfaiss-node input routes (this process):\n\n| step | seconds |\n|---|---|');
    const routes = measureRoutes(data.vectors, rows, dim, Math.max(...ks) + 1, Math.min(rows, 4096));
    for (const [name, s] of Object.entries(routes))
      console.log(`| ${name.replace(' (s)', '')} | ${s.toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
