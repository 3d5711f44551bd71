import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '@recallkit/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { resizeShorterSide } from '../src/image/geometry';
import { IMAGENET_MEAN, IMAGENET_STD, planSample } from '../src/image/pipeline';
import { ImageDataset } from '../src/image-dataset';
import { pattern, tempRoot, writeImage } from './helpers';

const norm = (v: number, c: number) => (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
const root = tempRoot('pipeline');
const files: string[] = [];

beforeAll(async () => {
  await useBackend('cpu');
  files.push(await writeImage(join(root, 'a.jpg'), 300, 200, 1));
  files.push(await writeImage(join(root, 'b.png'), 180, 260, 2));
  files.push(await writeImage(join(root, 'c.jpg'), 256, 256, 3));
  // 256 x 256 PNG (lossless): Resize(256) keeps it, so the centre crop is its pixels [16, 240).
  files.push(await writeImage(join(root, 'd.png'), 256, 256, 4));
  // A greyscale PNG.
  const grey = Buffer.from(Array.from({ length: 240 * 240 }, (_, i) => i % 251));
  await sharp(grey, { raw: { width: 240, height: 240, channels: 1 } })
    .png()
    .toFile(join(root, 'e.png'));
  files.push(join(root, 'e.png'));
});

const dataset = () => new ImageDataset('fixture', files, Int32Array.from([0, 0, 1, 1, 2]), ['a', 'b', 'c']);

describe('image pipeline on sharp', () => {
  it('evaluation: Resize 256 + CenterCrop 224 + ImageNet normalisation of the exact pixels', async () => {
    const t = await dataset().load([3]);
    expect(t.shape).toEqual([1, 224, 224, 3]);
    const got = t.dataSync();
    t.dispose();
    const src = pattern(256, 256, 4);
    for (const [y, x] of [
      [0, 0],
      [0, 223],
      [100, 57],
      [223, 223],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        expect(got[(y * 224 + x) * 3 + c]).toBeCloseTo(norm(src[((y + 16) * 256 + x + 16) * 3 + c]!, c), 5);
      }
    }
  });

  it('training: the plan flips some samples and not others', () => {
    const plans = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => planSample(300, 200, i, { seed: 7, epoch: 2 }));
    expect(plans.some((p) => p.flip) && plans.some((p) => !p.flip)).toBe(true);
    expect(dataset().length).toBe(5);
  });

  it('is deterministic: same (seed, epoch, index) gives the same pixels, in any batch order', async () => {
    const d = dataset();
    const augment = { seed: 3, epoch: 1 };
    const a = await d.load([0, 1, 2], augment);
    const b = await d.load([2, 0], augment);
    const again = await d.load([0, 1, 2], augment);
    const next = await d.load([0, 1, 2], { seed: 3, epoch: 2 });
    const [av, bv, gv, nv] = [a, b, again, next].map((t) => t.dataSync() as Float32Array);
    const n = 224 * 224 * 3;
    const same = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
    expect(same(gv!, av!)).toBe(true);
    expect(same(bv!.subarray(0, n), av!.subarray(2 * n))).toBe(true); // row 0 of [2, 0] is sample 2
    expect(same(bv!.subarray(n), av!.subarray(0, n))).toBe(true);
    expect(same(nv!.subarray(0, n), av!.subarray(0, n))).toBe(false); // another epoch, another crop
    for (const t of [a, b, again, next]) t.dispose();
  });

  it('turns greyscale into three equal channels and decodes PNG and JPEG alike', async () => {
    const t = await dataset().load([4, 1]);
    const v = t.dataSync();
    t.dispose();
    for (const p of [0, 777, 224 * 224 - 1]) {
      const grey = (ch: number) => v[p * 3 + ch]! * IMAGENET_STD[ch]! + IMAGENET_MEAN[ch]!;
      expect(grey(1)).toBeCloseTo(grey(0), 5);
      expect(grey(2)).toBeCloseTo(grey(0), 5);
    }
  });

  it('skips corrupt and truncated images and counts them, or fails by option', async () => {
    const broken = join(root, 'broken.jpg');
    const truncated = join(root, 'truncated.jpg');
    writeFileSync(broken, 'not an image at all');
    const whole = readFileSync(files[0]!);
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const list = [files[0]!, broken, files[2]!, truncated];
    const warnings: string[] = [];
    const d = new ImageDataset('bad', list, Int32Array.from([0, 1, 2, 3]), [0, 1, 2, 3], {
      pipeline: { size: 32, resize: 40 },
      onWarning: (w) => warnings.push(w),
    });
    const batch = await d.loadBatch([0, 1, 2, 3, 1]);
    expect(batch.images.shape).toEqual([2, 32, 32, 3]);
    expect(Array.from(batch.indices)).toEqual([0, 2]);
    expect(Array.from(batch.labels)).toEqual([0, 2]);
    expect(batch.skipped.map((s) => s.path)).toEqual([broken, broken, truncated]);
    batch.images.dispose();
    const summary = d.summary();
    expect(summary.decoded).toBe(2);
    expect(summary.skipped).toBe(3);
    expect(summary.badImages.map((b) => b.path).sort()).toEqual([broken, truncated].sort());
    expect(warnings).toHaveLength(2); // once per bad file
    expect(warnings.join('\n')).toMatch(/bad: skipping unreadable image .*broken.jpg/);
    // `load` keeps one row per index (labels[indices] stays aligned): a bad image's row is zeros.
    const aligned = await d.load([1, 0]);
    const values = aligned.dataSync();
    aligned.dispose();
    expect(aligned.shape).toEqual([2, 32, 32, 3]);
    expect(values.subarray(0, 32 * 32 * 3).every((v) => v === 0)).toBe(true);
    expect(values.subarray(32 * 32 * 3).some((v) => v !== 0)).toBe(true);
    expect(d.summary().skipped).toBe(4);
    expect(warnings).toHaveLength(2);
    const strict = new ImageDataset('bad', list, Int32Array.from([0, 1, 2, 3]), [0, 1, 2, 3], {
      onBadImage: 'fail',
    });
    await expect(strict.load([3])).rejects.toThrow(/bad: cannot decode .*truncated.jpg/);
    await expect(strict.load([0, 9])).rejects.toThrow(/sample index 9/);
  });

  it('rejects a resize smaller than the crop', () => {
    expect(
      () => new ImageDataset('x', [], new Int32Array(0), [], { pipeline: { size: 224, resize: 200 } }),
    ).toThrow(/resize \(200\) >= size \(224\)/);
  });
});

// Pixels of torchvision 0.14's transforms on PIL (Pillow 9.4), made by fixtures/pipeline/make_fixture.py.
// Enlarging runs Pillow's own arithmetic, so it must match exactly. Shrinking runs libvips, whose
// reduce differs from Pillow by rounding (at most 2 of 255 levels inside the image; about 10% of
// values differ by 1) and at the edges of a crop, where libvips repeats the edge pixel and Pillow
// renormalises the clipped filter (at most 6 levels, measured 6, on the outermost row and column).
interface PilCase {
  kind: 'eval' | 'train';
  source: string;
  reference: string;
  size: number;
  resize?: number;
  index?: number;
  seed?: number;
  epoch?: number;
  box?: { top: number; left: number; width: number; height: number };
  flip?: boolean;
}
const pilDir = new URL('fixtures/pipeline/', import.meta.url);
const pil: { cases: PilCase[] } = JSON.parse(readFileSync(new URL('cases.json', pilDir), 'utf8'));

describe('image pipeline against torchvision on PIL', () => {
  it.each(pil.cases)('$reference from $source', async (c) => {
    const path = new URL(c.source, pilDir).pathname;
    const meta = await sharp(path).metadata();
    const [w, h] = [meta.width!, meta.height!];
    const augment = c.kind === 'train' ? { seed: c.seed!, epoch: c.epoch! } : undefined;
    if (augment) expect(planSample(w, h, c.index!, augment)).toEqual({ crop: c.box, flip: c.flip });
    // The sample index picks the plan, so the file sits at every index up to it.
    const n = (c.index ?? 0) + 1;
    const d = new ImageDataset('pil', Array(n).fill(path), new Int32Array(n), ['x'], {
      pipeline: { size: c.size, resize: c.resize ?? 256 },
    });
    const t = await d.load([n - 1], augment);
    const got = t.dataSync();
    t.dispose();
    const ref = await sharp(new URL(c.reference, pilDir).pathname).raw().toBuffer();
    expect(got.length).toBe(ref.length);
    const from = c.box ?? { width: w, height: h };
    const to = c.box ? { width: c.size, height: c.size } : resizeShorterSide(w, h, c.resize ?? 256);
    const enlarging = to.width > from.width || to.height > from.height;
    let [inner, edge, sum] = [0, 0, 0];
    for (let i = 0; i < got.length; i++) {
      const ch = i % 3;
      const level = Math.round((got[i]! * IMAGENET_STD[ch]! + IMAGENET_MEAN[ch]!) * 255);
      const diff = Math.abs(level - ref[i]!);
      const [y, x] = [Math.floor(i / 3 / c.size), Math.floor(i / 3) % c.size];
      const border = x === 0 || y === 0 || x === c.size - 1 || y === c.size - 1;
      if (border) edge = Math.max(edge, diff);
      else inner = Math.max(inner, diff);
      sum += diff;
    }
    if (enlarging) {
      expect([inner, edge, sum]).toEqual([0, 0, 0]);
    } else {
      expect(inner).toBeLessThanOrEqual(2);
      expect(edge).toBeLessThanOrEqual(6);
      expect(sum / got.length).toBeLessThan(0.25);
    }
  });
});
