/**
 * Decode + augment throughput of the image pipeline: @recallkit/datasets on sharp (libvips, on
 * libuv's thread pool) against a pure-JavaScript peer (jpeg-js decode + bilinear crop/resize +
 * flip + normalisation in 2 worker threads), on the same JPEG files with the same crop plans.
 *
 *   cd bench && npx tsx --conditions=source datasets/run.ts [images=96] [rounds=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { useBackend } from '@recallkit/core';
import { centerCropBox, ImageDataset, planSample, resizeShorterSide } from '@recallkit/datasets';
import { makeJpeg, PHOTO_HEIGHT, PHOTO_WIDTH } from './jpeg';

const count = Number(process.argv[2] ?? 96);
const rounds = Number(process.argv[3] ?? 3);
const [W, H, SIZE] = [PHOTO_WIDTH, PHOTO_HEIGHT, 224];

/** The affine map output pixel -> source pixel of each sample (same plans as the sharp pipeline). */
function jobs(files: string[], augment: { seed: number; epoch: number } | undefined) {
  return files.map((file, index) => {
    const plan = planSample(W, H, index, augment);
    if (plan.crop) {
      const { left, top, width, height } = plan.crop;
      const [sx, sy] = [width / SIZE, height / SIZE];
      return {
        file,
        size: SIZE,
        flip: plan.flip,
        ax: sx,
        bx: left + 0.5 * sx - 0.5,
        ay: sy,
        by: top + 0.5 * sy - 0.5,
      };
    }
    const scaled = resizeShorterSide(W, H, 256);
    const box = centerCropBox(scaled.width, scaled.height, SIZE);
    const [sx, sy] = [W / scaled.width, H / scaled.height];
    return {
      file,
      size: SIZE,
      flip: false,
      ax: sx,
      bx: (box.left + 0.5) * sx - 0.5,
      ay: sy,
      by: (box.top + 0.5) * sy - 0.5,
    };
  });
}

async function timeSharp(files: string[], augment?: { seed: number; epoch: number }): Promise<number> {
  const dataset = new ImageDataset('bench', files, new Int32Array(files.length), [0]);
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let b = 0; b < files.length; b += 32) {
      const idx = Array.from({ length: Math.min(32, files.length - b) }, (_, i) => b + i);
      (await dataset.load(idx, augment && { ...augment, epoch: r })).dispose();
    }
  }
  return (rounds * files.length) / ((performance.now() - start) / 1000);
}

async function timeJpegJs(files: string[], augment?: { seed: number; epoch: number }): Promise<number> {
  const workers = [0, 1].map(() => new Worker(new URL('./jpegjs-worker.mjs', import.meta.url)));
  const run = (w: Worker, work: unknown[]) =>
    new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage(work);
    });
  await Promise.all(workers.map((w) => run(w, jobs(files.slice(0, 2), augment)))); // warm-up
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    const all = jobs(files, augment && { ...augment, epoch: r });
    const half = Math.ceil(all.length / 2);
    await Promise.all([run(workers[0]!, all.slice(0, half)), run(workers[1]!, all.slice(half))]);
  }
  const rate = (rounds * files.length) / ((performance.now() - start) / 1000);
  await Promise.all(workers.map((w) => w.terminate()));
  return rate;
}

await useBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'recallkit-bench-datasets-'));
const files = Array.from({ length: count }, (_, i) => join(dir, `${String(i).padStart(5, '0')}.jpg`));
for (const [i, f] of files.entries()) makeJpeg(f, i);
console.log(
  `${count} JPEGs ${W}x${H}, ${rounds} rounds, ${availableParallelism()} cores, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
await timeSharp(files.slice(0, 8)); // warm-up
const rows: [string, number, number][] = [];
for (const [label, augment] of [
  ['train: RandomResizedCrop 224 + flip', { seed: 0, epoch: 0 }],
  ['eval: Resize 256 + CenterCrop 224', undefined],
] as const) {
  const ours = await timeSharp(files, augment);
  const peer = await timeJpegJs(files, augment);
  rows.push([label, ours, peer]);
}
console.log('| transform | sharp (images/s) | jpeg-js, 2 workers (images/s) | ratio sharp / jpeg-js |');
console.log('|---|---|---|---|');
for (const [label, ours, peer] of rows) {
  console.log(`| ${label} | ${ours.toFixed(0)} | ${peer.toFixed(0)} | ${(ours / peer).toFixed(2)} |`);
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
rmSync(dir, { recursive: true, force: true });
