/**
 * Revisited Oxford 5k and Paris 6k (Radenovic et al., CVPR 2018) in the official layout that
 * revisitop's download script leaves:
 *
 *   <root>/gnd_<name>.pkl    imlist, qimlist and per query gnd { bbx, easy, hard, junk }
 *   <root>/jpg/<image>.jpg   database and query images
 *
 * The database is `imlist`; the queries are `qimlist`, each cropped to its bounding box before any
 * other processing, as the protocol requires (revisitop's example_process_images.py).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import { Parser } from 'pickleparser';
import sharp from 'sharp';
import { type AugmentContext, checkIndices, type Dataset } from '../dataset';
import { type Box, pyRound } from '../image/geometry';
import { decodeInto, type PipelineOptions, pipelineSize } from '../image/pipeline';
import { ImageDataset, type ImageDatasetOptions } from '../image-dataset';
import { requirePath } from './layout';

/** One query's ground truth: its box [x1, y1, x2, y2] and 0-based indices into `imlist`. */
export interface RevisitedQueryTruth {
  bbx: [number, number, number, number];
  easy: number[];
  hard: number[];
  junk: number[];
}

/** The content of gnd_roxford5k.pkl / gnd_rparis6k.pkl (image names without '.jpg'). */
export interface RevisitedGroundTruth {
  imlist: string[];
  qimlist: string[];
  gnd: RevisitedQueryTruth[];
}

const CONVERT = `python3 -c "import pickle, json, sys; json.dump(pickle.load(open(sys.argv[1], 'rb')), open(sys.argv[2], 'w'), default=lambda o: o.tolist())" gnd.pkl gnd.json`;

function bad(file: string, why: string): RecallkitError {
  return new RecallkitError('INVALID_DATASET_LIST', `${file}: ${why}`, { path: file });
}

function names(value: unknown, what: string, file: string): string[] {
  if (!Array.isArray(value)) throw bad(file, `'${what}' must be a list of image names`);
  return value.map((v, i) => {
    const name = v instanceof Uint8Array ? new TextDecoder().decode(v) : v;
    if (typeof name !== 'string' || name === '') {
      throw bad(file, `${what}[${i}] is not an image name`);
    }
    return name;
  });
}

function indices(value: unknown, what: string, file: string, size: number): number[] {
  if (!Array.isArray(value)) {
    throw bad(
      file,
      `${what} must be a list of integers (a NumPy array? convert the file to JSON: ${CONVERT})`,
    );
  }
  return value.map((v, j) => {
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= size) {
      throw bad(file, `${what}[${j}] = ${String(v)} is not an index into imlist (0..${size - 1})`);
    }
    return n;
  });
}

/**
 * Checks that `value` has the shape of an official ground-truth file and returns it with plain
 * arrays: `imlist` and `qimlist` names, and per query `bbx` and the `easy`, `hard`, `junk` lists.
 */
export function parseRevisitedGroundTruth(value: unknown, file = 'ground truth'): RevisitedGroundTruth {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw bad(file, 'expected a dict with imlist, qimlist and gnd');
  }
  const v = value as Record<string, unknown>;
  const imlist = names(v.imlist, 'imlist', file);
  const qimlist = names(v.qimlist, 'qimlist', file);
  if (!Array.isArray(v.gnd) || v.gnd.length !== qimlist.length) {
    throw bad(
      file,
      `'gnd' must be a list with one entry per query (${qimlist.length}), got ${Array.isArray(v.gnd) ? v.gnd.length : typeof v.gnd}`,
    );
  }
  const gnd = v.gnd.map((q: unknown, i: number): RevisitedQueryTruth => {
    if (q === null || typeof q !== 'object') throw bad(file, `gnd[${i}] must be a dict`);
    const g = q as Record<string, unknown>;
    const bbx = g.bbx;
    if (
      !Array.isArray(bbx) ||
      bbx.length !== 4 ||
      !bbx.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw bad(file, `gnd[${i}].bbx must be [x1, y1, x2, y2]`);
    }
    return {
      bbx: bbx as [number, number, number, number],
      easy: indices(g.easy, `gnd[${i}].easy`, file, imlist.length),
      hard: indices(g.hard, `gnd[${i}].hard`, file, imlist.length),
      junk: indices(g.junk, `gnd[${i}].junk`, file, imlist.length),
    };
  });
  return { imlist, qimlist, gnd };
}

/**
 * Reads a ground-truth file: the official pickle (`.pkl`, any protocol, read without Python) or a
 * JSON file of the same shape (`.json`).
 */
export function readRevisitedGroundTruth(file: string): RevisitedGroundTruth {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new RecallkitError('DATASET_FILE_MISSING', `cannot read ${file}: ${(error as Error).message}`, {
      path: file,
    });
  }
  let value: unknown;
  if (extname(file).toLowerCase() === '.json') {
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw bad(file, `not valid JSON: ${(error as Error).message}`);
    }
  } else {
    try {
      value = new Parser().parse(bytes);
    } catch (error) {
      throw bad(file, `not a readable pickle: ${(error as Error).message}`);
    }
  }
  return parseRevisitedGroundTruth(value, file);
}

/**
 * The pixel box of a query: `bbx` rounded as PIL's `Image.crop` does (Python's round, halves to
 * even), right and bottom exclusive, clamped to the image as revisitop's MATLAB crop_qim does.
 */
export function revisitedCropBox(bbx: readonly number[], width: number, height: number): Box {
  const [x1, y1, x2, y2] = bbx.map(pyRound) as [number, number, number, number];
  const left = Math.max(0, Math.min(width, x1));
  const top = Math.max(0, Math.min(height, y1));
  const right = Math.max(0, Math.min(width, x2));
  const bottom = Math.max(0, Math.min(height, y2));
  if (right <= left || bottom <= top) {
    throw new RecallkitError(
      'INVALID_DATASET_BOX',
      `box [${bbx.join(', ')}] holds no pixel of a ${width} x ${height} image`,
    );
  }
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * Query images, each cropped to its box and then put through the package's image pipeline
 * (`decodeInto`: Resize + CenterCrop, or the training augmentation with `augment`). A query
 * that cannot be read fails the load: the protocol has no query to spare.
 */
export class CroppedImageDataset implements Dataset {
  readonly length: number;
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly sampleShape: number[];
  private readonly pipeline: PipelineOptions;

  constructor(
    readonly name: string,
    readonly files: readonly string[],
    readonly boxes: readonly (readonly number[])[],
    options: { pipeline?: PipelineOptions } = {},
  ) {
    if (files.length !== boxes.length) {
      throw new RecallkitError('DATASET_SHAPE', `${name}: ${files.length} files for ${boxes.length} boxes`);
    }
    this.length = files.length;
    this.labels = Int32Array.from({ length: files.length }, (_, i) => i);
    this.numClasses = files.length;
    this.pipeline = options.pipeline ?? {};
    const size = pipelineSize(name, this.pipeline);
    this.sampleShape = [size, size, 3];
  }

  /** The cropped query, losslessly re-encoded (PNG) for the pipeline. */
  async crop(index: number): Promise<Buffer> {
    const file = this.files[index]!;
    try {
      const input = await readFile(file);
      const meta = await sharp(input, { failOn: 'warning' }).metadata();
      if (!meta.width || !meta.height) throw new Error('image has no size');
      const box = revisitedCropBox(this.boxes[index]!, meta.width, meta.height);
      return await sharp(input, { failOn: 'warning' }).extract(box).png({ compressionLevel: 0 }).toBuffer();
    } catch (error) {
      if (error instanceof RecallkitError) throw error;
      throw new RecallkitError(
        'IMAGE_UNREADABLE',
        `${this.name}: cannot decode ${file}: ${(error as Error).message}`,
        {
          index,
          path: file,
        },
      );
    }
  }

  async load(indices: ArrayLike<number>, augment?: AugmentContext): Promise<tf.Tensor4D> {
    checkIndices(this.name, this.length, indices);
    const [size] = this.sampleShape as [number];
    const stride = size * size * 3;
    const out = new Float32Array(indices.length * stride);
    for (let row = 0; row < indices.length; row++) {
      const index = indices[row]!;
      await decodeInto(await this.crop(index), index, augment, out, row * stride, this.pipeline);
    }
    return tf.tensor4d(out, [indices.length, size, size, 3]);
  }
}

export interface RevisitedOptions extends ImageDatasetOptions {
  /** Folder holding gnd_<name>.pkl and jpg/. */
  root: string;
  /** 'roxford5k', 'rparis6k', or the name in another gnd_<name>.pkl. */
  name: string;
}

/**
 * The revisited protocol's data: `database` (imlist, each image its own label), `queries` (qimlist,
 * cropped to their boxes, each its own label) and the `groundTruth` for
 * `@recallkit/evaluator`'s `evaluateRevisited`.
 */
export function revisitedOxfordParis(options: RevisitedOptions): {
  database: ImageDataset;
  queries: CroppedImageDataset;
  groundTruth: RevisitedGroundTruth;
} {
  const { root, name } = options;
  const layout = `  <root>/gnd_${name}.pkl (or gnd_${name}.json)   imlist, qimlist, gnd [{ bbx, easy, hard, junk }]
  <root>/jpg/<image>.jpg                        every name of imlist and qimlist`;
  requirePath(root, name, layout, 'folder');
  requirePath(join(root, 'jpg'), name, layout, 'folder');
  const pkl = join(root, `gnd_${name}.pkl`);
  const json = join(root, `gnd_${name}.json`);
  let file = pkl;
  try {
    requirePath(pkl, name, layout);
  } catch (error) {
    try {
      requirePath(json, name, layout);
      file = json;
    } catch {
      throw error;
    }
  }
  const groundTruth = readRevisitedGroundTruth(file);
  const image = (n: string) => join(root, 'jpg', `${n}.jpg`);
  for (const n of [...groundTruth.imlist, ...groundTruth.qimlist]) requirePath(image(n), name, layout);
  const database = new ImageDataset(
    `${name}-database`,
    groundTruth.imlist.map(image),
    Int32Array.from(groundTruth.imlist, (_, i) => i),
    groundTruth.imlist,
    options,
  );
  const queries = new CroppedImageDataset(
    `${name}-queries`,
    groundTruth.qimlist.map(image),
    groundTruth.gnd.map((g) => g.bbx),
    options.pipeline === undefined ? {} : { pipeline: options.pipeline },
  );
  return { database, queries, groundTruth };
}
