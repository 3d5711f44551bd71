import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isRecallkitError, useBackend } from '@recallkit/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/image/pipeline';
import { ImageDataset } from '../src/image-dataset';
import { imageFolder } from '../src/readers/image-folder';
import { tempRoot, writeText } from './helpers';

type Rgb = [number, number, number];

/** Writes a solid-colour image in the format of its extension. */
async function solid(path: string, rgb: Rgb, width = 12, height = 10): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  const image = sharp({
    create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  });
  const ext = path.toLowerCase().split('.').pop();
  await (ext === 'png' ? image.png() : ext === 'webp' ? image.webp({ lossless: true }) : image.jpeg()).toFile(
    path,
  );
  return path;
}

/** Writes a PNG whose left half is `left` and right half `right` (exactly `size` x `size`). */
async function halves(path: string, left: Rgb, right: Rgb, size: number): Promise<string> {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) px.set(x < size / 2 ? left : right, (y * size + x) * 3);
  mkdirSync(dirname(path), { recursive: true });
  await sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(path);
  return path;
}

/** A PNG cut after its header and part of its data: metadata reads, decoding fails. */
async function truncatedPng(path: string): Promise<string> {
  const whole = await sharp({ create: { width: 30, height: 30, channels: 3, background: '#336699' } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
  return path;
}

/** The normalised value of channel c of 8-bit value v, computed from the definition. */
const norm = (v: number, c: number) => (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
const small = { pipeline: { size: 8, resize: 8 } };
const rel = (root: string, d: ImageDataset) => d.files.map((f) => f.slice(root.length + 1));

function collect(): { warnings: string[]; onWarning: (w: string) => void } {
  const warnings: string[] = [];
  return { warnings, onWarning: (w) => warnings.push(w) };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('imageFolder, one root split by class', () => {
  const root = tempRoot('imagefolder');
  const red: Rgb = [200, 10, 50];
  beforeAll(async () => {
    await solid(join(root, 'ant', 'a1.png'), red);
    await solid(join(root, 'ant', 'a2.png'), [0, 255, 0]);
    await halves(join(root, 'ant', 'a3.png'), [255, 0, 0], [0, 0, 255], 8);
    await solid(join(root, 'bee', 'b1.jpg'), [90, 90, 90]);
    await solid(join(root, 'bee', 'B2.JPEG'), [20, 40, 60]);
    writeFileSync(join(root, 'bee', 'empty.jpg'), ''); // zero bytes
    writeText(join(root, 'bee', 'notes.txt'), 'not an image');
    writeText(join(root, 'bee', '.DS_Store'), 'hidden');
    await solid(join(root, 'cat', 'c1.png'), [1, 2, 3]);
    await solid(join(root, 'cat', 'c2.png'), [4, 5, 6]);
    await truncatedPng(join(root, 'cat', 'cut.png'));
    await solid(join(root, 'dog', 'd1.webp'), [7, 8, 9]);
    await solid(join(root, 'dog', 'sub', 'd2.png'), [10, 11, 12]);
    await solid(join(root, 'dog', '.thumbs', 'hidden.png'), [13, 14, 15]);
    await solid(join(root, '.hidden-class', 'x.png'), [16, 17, 18]);
    writeText(join(root, 'README.txt'), 'a file beside the class folders');
  });

  it('assigns labels by sorted folder name, leaves the bad files out and lists them with their reason', async () => {
    const { warnings, onWarning } = collect();
    const { train, test } = await imageFolder({ root, trainClasses: ['cat', 'ant'], onWarning, ...small });
    expect(train.classIds).toEqual(['ant', 'cat']);
    expect(rel(root, train)).toEqual(['ant/a1.png', 'ant/a2.png', 'ant/a3.png', 'cat/c1.png', 'cat/c2.png']);
    expect(Array.from(train.labels)).toEqual([0, 0, 0, 1, 1]);
    expect(train.skipped.map((s) => s.path)).toEqual([join(root, 'cat', 'cut.png')]);
    expect(train.skipped[0]!.reason).toMatch(/png|failOn/i); // libvips names the decoder or its failOn warning
    // The rest of the class folders are the test split; hidden files and folders are not read.
    expect(test.classIds).toEqual(['bee', 'dog']);
    expect(rel(root, test)).toEqual(['bee/B2.JPEG', 'bee/b1.jpg', 'dog/d1.webp', 'dog/sub/d2.png']);
    expect(Array.from(test.labels)).toEqual([0, 0, 1, 1]);
    expect(test.skipped).toEqual([{ path: join(root, 'bee', 'empty.jpg'), reason: 'empty file (0 bytes)' }]);
    expect(test.length + test.skipped.length).toBe(5);
    expect([train.numClasses, test.numClasses]).toEqual([2, 2]);
    // One warning per split with bad files, naming them; one for the non-image file.
    expect(warnings.filter((w) => /left out 1 unreadable image\(s\) of 6:\n.*cut\.png/.test(w))).toHaveLength(
      1,
    );
    expect(
      warnings.filter((w) => /left out 1 unreadable image\(s\) of 5:\n.*empty\.jpg \(empty file/.test(w)),
    ).toHaveLength(1);
    expect(warnings.filter((w) => /ignored 1 file\(s\) .* bee\/notes\.txt$/.test(w))).toHaveLength(1);
    expect(warnings).toHaveLength(3);
  });

  it('loads the pixels of known images, normalised, with no skipped row', async () => {
    const { train, test } = await imageFolder({
      root,
      trainClasses: ['ant', 'cat'],
      onWarning: () => {},
      ...small,
    });
    const batch = await train.loadBatch([0, 2]);
    expect(batch.skipped).toEqual([]);
    expect(batch.images.shape).toEqual([2, 8, 8, 3]);
    const v = batch.images.dataSync();
    batch.images.dispose();
    // a1.png is solid (200, 10, 50): every pixel is ((200, 10, 50) / 255 - mean) / std.
    for (let p = 0; p < 64; p++)
      for (let c = 0; c < 3; c++) expect(v[p * 3 + c]).toBeCloseTo(norm(red[c]!, c), 5);
    // a3.png is red on its left half, blue on its right, at 8 x 8 (no resize): row-major HWC.
    const a3 = v.subarray(64 * 3);
    for (const [x, y, rgb] of [
      [0, 0, [255, 0, 0]],
      [3, 5, [255, 0, 0]],
      [4, 0, [0, 0, 255]],
      [7, 7, [0, 0, 255]],
    ] as [number, number, Rgb][]) {
      for (let c = 0; c < 3; c++) expect(a3[(y * 8 + x) * 3 + c]).toBeCloseTo(norm(rgb[c]!, c), 5);
    }
    // Every test row decodes: none is the all-zero row of a skipped image.
    const all = await test.load(Array.from(test.labels.keys()));
    const t = all.dataSync();
    all.dispose();
    for (let r = 0; r < test.length; r++)
      expect(t.subarray(r * 192, (r + 1) * 192).some((x) => x !== 0)).toBe(true);
    // d1.webp is solid (7, 8, 9), lossless.
    const d1 = t.subarray(2 * 192, 3 * 192);
    for (let c = 0; c < 3; c++) expect(d1[c]).toBeCloseTo(norm([7, 8, 9][c]!, c), 5);
  });

  it('without the check, a zero-byte file stays in the dataset as a zero row (what the check prevents)', async () => {
    const { warnings, onWarning } = collect();
    const { test } = await imageFolder({
      root,
      testClasses: ['bee'],
      checkImages: false,
      onWarning,
      ...small,
    });
    expect(rel(root, test)).toEqual(['bee/B2.JPEG', 'bee/b1.jpg', 'bee/empty.jpg']);
    expect(test.skipped).toEqual([]);
    const x = await test.load([2]);
    const v = x.dataSync();
    x.dispose();
    expect(v.every((e) => e === 0)).toBe(true);
    expect(test.summary().badImages.map((b) => b.path)).toEqual([join(root, 'bee', 'empty.jpg')]);
    expect(warnings.some((w) => w.includes('skipping unreadable image'))).toBe(true);
  });

  it('throws IMAGE_UNREADABLE naming the first bad file with onBadImage fail', async () => {
    const e = await rejection(
      imageFolder({ root, trainClasses: ['ant', 'cat'], onBadImage: 'fail', onWarning: () => {}, ...small }),
    );
    expect(isRecallkitError(e, 'IMAGE_UNREADABLE')).toBe(true);
    expect(e.message).toContain(join(root, 'cat', 'cut.png'));
  });

  it('splits by trainFraction of the sorted class folders (default half)', async () => {
    const half = await imageFolder({ root, onWarning: () => {}, ...small });
    expect(half.train.classIds).toEqual(['ant', 'bee']);
    expect(half.test.classIds).toEqual(['cat', 'dog']);
    const quarter = await imageFolder({ root, trainFraction: 0.25, onWarning: () => {}, ...small });
    expect(quarter.train.classIds).toEqual(['ant']);
    expect(quarter.test.classIds).toEqual(['bee', 'cat', 'dog']);
    const e = await rejection(imageFolder({ root, trainFraction: 0.1 }));
    expect(isRecallkitError(e, 'INVALID_OPTION')).toBe(true);
    expect(e.message).toMatch(/leaves training without a class/);
  });

  it('names unknown, repeated and overlapping classes', async () => {
    const unknown = await rejection(imageFolder({ root, trainClasses: ['ant', 'cow'] }));
    expect(isRecallkitError(unknown, 'DATASET_FILE_MISSING')).toBe(true);
    expect(unknown.message).toContain(`not found in ${root}: cow`);
    expect(unknown.message).toContain('class folders there: ant, bee, cat, dog');
    const both = await rejection(
      imageFolder({ root, trainClasses: ['ant', 'bee'], testClasses: ['bee', 'cat'] }),
    );
    expect(isRecallkitError(both, 'INVALID_OPTION')).toBe(true);
    expect(both.message).toMatch(/in both trainClasses and testClasses: bee$/);
    const twice = await rejection(imageFolder({ root, trainClasses: ['ant', 'ant'] }));
    expect(twice.message).toMatch(/trainClasses names ant more than once/);
    const mixed = await rejection(imageFolder({ root, trainClasses: ['ant'], trainFraction: 0.5 }));
    expect(isRecallkitError(mixed, 'INVALID_OPTION')).toBe(true);
  });
});

describe('imageFolder, train and test folders', () => {
  const root = tempRoot('imagefolder-split');
  beforeAll(async () => {
    await solid(join(root, 'train', 'a', '1.png'), [10, 20, 30]);
    await solid(join(root, 'train', 'a', '2.png'), [10, 20, 31]);
    await solid(join(root, 'train', 'b', '1.jpg'), [50, 60, 70]);
    await solid(join(root, 'test', 'a', '1.png'), [1, 1, 1]);
    await solid(join(root, 'test', 'a', '2.png'), [2, 2, 2]);
    await solid(join(root, 'test', 'c', '1.png'), [3, 3, 3]);
  });

  it('reads <root>/train and <root>/test (detected), each split labelled on its own', async () => {
    const { warnings, onWarning } = collect();
    const { train, test } = await imageFolder({ root, onWarning, ...small });
    expect(train.classIds).toEqual(['a', 'b']);
    expect(rel(root, train)).toEqual(['train/a/1.png', 'train/a/2.png', 'train/b/1.jpg']);
    expect(Array.from(train.labels)).toEqual([0, 0, 1]);
    expect(test.classIds).toEqual(['a', 'c']);
    expect(Array.from(test.labels)).toEqual([0, 0, 1]);
    // b has one training image: named; c has one test image: allowed without a word.
    expect(warnings).toEqual([
      `image-folder-train: 1 class folder(s) have a single image, so no positive pair to train on: ${join(root, 'train', 'b')}`,
    ]);
    // With split 'classes' the same root has two classes, 'test' and 'train'.
    const asClasses = await imageFolder({ root, split: 'classes', onWarning: () => {}, ...small });
    expect([asClasses.train.classIds, asClasses.test.classIds]).toEqual([['test'], ['train']]);
  });

  it('names a missing test folder, an empty class folder and a missing root', async () => {
    const partial = tempRoot('imagefolder-partial');
    await solid(join(partial, 'train', 'a', '1.png'), [1, 2, 3]);
    const noTest = await rejection(imageFolder({ root: partial, split: 'folders' }));
    expect(isRecallkitError(noTest, 'DATASET_FILE_MISSING')).toBe(true);
    expect(noTest.message).toContain(`folder not found: ${join(partial, 'test')}`);
    mkdirSync(join(partial, 'test', 'z'), { recursive: true });
    writeText(join(partial, 'test', 'z', 'a.gif'), 'GIF89a');
    const empty = await rejection(imageFolder({ root: partial, onWarning: () => {} }));
    expect(isRecallkitError(empty, 'DATASET_EMPTY')).toBe(true);
    expect(empty.message).toContain(
      `1 class folder(s) hold no .jpg/.jpeg/.png/.webp image: ${join(partial, 'test', 'z')}`,
    );
    const missing = await rejection(imageFolder({ root: join(partial, 'nope') }));
    expect(isRecallkitError(missing, 'DATASET_FILE_MISSING')).toBe(true);
    expect(missing.message).toContain(`folder not found: ${join(partial, 'nope')}`);
  });

  it('throws DATASET_EMPTY when no image of a split decodes', async () => {
    const bad = tempRoot('imagefolder-bad');
    await solid(join(bad, 'train', 'a', '1.png'), [1, 2, 3]);
    await solid(join(bad, 'train', 'a', '2.png'), [1, 2, 4]);
    writeText(join(bad, 'test', 'b', '1.png'), '');
    const e = await rejection(imageFolder({ root: bad, onWarning: () => {} }));
    expect(isRecallkitError(e, 'DATASET_EMPTY')).toBe(true);
    expect(e.message).toContain(`image-folder-test: none of the 1 image(s) under ${bad}`);
  }, 10_000);

  it('follows a linked class folder once', async () => {
    const linked = tempRoot('imagefolder-link');
    await solid(join(linked, 'a', '1.png'), [1, 2, 3]);
    await solid(join(linked, 'a', '2.png'), [1, 2, 4]);
    await solid(join(linked, 'b', '1.png'), [1, 2, 5]);
    symlinkSync(join(linked, 'a'), join(linked, 'a', 'loop'));
    symlinkSync(join(linked, 'b'), join(linked, 'c'));
    const { train, test } = await imageFolder({
      root: linked,
      trainClasses: ['a'],
      onWarning: () => {},
      ...small,
    });
    expect(rel(linked, train)).toEqual(['a/1.png', 'a/2.png']);
    expect(rel(linked, test)).toEqual(['b/1.png', 'c/1.png']);
    expect(test.classIds).toEqual(['b', 'c']);
  });
});

describe('ImageDataset.withoutBadImages', () => {
  it('drops bad files before indices exist, renumbers labels over the classes left and names a lost class', async () => {
    const root = tempRoot('without-bad');
    const good1 = await solid(join(root, 'g1.png'), [9, 9, 9]);
    const good2 = await solid(join(root, 'g2.jpg'), [9, 9, 9]);
    const trunc = await truncatedPng(join(root, 't.png'));
    const garbage = join(root, 'g.jpg');
    writeFileSync(garbage, 'not an image');
    // The truncated file has a readable header: only a full decode finds it.
    expect((await sharp(readFileSync(trunc)).metadata()).width).toBe(30);
    const { warnings, onWarning } = collect();
    const progress: number[] = [];
    const d = new ImageDataset(
      'mine',
      [good1, trunc, good2, garbage],
      Int32Array.from([0, 1, 2, 2]),
      [10, 20, 30],
      {
        onWarning,
        ...small,
      },
    );
    const clean = await d.withoutBadImages({ onProgress: (done, total) => progress.push(done * 10 + total) });
    expect(clean.files).toEqual([good1, good2]);
    expect(clean.classIds).toEqual([10, 30]);
    expect(Array.from(clean.labels)).toEqual([0, 1]);
    expect([clean.length, clean.numClasses]).toEqual([2, 2]);
    expect(clean.skipped.map((s) => s.path)).toEqual([trunc, garbage]);
    expect(clean.skipped[1]!.reason).toMatch(/unsupported image format/);
    expect(progress).toEqual([14, 24, 34, 44]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^mine: left out 2 unreadable image\(s\) of 4:\n {2}.*t\.png \(.*\)\n {2}.*g\.jpg/,
    );
    expect(warnings[0]).toMatch(/class\(es\) left without an image: 20$/);
    // A dataset with nothing to drop comes back as it is.
    expect(await clean.withoutBadImages()).toBe(clean);
    expect(d.skipped).toEqual([]);
  });
});
