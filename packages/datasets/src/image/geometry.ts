/**
 * Crop geometry of the torchvision transforms the paper's code uses, as pure functions of the
 * image size (and, for the random crop, of a generator), so they can be tested by hand.
 */
import type { Rng } from '../rng';

/** A rectangle in pixel coordinates. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Python's round(): halves go to the even neighbour (torchvision's CenterCrop uses it). */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's; default [0.08, 1]. */
  scale?: [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly; default [3/4, 4/3]. */
  ratio?: [number, number];
}

/**
 * The box of torchvision's RandomResizedCrop.get_params: up to 10 tries of a random area and
 * log-uniform aspect ratio; if none fits, the largest central box with the ratio clamped to range.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  { scale = [0.08, 1], ratio = [3 / 4, 4 / 3] }: RandomResizedCropOptions = {},
): Box {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), width: w, height: h };
}

/** Output size of torchvision's Resize(size) with an int size: the shorter side becomes `size`. */
export function resizeShorterSide(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** The box of torchvision's CenterCrop(size) on an image of the given size (which must be at least `size`). */
export function centerCropBox(width: number, height: number, size: number): Box {
  return {
    top: pyRound((height - size) / 2),
    left: pyRound((width - size) / 2),
    width: size,
    height: size,
  };
}
