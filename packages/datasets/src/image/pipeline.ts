/**
 * The image pipeline of the paper's code on sharp (libvips): decode (JPEG, PNG, and whatever else
 * libvips reads), then either RandomResizedCrop + horizontal flip (training) or Resize + CenterCrop
 * (evaluation), then ImageNet normalisation into float32 HWC. Pixels follow torchvision on PIL
 * (test/fixtures/pipeline holds Pillow's output): enlarging resizes with Pillow's arithmetic.
 * Every random choice comes from keyedRng(seed, 'augment', epoch, sampleIndex), so any sample of
 * any step can be recomputed.
 */
import { RecallkitError } from '@recallkit/core';
import sharp from 'sharp';
import type { AugmentContext } from '../dataset';
import { keyedRng } from '../rng';
import {
  type Box,
  centerCropBox,
  type RandomResizedCropOptions,
  randomResizedCropBox,
  resizeShorterSide,
} from './geometry';
import { resizeBilinear } from './pil';

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

export interface PipelineOptions extends RandomResizedCropOptions {
  /** Side of the square output; default 224. */
  size?: number;
  /** Shorter side before the evaluation centre crop; default 256. */
  resize?: number;
  /** Probability of a horizontal flip in training; default 0.5. */
  flipProbability?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** The choices made for one sample: known before decoding pixels, and testable on their own. */
export interface SamplePlan {
  /** Crop in source pixels, then resized to size x size (training), or null (evaluation). */
  crop: Box | null;
  flip: boolean;
}

/** The side of the square images `pipeline` gives (its `size`); throws unless resize >= size >= 1. */
export function pipelineSize(name: string, pipeline: PipelineOptions): number {
  const size = pipeline.size ?? 224;
  const resize = pipeline.resize ?? 256;
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(resize) || resize < size) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${name}: need integers resize (${resize}) >= size (${size}) >= 1`,
    );
  }
  return size;
}

/** Plans a training sample (random crop and flip) or, without `augment`, an evaluation sample. */
export function planSample(
  width: number,
  height: number,
  index: number,
  augment: AugmentContext | undefined,
  options: PipelineOptions = {},
): SamplePlan {
  if (!augment) return { crop: null, flip: false };
  const rng = keyedRng(augment.seed, 'augment', augment.epoch, index);
  const crop = randomResizedCropBox(width, height, rng, options);
  return { crop, flip: rng.next() < (options.flipProbability ?? 0.5) };
}

/**
 * Decodes one image and writes size x size x 3 normalised float32 values into `out` at `offset`.
 * Throws on unreadable, corrupt or truncated data (sharp's failOn 'warning').
 */
export async function decodeInto(
  input: Buffer,
  index: number,
  augment: AugmentContext | undefined,
  out: Float32Array,
  offset: number,
  options: PipelineOptions = {},
): Promise<SamplePlan> {
  const size = options.size ?? 224;
  const resize = options.resize ?? 256;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const meta = await sharp(input, { failOn: 'warning' }).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no size');
  const plan = planSample(meta.width, meta.height, index, augment, options);
  const from = plan.crop ?? { width: meta.width, height: meta.height };
  const to = plan.crop ? { width: size, height: size } : resizeShorterSide(meta.width, meta.height, resize);
  if (to.width > from.width || to.height > from.height) {
    // libvips places upsampled pixels half an output pixel away from Pillow's (and so
    // torchvision's) centres: up to 130 of 255 levels at edges. Enlarging uses Pillow's own
    // arithmetic instead; shrinking stays on libvips, within 6 levels of Pillow.
    let decoded = sharp(input, { failOn: 'warning' });
    if (plan.crop) decoded = decoded.extract(plan.crop);
    const { data, info } = await decoded
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    const scaled = resizeBilinear(data, info.width, info.height, to.width, to.height);
    const box = plan.crop
      ? { left: 0, top: 0, width: size, height: size }
      : centerCropBox(to.width, to.height, size);
    const rgb = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      const start = ((y + box.top) * to.width + box.left) * 3;
      rgb.set(scaled.subarray(start, start + size * 3), y * size * 3);
    }
    normalizeInto(rgb, size, plan.flip, out, offset, mean, std);
    return plan;
  }
  let image = sharp(input, { failOn: 'warning' });
  if (plan.crop) {
    image = image.extract(plan.crop).resize(size, size, { fit: 'fill', kernel: 'linear' });
  } else {
    // resize >= size is checked by the dataset, so the centre crop always fits.
    image = image
      .resize(to.width, to.height, { fit: 'fill', kernel: 'linear' })
      .extract(centerCropBox(to.width, to.height, size));
  }
  const { data, info } = await image
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(
      `pipeline produced ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`,
    );
  }
  normalizeInto(data, size, plan.flip, out, offset, mean, std);
  return plan;
}

/** (x / 255 - mean[c]) / std[c], mirrored left-right when `flip`. */
function normalizeInto(
  rgb: Uint8Array,
  size: number,
  flip: boolean,
  out: Float32Array,
  offset: number,
  mean: readonly number[],
  std: readonly number[],
): void {
  const lut = [0, 1, 2].map((c) =>
    Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean[c]!) / std[c]!),
  );
  const [l0, l1, l2] = lut as [Float32Array, Float32Array, Float32Array];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = (y * size + (flip ? size - 1 - x : x)) * 3;
      const dst = offset + (y * size + x) * 3;
      out[dst] = l0[rgb[src]!]!;
      out[dst + 1] = l1[rgb[src + 1]!]!;
      out[dst + 2] = l2[rgb[src + 2]!]!;
    }
  }
}
