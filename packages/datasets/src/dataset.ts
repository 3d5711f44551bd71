import { RecallkitError, tf } from '@recallkit/core';
import { keyedRng } from './rng';

/** The random context of one load: every random choice derives from (seed, epoch, sample index). */
export interface AugmentContext {
  seed: number;
  epoch: number;
}

/** A labelled collection of samples, loaded as normalised float32 NHWC batches. */
export interface Dataset {
  readonly name: string;
  readonly length: number;
  /** One label per sample, 0..numClasses-1 (remapped, contiguous). */
  readonly labels: Int32Array;
  readonly numClasses: number;
  /** Shape of one sample, NHWC without N, e.g. [28, 28, 1]. */
  readonly sampleShape: number[];
  /** Images as float32 NHWC, normalised; `augment` decides every random choice from (seed, epoch, index). */
  load(indices: ArrayLike<number>, augment?: AugmentContext): Promise<tf.Tensor4D>;
}

/** Splits an epoch into batches of dataset indices. */
export interface BatchSampler {
  readonly batchSize: number;
  /** The epoch's batches of dataset indices, a pure function of (seed, epoch). */
  batches(epoch: number): Int32Array[];
}

/** Throws unless every index is an integer in [0, length). */
export function checkIndices(name: string, length: number, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i]!;
    if (!Number.isInteger(v)) {
      throw new RecallkitError(
        'INDEX_OUT_OF_RANGE',
        `${name}: sample index ${v} (position ${i}) is not an integer`,
      );
    }
    if (v < 0 || v >= length) {
      throw new RecallkitError(
        'INDEX_OUT_OF_RANGE',
        `${name}: sample index ${v} (position ${i}) is outside 0..${length - 1}`,
      );
    }
  }
}

/**
 * Maps raw class ids to contiguous labels 0..C-1 in the given class order (default: ascending ids).
 * Returns the labels and, per label, the raw id it came from.
 */
export function remapLabels<T extends number | string>(
  raw: readonly T[],
  order?: readonly T[],
): { labels: Int32Array; classIds: T[] } {
  const classIds =
    order !== undefined
      ? [...order]
      : [...new Set(raw)].sort((a, b) =>
          typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : 1,
        );
  const toLabel = new Map(classIds.map((c, i) => [c, i]));
  const labels = Int32Array.from(raw, (c) => {
    const label = toLabel.get(c);
    if (label === undefined)
      throw new RecallkitError('LABEL_UNKNOWN', `class ${String(c)} is not in the class list`);
    return label;
  });
  return { labels, classIds };
}

/**
 * The augmentation of an image dataset's training loads (`load(indices, { seed, epoch })`):
 * - 'random-resized-crop': torchvision's RandomResizedCrop to `size` + horizontal flip (the RS@k
 *   authors' training transform; ImageDataset's default);
 * - 'translate': the evaluation image shifted by up to `maxShift` px in x and y, the uncovered
 *   border filled (white by default), no flip (the emoji protocol's; EmojiDataset's default);
 * - 'none': training loads equal evaluation loads.
 */
export type Augmentation = 'random-resized-crop' | 'translate' | 'none';

export interface TranslateOptions {
  /** Largest shift in pixels along each axis; each shift is uniform in -maxShift..maxShift. Default 2. */
  maxShift?: number;
  /** Pixel value 0-255 of the uncovered border, before normalisation; default 255 (white). */
  fill?: number;
}

/** A translation: output pixel (x, y) is input pixel (x - dx, y - dy), or the fill where that is outside. */
export interface Translation {
  dx: number;
  dy: number;
}

/**
 * The shift of sample `index` under `augment`: dx then dy, each uniform in -maxShift..maxShift,
 * drawn from keyedRng(seed, 'augment', epoch, index), so any sample of any epoch can be recomputed.
 */
export function planTranslation(index: number, augment: AugmentContext, maxShift = 2): Translation {
  const rng = keyedRng(augment.seed, 'augment', augment.epoch, index);
  const dx = rng.int(2 * maxShift + 1) - maxShift;
  const dy = rng.int(2 * maxShift + 1) - maxShift;
  return { dx, dy };
}

/** Checks translate options and fills in the defaults. */
function translateDefaults(name: string, options: TranslateOptions = {}): Required<TranslateOptions> {
  const maxShift = options.maxShift ?? 2;
  const fill = options.fill ?? 255;
  if (!Number.isInteger(maxShift) || maxShift < 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${name}: translate.maxShift must be an integer >= 0, got ${maxShift}`,
    );
  }
  if (!Number.isInteger(fill) || fill < 0 || fill > 255) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${name}: translate.fill must be an integer 0-255, got ${fill}`,
    );
  }
  return { maxShift, fill };
}

/**
 * Writes one HWC image of `lut`-mapped bytes shifted by (dx, dy) into `out` at `offset`; the
 * uncovered border gets `lut[fill]`.
 */
export function translateInto(
  src: Uint8Array,
  srcOffset: number,
  height: number,
  width: number,
  channels: number,
  shift: Translation,
  fill: number,
  lut: Float32Array,
  out: Float32Array,
  offset: number,
): void {
  const border = lut[fill]!;
  const { dx, dy } = shift;
  for (let y = 0; y < height; y++) {
    const sy = y - dy;
    const row = offset + y * width * channels;
    if (sy < 0 || sy >= height) {
      out.fill(border, row, row + width * channels);
      continue;
    }
    for (let x = 0; x < width; x++) {
      const sx = x - dx;
      const d = row + x * channels;
      if (sx < 0 || sx >= width) {
        for (let c = 0; c < channels; c++) out[d + c] = border;
      } else {
        const s = srcOffset + (sy * width + sx) * channels;
        for (let c = 0; c < channels; c++) out[d + c] = lut[src[s + c]!]!;
      }
    }
  }
}

export interface PixelDatasetOptions {
  /** What `load(indices, { seed, epoch })` does: 'none' (default) or 'translate'. */
  augmentation?: 'translate' | 'none';
  /** Shift and border of the 'translate' augmentation. */
  translate?: TranslateOptions;
}

/**
 * A dataset held in memory as uint8 pixels (MNIST, emoji, ...), normalised on load as
 * (x / 255 - mean) / std. With `augmentation: 'translate'`, a load with an augment context shifts
 * each image by `planTranslation(index, augment, maxShift)`; otherwise `augment` is ignored.
 */
export class PixelDataset<ClassId extends number | string = number> implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly augmentation: 'translate' | 'none';
  readonly translate: Required<TranslateOptions>;
  private readonly sampleSize: number;
  private readonly lut: Float32Array;

  constructor(
    readonly name: string,
    /** Row-major pixels, `length * prod(sampleShape)` bytes. */
    readonly pixels: Uint8Array,
    readonly labels: Int32Array,
    /** Raw class id of each label. */
    readonly classIds: readonly ClassId[],
    readonly sampleShape: number[],
    readonly mean: number,
    readonly std: number,
    options: PixelDatasetOptions = {},
  ) {
    this.length = labels.length;
    this.numClasses = classIds.length;
    this.sampleSize = sampleShape.reduce((a, b) => a * b, 1);
    if (pixels.length !== this.length * this.sampleSize) {
      throw new RecallkitError(
        'DATASET_SHAPE',
        `${name}: ${pixels.length} pixels for ${this.length} samples of shape [${sampleShape.join(', ')}]`,
      );
    }
    this.augmentation = options.augmentation ?? 'none';
    if (this.augmentation !== 'none' && this.augmentation !== 'translate') {
      throw new RecallkitError(
        'INVALID_OPTION',
        `${name}: augmentation must be 'translate' or 'none' for in-memory pixels, got '${String(this.augmentation)}'`,
      );
    }
    if (this.augmentation === 'translate' && sampleShape.length !== 3) {
      throw new RecallkitError('INVALID_OPTION', `${name}: 'translate' needs samples of shape [H, W, C]`);
    }
    this.translate = translateDefaults(name, options.translate);
    // One value per byte, computed as the reference does: (x / 255 - mean) / std.
    this.lut = Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean) / std);
  }

  async load(indices: ArrayLike<number>, augment?: AugmentContext): Promise<tf.Tensor4D> {
    return this.loadSync(indices, augment);
  }

  /** Synchronous `load`. */
  loadSync(indices: ArrayLike<number>, augment?: AugmentContext): tf.Tensor4D {
    checkIndices(this.name, this.length, indices);
    const n = this.sampleSize;
    const out = new Float32Array(indices.length * n);
    const lut = this.lut;
    const shifted = augment !== undefined && this.augmentation === 'translate';
    const [h, w, c] = this.sampleShape as [number, number, number];
    for (let r = 0; r < indices.length; r++) {
      const index = indices[r]!;
      const src = index * n;
      const dst = r * n;
      if (shifted) {
        const shift = planTranslation(index, augment, this.translate.maxShift);
        translateInto(this.pixels, src, h, w, c, shift, this.translate.fill, lut, out, dst);
      } else {
        for (let j = 0; j < n; j++) out[dst + j] = lut[this.pixels[src + j]!]!;
      }
    }
    return tf.tensor4d(out, [indices.length, ...this.sampleShape] as [number, number, number, number]);
  }
}
