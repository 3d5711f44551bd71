/**
 * The trainer's load-ahead on image files: the same training run (small CNN on 64 x 64 crops of
 * 500 x 375 JPEGs decoded by sharp, RandomResizedCrop + flip, RS@k, batches of 64) with `loadAhead`
 * on and off, alternating, in one process. Training images/s of each and the ratio on / off; the
 * weights of the two runs are compared too (they must be equal).
 *
 *   cd bench && npx tsx --conditions=source engine/load-ahead.ts [steps=12] [rounds=2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { ImageDataset, mPerClassSampler } from '@recallkit/datasets';
import { train } from '@recallkit/engine';
import { recallAtKSurrogate } from '@recallkit/losses';
import { smallCnn } from '@recallkit/models';
import { makeJpeg, PHOTO_HEIGHT, PHOTO_WIDTH } from '../datasets/jpeg';

const steps = Number(process.argv[2] ?? 12);
const rounds = Number(process.argv[3] ?? 2);
const [W, H, SIZE, CLASSES, PER_CLASS] = [PHOTO_WIDTH, PHOTO_HEIGHT, 64, 64, 4];

await useBackend('wasm');
const dir = mkdtempSync(join(tmpdir(), 'recallkit-load-ahead-'));
try {
  const files = Array.from({ length: CLASSES * PER_CLASS }, (_, i) => {
    const file = join(dir, `${i}.jpg`);
    makeJpeg(file, i);
    return file;
  });
  const labels = Int32Array.from(files, (_, i) => Math.floor(i / PER_CLASS));
  const classIds = Array.from({ length: CLASSES }, (_, c) => c);
  const dataset = new ImageDataset('bench', files, labels, classIds, {
    pipeline: { size: SIZE, resize: SIZE },
  });
  const sampler = mPerClassSampler({ labels, classesPerBatch: 16, samplesPerClass: PER_CLASS, seed: 0 });

  const run = async (loadAhead: boolean) => {
    const model = smallCnn({ inputShape: [SIZE, SIZE, 3], seed: 0 });
    const started = performance.now();
    const result = await train({
      model,
      loss: recallAtKSurrogate(),
      dataset,
      sampler,
      epochs: 100,
      iterations: steps,
      augment: true,
      seed: 0,
      loadAhead,
      optimizer: { type: 'adam', learningRate: 1e-3 },
      progress: false,
    });
    const seconds = (performance.now() - started) / 1000;
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.dispose();
    return { imagesPerSecond: (result.steps * sampler.batchSize) / seconds, weights };
  };

  const before = loadavg()[0]!;
  await run(true); // warm-up: JIT, wasm heap, sharp's thread pool
  const on: number[] = [];
  const off: number[] = [];
  let same = true;
  for (let r = 0; r < rounds; r++) {
    const a = await run(false);
    const b = await run(true);
    off.push(a.imagesPerSecond);
    on.push(b.imagesPerSecond);
    same &&= JSON.stringify(a.weights) === JSON.stringify(b.weights);
  }
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
  console.log('| loadAhead | training img/s per round | ratio on / off |');
  console.log('|---|---|---|');
  console.log(`| false | ${fmt(off)} | 1 |`);
  console.log(`| true | ${fmt(on)} | ${on.map((x, i) => (x / off[i]!).toFixed(2)).join(' / ')} |`);
  console.log(
    `\n${steps} steps of ${sampler.batchSize} images (${SIZE} x ${SIZE} crops of ${W} x ${H} JPEGs) a run; weights equal: ${same}; load average ${before.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`,
  );
  tf.disposeVariables();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
