/**
 * Training speed on the emoji benchmark, Recallkit against the PyTorch peer in the same run: for
 * each loss, the peer (`shared/peers/emoji_dml.py`, 2 threads) and then `recallkit train` on the
 * same experiment, the same budget, one process each, alternating. Reports training images/s
 * (the training loop only, as both sides count it) and the ratio ours / peer, with the load
 * average before and after; raw results go to bench/emoji/last-run.json. With --wasm-kernels,
 * Recallkit also trains with its native kernels off (RECALLKIT_NATIVE_KERNELS=0: XNNPACK only).
 *
 *   npm run setup && pnpm nx run-many -t build --projects='@recallkit/*'
 *   cd bench && npx tsx emoji/speed.ts [--epochs 1] [--losses rsk,smoothap,contrastive_pml,contrastive_cos] [--wasm-kernels]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from '../args';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const EPOCHS = Number(option('--epochs') ?? 1);
/** The peer's loss name, and the experiment that trains it here. */
const EXPERIMENTS: Record<string, string> = {
  rsk: 'emoji-rsk.yaml',
  smoothap: 'emoji-smoothap.yaml',
  contrastive_pml: 'emoji-contrastive.yaml',
  contrastive_cos: 'emoji-contrastive-cosine.yaml',
};
const LOSSES = (option('--losses') ?? Object.keys(EXPERIMENTS).join(',')).split(',');
const WASM_KERNELS = process.argv.includes('--wasm-kernels');
const PEER = resolve(repo, '../shared/peers/emoji_dml.py');
const EMOJI_ROOT = join(repo, 'packages/datasets/node_modules');

const lastLine = (out: string): Record<string, unknown> =>
  JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;

function peer(loss: string): Record<string, unknown> {
  const argv = [PEER, '--root', EMOJI_ROOT, '--loss', loss, '--epochs', String(EPOCHS), '--seed', '0'];
  return lastLine(execFileSync('/usr/bin/python3', [...argv, '--threads', '2'], { encoding: 'utf8' }));
}

function ours(loss: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out = mkdtempSync(join(tmpdir(), 'recallkit-speed-'));
  try {
    const cli = join(repo, 'packages/cli/dist/cli.js');
    const config = join(repo, 'experiments', EXPERIMENTS[loss] as string);
    const argv = [cli, 'train', config, '--epochs', String(EPOCHS), '--seed', '0', '--json', '--no-progress'];
    return lastLine(
      execFileSync(process.execPath, [...argv, '--out', join(out, 'run')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        env,
      }),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const rows: Record<string, unknown>[] = [];
const loadBefore = loadavg()[0] as number;
for (const loss of LOSSES) {
  if (!EXPERIMENTS[loss])
    throw new Error(`unknown loss '${loss}' (known: ${Object.keys(EXPERIMENTS).join(', ')})`);
  const p = peer(loss);
  const o = ours(loss);
  const w = WASM_KERNELS ? ours(loss, { ...process.env, RECALLKIT_NATIVE_KERNELS: '0' }) : undefined;
  const peerSpeed = Number(p['images_per_s']);
  const ourSpeed = Number(o['imagesPerSecond']);
  rows.push({ loss, peer: p, ours: o, ratio: ourSpeed / peerSpeed, ...(w ? { wasmKernels: w } : {}) });
  console.error(`${loss}: Recallkit ${ourSpeed.toFixed(0)} img/s, peer ${peerSpeed.toFixed(0)} img/s`);
}
const loadAfter = loadavg()[0] as number;
writeFileSync(
  join(here, 'last-run.json'),
  `${JSON.stringify({ date: new Date().toISOString(), epochs: EPOCHS, loadBefore, loadAfter, rows }, null, 2)}\n`,
);
console.log(
  `epochs ${EPOCHS}, load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after\n`,
);
const wasmHeader = WASM_KERNELS ? ' XNNPACK only img/s | ratio |' : '';
console.log(`| loss | Recallkit img/s | peer img/s (2 threads) | ratio |${wasmHeader}`);
console.log(`|---|---:|---:|---:|${WASM_KERNELS ? '---:|---:|' : ''}`);
for (const r of rows) {
  const o = r['ours'] as Record<string, unknown>;
  const p = r['peer'] as Record<string, unknown>;
  const w = r['wasmKernels'] as Record<string, unknown> | undefined;
  const peerSpeed = Number(p['images_per_s']);
  const wasmCells = w
    ? ` ${Number(w['imagesPerSecond']).toFixed(0)} | ${(Number(w['imagesPerSecond']) / peerSpeed).toFixed(2)} |`
    : '';
  console.log(
    `| ${r['loss']} | ${Number(o['imagesPerSecond']).toFixed(0)} | ${peerSpeed.toFixed(0)} | ${(r['ratio'] as number).toFixed(2)} |${wasmCells}`,
  );
}
