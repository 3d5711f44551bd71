import { RecallkitError, tf } from '@recallkit/core';

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
    if (!Number.isInteger(v) || v < 0 || v >= length) {
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
 * A dataset held in memory as uint8 pixels (MNIST and friends), normalised on load as
 * (x / 255 - mean) / std. It has no augmentation: `augment` is accepted and ignored.
 */
export class PixelDataset implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  private readonly sampleSize: number;

  constructor(
    readonly name: string,
    /** Row-major pixels, `length * prod(sampleShape)` bytes. */
    readonly pixels: Uint8Array,
    readonly labels: Int32Array,
    /** Raw class id of each label. */
    readonly classIds: readonly number[],
    readonly sampleShape: number[],
    readonly mean: number,
    readonly std: number,
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
  }

  async load(indices: ArrayLike<number>, _augment?: AugmentContext): Promise<tf.Tensor4D> {
    return this.loadSync(indices);
  }

  /** Synchronous `load`. */
  loadSync(indices: ArrayLike<number>): tf.Tensor4D {
    checkIndices(this.name, this.length, indices);
    const n = this.sampleSize;
    const out = new Float32Array(indices.length * n);
    // One value per byte, computed as the reference does: (x / 255 - mean) / std.
    const lut = Float32Array.from({ length: 256 }, (_, v) => (v / 255 - this.mean) / this.std);
    for (let r = 0; r < indices.length; r++) {
      const src = indices[r]! * n;
      const dst = r * n;
      for (let j = 0; j < n; j++) out[dst + j] = lut[this.pixels[src + j]!]!;
    }
    return tf.tensor4d(out, [indices.length, ...this.sampleShape] as [number, number, number, number]);
  }
}
