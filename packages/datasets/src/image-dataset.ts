import { readFile } from 'node:fs/promises';
import { RecallkitError, tf } from '@recallkit/core';
import sharp from 'sharp';
import { type AugmentContext, checkIndices, type Dataset, remapLabels } from './dataset';
import { decodeInto, type PipelineOptions, pipelineSize } from './image/pipeline';

/** An image that could not be read or decoded. */
export interface BadImage {
  index: number;
  path: string;
  reason: string;
}

/** A file left out of a dataset when it was checked (`withoutBadImages`), and why. */
export interface SkippedImage {
  path: string;
  reason: string;
}

/** Options of `ImageDataset.withoutBadImages`. */
export interface CheckImagesOptions {
  /** Called after each decoded file with the files done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** A loaded batch: the images that decoded, their dataset indices and labels, and the ones skipped. */
export interface LoadedBatch {
  images: tf.Tensor4D;
  indices: Int32Array;
  labels: Int32Array;
  skipped: BadImage[];
}

export interface ImageDatasetOptions {
  /** What to do with an unreadable, corrupt or truncated image: 'skip' (default) drops it from the batch and counts it; 'fail' throws. */
  onBadImage?: 'skip' | 'fail';
  /** Receives one warning per unreadable image in 'skip' mode; default `process.emitWarning`. */
  onWarning?: (message: string) => void;
  /** Images decoded at once (sharp runs them on libuv's thread pool); default 4. */
  concurrency?: number;
  pipeline?: PipelineOptions;
}

/** Counts for a run summary. */
export interface DecodeSummary {
  decoded: number;
  skipped: number;
  /** Each distinct bad image, first failure kept. */
  badImages: BadImage[];
}

/** Runs `fn` over 0..n-1 with at most `limit` calls in flight. */
async function forEachLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** Why `path` cannot be used as an image (unreadable, empty, not an image, corrupt or truncated), or undefined. */
async function imageProblem(path: string): Promise<string | undefined> {
  try {
    const bytes = await readFile(path);
    if (bytes.length === 0) return 'empty file (0 bytes)';
    // The pipeline's decoder settings (failOn 'warning'), decoding every pixel.
    const { info } = await sharp(bytes, { failOn: 'warning' }).raw().toBuffer({ resolveWithObject: true });
    if (!info.width || !info.height) return 'image has no size';
    return undefined;
  } catch (e) {
    const lines = (e as Error).message.split('\n').map((l) => l.trim());
    return lines.filter(Boolean).join('; ') || String(e);
  }
}

/**
 * A dataset of image files with labels, loaded through the sharp pipeline: with `augment`,
 * RandomResizedCrop + flip (each choice from (seed, epoch, index)); without, Resize + CenterCrop.
 */
export class ImageDataset implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly sampleShape: number[];
  private readonly onBadImage: 'skip' | 'fail';
  private readonly concurrency: number;
  private readonly pipeline: PipelineOptions;
  private readonly onWarning: (message: string) => void;
  private readonly bad = new Map<number, BadImage>();
  private decoded = 0;
  private skippedCount = 0;
  private readonly options: ImageDatasetOptions;

  constructor(
    readonly name: string,
    /** Absolute path of each sample's image file. */
    readonly files: readonly string[],
    readonly labels: Int32Array,
    /** Raw class id (or name) of each label. */
    readonly classIds: readonly (number | string)[],
    options: ImageDatasetOptions = {},
    /** Files left out before this dataset was built (see `withoutBadImages`); they have no index. */
    readonly skipped: readonly SkippedImage[] = [],
  ) {
    if (files.length !== labels.length) {
      throw new RecallkitError('DATASET_SHAPE', `${name}: ${files.length} files for ${labels.length} labels`);
    }
    this.length = files.length;
    this.numClasses = classIds.length;
    this.options = options;
    this.onBadImage = options.onBadImage ?? 'skip';
    this.concurrency = options.concurrency ?? 4;
    this.pipeline = options.pipeline ?? {};
    this.onWarning = options.onWarning ?? ((message) => process.emitWarning(message, 'RecallkitWarning'));
    const size = pipelineSize(name, this.pipeline);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RecallkitError('INVALID_OPTION', `${name}: concurrency must be a positive integer`);
    }
    this.sampleShape = [size, size, 3];
  }

  /**
   * Loads images as float32 NHWC, one row per index, so that `labels[indices]` stays aligned. In
   * 'skip' mode a bad image's row is all zeros (the mean image after normalisation), counted in
   * `summary()` and warned about once per file; `loadBatch` (and `prefetchBatches`) drop such rows instead.
   * A dataset from `withoutBadImages()` (as `imageFolder` builds them) has no such rows unless a
   * file changed after it was checked.
   */
  async load(indices: ArrayLike<number>, augment?: AugmentContext): Promise<tf.Tensor4D> {
    return (await this.decode(indices, augment, true)).images;
  }

  /** Loads images with their labels; bad images are skipped (and reported) or thrown, per `onBadImage`. */
  async loadBatch(indices: ArrayLike<number>, augment?: AugmentContext): Promise<LoadedBatch> {
    return this.decode(indices, augment, false);
  }

  private async decode(
    indices: ArrayLike<number>,
    augment: AugmentContext | undefined,
    keepRows: boolean,
  ): Promise<LoadedBatch> {
    checkIndices(this.name, this.length, indices);
    const [size] = this.sampleShape as [number];
    const stride = size * size * 3;
    const out = new Float32Array(indices.length * stride);
    const ok = new Uint8Array(indices.length);
    const skipped: BadImage[] = [];
    await forEachLimit(indices.length, this.concurrency, async (row) => {
      const index = indices[row]!;
      const path = this.files[index]!;
      try {
        await decodeInto(await readFile(path), index, augment, out, row * stride, this.pipeline);
        ok[row] = 1;
      } catch (e) {
        const bad = { index, path, reason: (e as Error).message.split('\n')[0]! };
        if (this.onBadImage === 'fail') {
          throw new RecallkitError('IMAGE_UNREADABLE', `${this.name}: cannot decode ${path}: ${bad.reason}`, {
            ...bad,
          });
        }
        skipped.push(bad);
      }
    });
    this.decoded += indices.length - skipped.length;
    this.skippedCount += skipped.length;
    for (const b of skipped) {
      if (this.bad.has(b.index)) continue;
      this.bad.set(b.index, b);
      this.onWarning(`${this.name}: skipping unreadable image ${b.path} (${b.reason})`);
    }
    skipped.sort((a, b) => a.index - b.index);
    const keep = Array.from(ok.keys()).filter((r) => keepRows || ok[r] === 1);
    const kept = keep.length === indices.length ? out : new Float32Array(keep.length * stride);
    if (kept !== out) {
      for (const [k, r] of keep.entries()) kept.set(out.subarray(r * stride, (r + 1) * stride), k * stride);
    }
    const keptIndices = Int32Array.from(keep, (r) => indices[r]!);
    return {
      images: tf.tensor4d(kept, [keep.length, size, size, 3]),
      indices: keptIndices,
      labels: Int32Array.from(keptIndices, (i) => this.labels[i]!),
      skipped,
    };
  }

  /**
   * Decodes every image once, fully (a truncated file has a valid header: only decoding finds it),
   * and returns this dataset without the files that fail, so that they are in neither training nor
   * evaluation. The result lists them in `skipped` (after any this dataset already had), with one
   * warning naming them; labels are renumbered over the classes that still have an image (order
   * kept), and a class left without any is named in that warning. With `onBadImage: 'fail'` the
   * first bad file (in file order) throws IMAGE_UNREADABLE instead.
   */
  async withoutBadImages(check: CheckImagesOptions = {}): Promise<ImageDataset> {
    const reasons: (string | undefined)[] = new Array(this.length);
    let done = 0;
    await forEachLimit(this.length, this.concurrency, async (i) => {
      reasons[i] = await imageProblem(this.files[i]!);
      check.onProgress?.(++done, this.length);
    });
    const bad = reasons.flatMap((reason, i) => (reason === undefined ? [] : [i]));
    if (bad.length === 0) return this;
    const first = bad[0]!;
    if (this.onBadImage === 'fail') {
      const path = this.files[first]!;
      throw new RecallkitError('IMAGE_UNREADABLE', `${this.name}: cannot decode ${path}: ${reasons[first]}`, {
        index: first,
        path,
        reason: reasons[first],
      });
    }
    const keep = reasons.flatMap((reason, i) => (reason === undefined ? [i] : []));
    const kept = keep.map((i) => this.classIds[this.labels[i]!]!);
    const present = new Set(kept);
    const { labels, classIds } = remapLabels(
      kept,
      this.classIds.filter((c) => present.has(c)),
    );
    const skipped = bad.map((i) => ({ path: this.files[i]!, reason: reasons[i]! }));
    const lost = this.classIds.filter((c) => !present.has(c));
    const shown = skipped.slice(0, 10).map((s) => `\n  ${s.path} (${s.reason})`);
    this.onWarning(
      `${this.name}: left out ${skipped.length} unreadable image(s) of ${this.length}:${shown.join('')}` +
        (skipped.length > shown.length
          ? `\n  ... and ${skipped.length - shown.length} more (dataset.skipped)`
          : '') +
        (lost.length > 0 ? `\n  class(es) left without an image: ${lost.slice(0, 10).join(', ')}` : ''),
    );
    return new ImageDataset(
      this.name,
      keep.map((i) => this.files[i]!),
      labels,
      classIds,
      this.options,
      [...this.skipped, ...skipped],
    );
  }

  /** Images decoded and skipped so far, for a run summary. */
  summary(): DecodeSummary {
    return { decoded: this.decoded, skipped: this.skippedCount, badImages: [...this.bad.values()] };
  }
}
