// Dataset readers, the image dataset and the samplers given bad input: a named error or a defined
// behaviour (the table in docs/bad-input.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '@recallkit/core';
import { beforeAll, expect } from 'vitest';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import {
  cars196,
  cub200,
  ImageDataset,
  idxDataset,
  imageFolder,
  inaturalist2018,
  mPerClassSampler,
  readIdx,
  readMat,
  revisitedOxfordParis,
  rskSampler,
  stanfordOnlineProducts,
  vehicleId,
} from '../src/index';
import { tempRoot, writeImage, writeText } from './helpers';

const root = tempRoot('bad-input');
const missing = join(root, 'missing');
const small = { pipeline: { size: 8, resize: 8 } };
const folder = join(root, 'folder');
const sop = join(root, 'sop');

beforeAll(async () => {
  await useBackend('cpu');
  // One class per folder: ant and bee hold a zero-byte and a truncated PNG, eel a single image.
  for (const c of ['ant', 'bee', 'cat', 'dog']) {
    for (let i = 0; i < 3; i++) await writeImage(join(folder, c, `${i}.png`), 20, 20, i);
  }
  writeFileSync(join(folder, 'ant', 'zero.png'), '');
  const whole = readFileSync(join(folder, 'bee', '0.png'));
  writeFileSync(join(folder, 'bee', 'cut.png'), whole.subarray(0, whole.length >> 1));
  await writeImage(join(folder, 'eel', 'only.png'), 20, 20, 1);
  await writeImage(join(folder, 'fox', 'only.png'), 20, 20, 2);
  // Stanford Online Products' layout: class 2 has a single image; a zero-byte and a truncated JPEG.
  for (let i = 1; i <= 3; i++) await writeImage(join(sop, 'a', `${i}.jpg`), 30, 30, i);
  writeFileSync(join(sop, 'a', 'zero.jpg'), '');
  const jpeg = readFileSync(join(sop, 'a', '1.jpg'));
  writeFileSync(join(sop, 'a', 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  const header = 'image_id class_id super_class_id path\n';
  writeText(
    join(sop, 'Ebay_train.txt'),
    `${header}1 1 1 a/1.jpg\n2 1 1 a/2.jpg\n3 2 1 a/3.jpg\n4 1 1 a/zero.jpg\n5 1 1 a/cut.jpg\n6 1 1 a/gone.jpg\n`,
  );
  writeText(join(sop, 'Ebay_test.txt'), `${header}1 11319 1 a/1.jpg\n2 11319 1 a/2.jpg\n`);
  writeText(join(root, 'sop-bad-class', 'Ebay_train.txt'), `${header}1 x 1 a/1.jpg\n`);
  writeText(join(root, 'sop-bad-class', 'Ebay_test.txt'), header);
  writeText(join(root, 'sop-range', 'Ebay_train.txt'), `${header}1 11319 1 a/1.jpg\n`);
  writeText(join(root, 'sop-range', 'Ebay_test.txt'), header);
  // An IDX header for 10 x 28 x 28 bytes followed by 3 of them; a zero-byte IDX and MAT file.
  writeFileSync(
    join(root, 'cut.idx'),
    Buffer.from([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]),
  );
  writeFileSync(join(root, 'zero.idx'), '');
  writeFileSync(join(root, 'zero.mat'), '');
  const mat = readFileSync(new URL('fixtures/cars196/cars_annos.mat', import.meta.url));
  writeFileSync(join(root, 'cut.mat'), mat.subarray(0, mat.length - 100));
});

const missingRoot = (entry: string, run: () => unknown, name: RegExp): BadInputCase => ({
  entry,
  input: 'a missing root',
  run,
  error: { code: 'DATASET_FILE_MISSING', message: new RegExp(`${name.source}: folder not found: .*missing`) },
});

/** imageFolder's result as plain data, with the warnings it gave. */
async function readFolder(options: Record<string, unknown>) {
  const warnings: string[] = [];
  const { train, test } = await imageFolder({
    root: folder,
    ...small,
    onWarning: (w) => warnings.push(w),
    ...options,
  });
  return { train, test, warnings };
}
type Folder = Awaited<ReturnType<typeof readFolder>>;

/** A dataset over SOP's training list, loading rows `indices` one way or the other. */
async function loadSop(how: 'load' | 'loadBatch', indices: number[]) {
  const warnings: string[] = [];
  const { train } = stanfordOnlineProducts({ root: sop, ...small, onWarning: (w) => warnings.push(w) });
  if (how === 'load') {
    const t = await train.load(indices);
    const values = t.dataSync();
    t.dispose();
    const stride = 8 * 8 * 3;
    const zeroRows = indices.map((_, r) =>
      values.subarray(r * stride, (r + 1) * stride).every((v) => v === 0),
    );
    return { rows: t.shape[0], zeroRows, summary: train.summary(), warnings };
  }
  const batch = await train.loadBatch(indices);
  batch.images.dispose();
  return {
    rows: batch.images.shape[0],
    indices: Array.from(batch.indices),
    skipped: batch.skipped,
    warnings,
  };
}

const cases: BadInputCase[] = [
  missingRoot('cars196({ root })', () => cars196({ root: missing }), /Cars196/),
  missingRoot('cub200({ root })', () => cub200({ root: missing }), /CUB-200-2011/),
  missingRoot(
    'stanfordOnlineProducts({ root })',
    () => stanfordOnlineProducts({ root: missing }),
    /Stanford Online Products/,
  ),
  missingRoot('inaturalist2018({ root })', () => inaturalist2018({ root: missing }), /iNaturalist 2018/),
  missingRoot('vehicleId({ root })', () => vehicleId({ root: missing }), /VehicleID/),
  missingRoot(
    "revisitedOxfordParis({ root, name: 'roxford5k' })",
    () => revisitedOxfordParis({ root: missing, name: 'roxford5k' }),
    /roxford5k/,
  ),
  missingRoot('imageFolder({ root })', () => imageFolder({ root: missing }), /image folder/),
  {
    entry: 'idxDataset({ images, labels })',
    input: 'a missing file',
    run: () => idxDataset({ images: join(missing, 'images.idx'), labels: join(missing, 'labels.idx') }),
    error: { code: 'DATASET_FILE_MISSING', message: /IDX file not found: .*images\.idx/ },
  },
  {
    entry: 'imageFolder({ root })',
    input: 'a root without class folders',
    run: () => imageFolder({ root: join(root, 'sop-range') }),
    error: { code: 'DATASET_EMPTY', message: /no class folder in .*sop-range/ },
  },
  {
    entry: 'imageFolder({ root, trainClasses })',
    input: 'a zero-byte and a truncated PNG in training classes',
    run: () => readFolder({ trainClasses: ['ant', 'bee', 'eel'] }),
    defined: (r) => {
      const { train, warnings } = r as Folder;
      expect(train.skipped.map((s) => s.path)).toEqual([
        join(folder, 'ant', 'zero.png'),
        join(folder, 'bee', 'cut.png'),
      ]);
      expect(train.length).toBe(7);
      expect(warnings[0]).toMatch(/left out 2 unreadable image\(s\) of 9/);
      // The truncated file's reason is libvips' message, which differs between builds (the PNG
      // decoder's read error, or its failOn warning): the table names it, not its words.
      const [empty, cut] = train.skipped.map((s) => s.reason);
      expect(cut).toMatch(/png|failOn/i);
      return `left out of the dataset (in neither training nor evaluation) and listed in dataset.skipped with their reasons ('${empty}', and libvips' decode error for the truncated one); one warning names them`;
    },
  },
  {
    entry: 'imageFolder({ root, trainClasses })',
    input: 'a training class with a single image',
    run: () => readFolder({ trainClasses: ['ant', 'bee', 'eel'] }),
    defined: (r) => {
      const { train, warnings } = r as Folder;
      expect(train.classIds).toContain('eel');
      expect(warnings[1]).toMatch(
        /1 class folder\(s\) have a single image, so no positive pair to train on: .*eel/,
      );
      return `kept, with the warning "${warnings[1]!.split(':')[0]}: ... have a single image, so no positive pair to train on: <folder>"`;
    },
  },
  {
    entry: 'imageFolder({ root, trainClasses })',
    input: 'a test class with a single image',
    run: () => readFolder({ trainClasses: ['ant', 'bee', 'eel'] }),
    defined: (r) => {
      const { test, warnings } = r as Folder;
      expect(test.classIds).toContain('fox');
      expect(warnings.filter((w) => /fox/.test(w))).toEqual([]);
      return 'kept without a warning: a distractor in the gallery, its own query has no positive';
    },
  },
  {
    entry: "imageFolder({ root, onBadImage: 'fail' })",
    input: 'a zero-byte PNG',
    run: () => readFolder({ trainClasses: ['ant', 'bee', 'eel'], onBadImage: 'fail' }),
    error: { code: 'IMAGE_UNREADABLE', message: /cannot decode .*ant\/zero\.png: empty file \(0 bytes\)/ },
  },
  {
    entry: 'stanfordOnlineProducts({ root }).train.load(indices)',
    input: 'a zero-byte, a truncated and a missing JPEG',
    run: () => loadSop('load', [3, 4, 5, 0]),
    defined: (r) => {
      const { rows, zeroRows, summary, warnings } = r as Awaited<ReturnType<typeof loadSop>> & {
        zeroRows: boolean[];
        summary: { skipped: number };
      };
      expect(rows).toBe(4);
      expect(zeroRows).toEqual([true, true, true, false]);
      expect(summary.skipped).toBe(3);
      expect(warnings).toHaveLength(3);
      return 'one row per index (labels[indices] stay aligned): each bad image is a row of zeros, counted in summary().skipped and warned about once per file; readers of benchmark layouts do not decode up front (imageFolder does), so training should use loadBatch';
    },
  },
  {
    entry: 'stanfordOnlineProducts({ root }).train.loadBatch(indices)',
    input: 'a zero-byte, a truncated and a missing JPEG',
    run: () => loadSop('loadBatch', [3, 4, 5, 0]),
    defined: (r) => {
      const { rows, indices, skipped } = r as {
        rows: number;
        indices: number[];
        skipped: { reason: string }[];
      };
      expect([rows, indices]).toEqual([1, [0]]);
      expect(skipped).toHaveLength(3);
      return `dropped from the batch, which returns the indices and labels it kept; batch.skipped gives each file and reason (${skipped
        .map((s) => `'${s.reason.replace(/:.*/, '')}'`)
        .join(', ')})`;
    },
  },
  {
    entry: 'stanfordOnlineProducts({ root })',
    input: 'a training class with a single image',
    run: () => stanfordOnlineProducts({ root: sop }).train,
    defined: (r) => {
      expect((r as ImageDataset).numClasses).toBe(2);
      return 'kept: the samplers leave it out (rskSampler warns), the losses count its query as having no positive';
    },
  },
  {
    entry: 'stanfordOnlineProducts({ root })',
    input: "class_id 'x' on a list line",
    run: () => stanfordOnlineProducts({ root: join(root, 'sop-bad-class') }),
    error: {
      code: 'INVALID_DATASET_LIST',
      message: /Ebay_train\.txt:2: class_id must be an integer, got 'x'/,
    },
  },
  {
    entry: 'stanfordOnlineProducts({ root })',
    input: 'a test class in the training list',
    run: () => stanfordOnlineProducts({ root: join(root, 'sop-range') }),
    error: { code: 'LABEL_OUT_OF_RANGE', message: /Ebay_train\.txt:2: class_id 11319 is outside 1\.\.11318/ },
  },
  {
    entry: 'new ImageDataset(name, files, labels, classIds)',
    input: '1 file for 2 labels',
    run: () => new ImageDataset('x', ['a.jpg'], new Int32Array(2), ['a']),
    error: { code: 'DATASET_SHAPE', message: /x: 1 files for 2 labels/ },
  },
  {
    entry: 'new ImageDataset(..., { pipeline: { size: 224, resize: 200 } })',
    input: 'a resize below the crop',
    run: () => new ImageDataset('x', [], new Int32Array(0), [], { pipeline: { size: 224, resize: 200 } }),
    error: { code: 'INVALID_OPTION', message: /need integers resize \(200\) >= size \(224\)/ },
  },
  {
    entry: 'imageDataset.load(indices)',
    input: 'index 5 of a dataset of 1',
    run: () => new ImageDataset('x', [join(sop, 'a', '1.jpg')], new Int32Array(1), ['a']).load([0, 5]),
    error: { code: 'INDEX_OUT_OF_RANGE', message: /sample index 5 \(position 1\) is outside 0\.\.0/ },
  },
  {
    entry: 'imageDataset.load(indices)',
    input: 'index 0.5',
    run: () => new ImageDataset('x', [join(sop, 'a', '1.jpg')], new Int32Array(1), ['a']).load([0.5]),
    error: { code: 'INDEX_OUT_OF_RANGE', message: /sample index 0\.5 \(position 0\) is not an integer/ },
  },
  {
    entry: 'rskSampler({ labels, classesPerBatch: 2, samplesPerClass: 2, seed })',
    input: 'a class with a single image',
    run: () => {
      const warnings: string[] = [];
      const s = rskSampler({
        labels: [0, 0, 1, 2, 2],
        classesPerBatch: 2,
        samplesPerClass: 2,
        seed: 1,
        onWarning: (w) => warnings.push(w),
      });
      return { batches: s.batches(0).map((b) => Array.from(b)), warnings };
    },
    defined: (r) => {
      const { batches, warnings } = r as { batches: number[][]; warnings: string[] };
      expect(batches.flat()).not.toContain(2);
      expect(warnings).toEqual(['rskSampler: 1 class(es) with fewer than 2 images are skipped (labels 1)']);
      return `never sampled, warned once: "${warnings[0]}"`;
    },
  },
  {
    entry: 'mPerClassSampler({ labels, classesPerBatch: 3, samplesPerClass: 2, seed })',
    input: 'a class with a single image',
    run: () =>
      mPerClassSampler({
        labels: [0, 0, 1, 2, 2],
        classesPerBatch: 3,
        samplesPerClass: 2,
        seed: 1,
        lengthBeforeNewIter: 6,
      }).batches(0),
    defined: (r) => {
      const batch = Array.from((r as Int32Array[])[0]!);
      expect(batch.filter((i) => i === 2)).toHaveLength(2);
      return "drawn with replacement, as pytorch-metric-learning's MPerClassSampler: its image twice in the batch";
    },
  },
  {
    entry: 'rskSampler({ labels, ... })',
    input: 'label 1.5 at index 2',
    run: () => rskSampler({ labels: [0, 0, 1.5, 1.5], classesPerBatch: 2, samplesPerClass: 2, seed: 1 }),
    error: { code: 'INVALID_OPTION', message: /labels\[2\] = 1\.5 is not an integer/ },
  },
  {
    entry: 'rskSampler({ labels, classesPerBatch: 3, samplesPerClass: 2, seed })',
    input: 'fewer classes than a batch needs',
    run: () => rskSampler({ labels: [0, 0, 1, 1], classesPerBatch: 3, samplesPerClass: 2, seed: 1 }),
    error: {
      code: 'SAMPLER_TOO_FEW_CLASSES',
      message: /3 classes per batch requested, but only 2 classes have at least 2 images/,
    },
  },
  {
    entry: 'readIdx(path)',
    input: 'a truncated file',
    run: () => readIdx(join(root, 'cut.idx')),
    error: {
      code: 'IDX_CORRUPT',
      message: /cut\.idx: 19 bytes, expected 7856 for uint8 \[10, 28, 28\] \(truncated\)/,
    },
  },
  {
    entry: 'readIdx(path)',
    input: 'a zero-byte file',
    run: () => readIdx(join(root, 'zero.idx')),
    error: { code: 'IDX_CORRUPT', message: /zero\.idx: not an IDX file/ },
  },
  {
    entry: 'readMat(path)',
    input: 'a truncated file',
    run: () => readMat(join(root, 'cut.mat')),
    error: {
      code: 'MAT_CORRUPT',
      message: /cut\.mat: element at byte \d+ runs past the end \(truncated file\)/,
    },
  },
  {
    entry: 'readMat(path)',
    input: 'a zero-byte file',
    run: () => readMat(join(root, 'zero.mat')),
    error: { code: 'MAT_CORRUPT', message: /zero\.mat: shorter than the 128-byte MAT header/ },
  },
];

badInputSuite('@recallkit/datasets', cases, (text) => text.replaceAll(root, '<root>'));
