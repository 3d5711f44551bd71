import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../src/image-dataset';
import { cars196 } from '../src/readers/cars196';
import { cub200 } from '../src/readers/cub';
import { inaturalist2018 } from '../src/readers/inaturalist';
import { stanfordOnlineProducts } from '../src/readers/sop';
import { vehicleId } from '../src/readers/vehicleid';
import { tempRoot, writeImage, writeText } from './helpers';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const small = { pipeline: { size: 32, resize: 36 } };
const rel = (root: string, d: ImageDataset) => d.files.map((f) => f.slice(root.length + 1));

/** Decodes every image of a split once (evaluation transform) and checks nothing was skipped. */
async function loadsAll(d: ImageDataset): Promise<void> {
  const batch = await d.loadBatch(Array.from(d.labels.keys()), { seed: 1, epoch: 0 });
  expect(batch.images.shape).toEqual([d.length, 32, 32, 3]);
  expect(batch.skipped).toEqual([]);
  batch.images.dispose();
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('CUB-200-2011', () => {
  const root = tempRoot('cub');
  const images = [
    '001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg',
    '001.Black_footed_Albatross/Black_Footed_Albatross_0002_55.jpg',
    '002.Laysan_Albatross/Laysan_Albatross_0001_545.jpg',
    '101.White_Pelican/White_Pelican_0001_97.jpg',
    '200.Common_Yellowthroat/Common_Yellowthroat_0003_190521.jpg',
  ];
  beforeAll(async () => {
    writeText(join(root, 'images.txt'), `${images.map((p, i) => `${i + 1} ${p}`).join('\n')}\n`);
    for (const [i, p] of images.entries()) await writeImage(join(root, 'images', p), 50, 40, i);
  });

  it('splits classes 1-100 / 101-200 from images.txt', async () => {
    const { train, test } = cub200({ root, ...small });
    expect(rel(root, train)).toEqual(images.slice(0, 3).map((p) => `images/${p}`));
    expect(Array.from(train.labels)).toEqual([0, 0, 1]);
    expect(train.classIds).toEqual([1, 2]);
    expect(test.classIds).toEqual([101, 200]);
    expect(Array.from(test.labels)).toEqual([0, 1]);
    await loadsAll(train);
    await loadsAll(test);
  });

  it('names a missing list file and the layout, and a class out of range with file and line', () => {
    expect(() => cub200({ root: join(root, 'nope') })).toThrow(
      /folder not found: .*nope\nExpected layout:\n.*images.txt/,
    );
    const bad = tempRoot('cub-bad');
    expect(() => cub200({ root: bad })).toThrow(/file not found: .*images.txt/);
    writeText(join(bad, 'images.txt'), '1 001.A/a.jpg\n\n3 201.Z/z.jpg\n');
    writeText(join(bad, 'images', 'x'), '');
    expect(() => cub200({ root: bad })).toThrow(/images.txt:3: class 201 is outside 1..200/);
  });
});

describe('Cars196', () => {
  const root = tempRoot('cars');
  beforeAll(async () => {
    for (let i = 1; i <= 7; i++)
      await writeImage(join(root, 'car_ims', `${String(i).padStart(6, '0')}.jpg`), 60, 40, i);
  });

  for (const file of ['cars_annos.mat', 'cars_annos_v6.mat']) {
    it(`reads ${file} (made by SciPy) and splits classes 1-98 / 99-196`, async () => {
      copyFileSync(join(fixtures, 'cars196', file), join(root, 'cars_annos.mat'));
      const { train, test } = cars196({ root, ...small });
      expect(rel(root, train)).toEqual([1, 2, 3, 4].map((i) => `car_ims/00000${i}.jpg`));
      expect(Array.from(train.labels)).toEqual([0, 0, 1, 1]);
      expect(train.classIds).toEqual([1, 2]);
      expect(rel(root, test)).toEqual([5, 6, 7].map((i) => `car_ims/00000${i}.jpg`));
      expect(test.classIds).toEqual([99, 100]);
      await loadsAll(test);
    });
  }

  it('reports a class out of range with the file and record, and a missing file with the layout', () => {
    copyFileSync(join(fixtures, 'cars196', 'cars_annos_bad_class.mat'), join(root, 'cars_annos.mat'));
    expect(() => cars196({ root })).toThrow(/cars_annos.mat: annotations\(3\): class 197 is outside 1..196/);
    rmSync(join(root, 'cars_annos.mat'));
    expect(() => cars196({ root })).toThrow(/file not found: .*cars_annos.mat\nExpected layout/);
  });
});

describe('Stanford Online Products', () => {
  const root = tempRoot('sop');
  const header = 'image_id class_id super_class_id path\n';
  beforeAll(async () => {
    writeText(
      join(root, 'Ebay_train.txt'),
      `${header}1 1 1 bicycle_final/111085122871_0.JPG\n2 1 1 bicycle_final/111085122871_1.JPG\n3 2 1 bicycle_final/111265328556_0.JPG\n`,
    );
    writeText(
      join(root, 'Ebay_test.txt'),
      `${header}1 11319 1 chair_final/1_0.JPG\n2 22634 12 toaster_final/9_0.JPG\n`,
    );
    for (const p of [
      'bicycle_final/111085122871_0.JPG',
      'bicycle_final/111085122871_1.JPG',
      'bicycle_final/111265328556_0.JPG',
      'chair_final/1_0.JPG',
      'toaster_final/9_0.JPG',
    ]) {
      await writeImage(join(root, p), 45, 45, p.length);
    }
  });

  it('reads Ebay_train.txt / Ebay_test.txt', async () => {
    const { train, test } = stanfordOnlineProducts({ root, ...small });
    expect(Array.from(train.labels)).toEqual([0, 0, 1]);
    expect(train.classIds).toEqual([1, 2]);
    expect(rel(root, test)).toEqual(['chair_final/1_0.JPG', 'toaster_final/9_0.JPG']);
    expect(test.classIds).toEqual([11319, 22634]);
    await loadsAll(train);
  });

  it('reports a train class in the test list with file and line, and a malformed line', () => {
    const bad = tempRoot('sop-bad');
    writeText(join(bad, 'Ebay_train.txt'), `${header}1 1 1 a/b.JPG\n`);
    writeText(join(bad, 'Ebay_test.txt'), `${header}1 11319 1 a/c.JPG\n2 5 1 a/d.JPG\n`);
    expect(() => stanfordOnlineProducts({ root: bad })).toThrow(
      /Ebay_test.txt:3: class_id 5 is outside 11319..22634/,
    );
    writeText(join(bad, 'Ebay_test.txt'), `${header}1 x 1 a/c.JPG\n`);
    expect(() => stanfordOnlineProducts({ root: bad })).toThrow(
      /Ebay_test.txt:2: class_id must be an integer, got 'x'/,
    );
    rmSync(join(bad, 'Ebay_test.txt'));
    expect(() => stanfordOnlineProducts({ root: bad })).toThrow(
      /file not found: .*Ebay_test.txt\nExpected layout/,
    );
  });
});

describe('iNaturalist 2018 (Brown et al. split)', () => {
  const root = tempRoot('inat');
  const train = [
    'train_val2018/Aves/2761/a1.jpg',
    'train_val2018/Plantae/6012/p1.jpg',
    'train_val2018/Aves/2761/a2.jpg',
  ];
  const test = ['train_val2018/Insecta/1100/i1.jpg', 'train_val2018/Insecta/1101/i2.jpg'];
  beforeAll(async () => {
    writeText(join(root, 'Inat_dataset_splits', 'Inaturalist_train_set1.txt'), `${train.join('\n')}\n`);
    writeText(join(root, 'Inat_dataset_splits', 'Inaturalist_test_set1.txt'), `${test.join('\r\n')}\r\n`);
    for (const [i, p] of [...train, ...test].entries()) await writeImage(join(root, p), 40, 50, i);
  });

  it('reads the split files; the class is <super-category>/<category>', async () => {
    const d = inaturalist2018({ root, ...small });
    expect(rel(root, d.train)).toEqual(train);
    expect(d.train.classIds).toEqual(['Aves/2761', 'Plantae/6012']);
    expect(Array.from(d.train.labels)).toEqual([0, 1, 0]);
    expect(d.test.classIds).toEqual(['Insecta/1100', 'Insecta/1101']);
    await loadsAll(d.test);
  });

  it('reports a malformed line and a missing split file', () => {
    const bad = tempRoot('inat-bad');
    writeText(join(bad, 'Inat_dataset_splits', 'Inaturalist_train_set1.txt'), 'a/b/c.jpg\nnoslash.jpg\n');
    expect(() => inaturalist2018({ root: bad })).toThrow(/Inaturalist_train_set1.txt:2: expected/);
    expect(() => inaturalist2018({ root: tempRoot('inat-none') })).toThrow(
      /file not found: .*Inaturalist_train_set1.txt/,
    );
  });
});

describe('VehicleID', () => {
  const root = tempRoot('vid');
  beforeAll(async () => {
    writeText(join(root, 'train_test_split', 'train_list.txt'), '0000001 7\n0000002 7\n0000003 12\n');
    writeText(join(root, 'train_test_split', 'test_list_800.txt'), '0000004 40\n0000005 33\n');
    writeText(join(root, 'train_test_split', 'test_list_1600.txt'), '0000004 40\n0000005 33\n0000006 33\n');
    for (let i = 1; i <= 6; i++) await writeImage(join(root, 'image', `000000${i}.jpg`), 50, 40, i);
  });

  it('reads train_list.txt and the chosen test list; labels follow sorted vehicle ids', async () => {
    const { train, test } = vehicleId({ root, ...small });
    expect(rel(root, train)).toEqual(['image/0000001.jpg', 'image/0000002.jpg', 'image/0000003.jpg']);
    expect(Array.from(train.labels)).toEqual([0, 0, 1]);
    expect(Array.from(test.labels)).toEqual([1, 0]);
    expect(test.classIds).toEqual([33, 40]);
    const big = vehicleId({ root, testSize: 1600, ...small }).test;
    expect(big.length).toBe(3);
    await loadsAll(big);
  });

  it('names the missing list and reports malformed lines with file and line', () => {
    expect(() => vehicleId({ root, testSize: 2400 })).toThrow(
      /file not found: .*test_list_2400.txt\nExpected layout/,
    );
    const bad = tempRoot('vid-bad');
    writeText(join(bad, 'train_test_split', 'train_list.txt'), '0000001 7\n0000002\n');
    expect(() => vehicleId({ root: bad })).toThrow(/train_list.txt:2: vehicle id must be an integer/);
  });
});
