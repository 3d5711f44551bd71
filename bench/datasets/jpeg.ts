import { writeFileSync } from 'node:fs';
import jpeg from 'jpeg-js';

/** Size of the benchmarks' test photos: about the median CUB-200 / Cars196 image. */
export const PHOTO_WIDTH = 500;
export const PHOTO_HEIGHT = 375;

/**
 * Writes a photo-like test image (encoded by jpeg-js, baseline JPEG) to `path`: smooth colour
 * fields plus noise, so that JPEG sizes are realistic.
 */
export function makeJpeg(path: string, seed: number): void {
  const [W, H] = [PHOTO_WIDTH, PHOTO_HEIGHT];
  const px = Buffer.alloc(W * H * 4, 255);
  let s = seed * 2654435761;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const noise = (s >>> 24) % 24;
      const i = (y * W + x) * 4;
      px[i] = (128 + 100 * Math.sin((x + seed * 13) / 40) + noise) & 255;
      px[i + 1] = (128 + 90 * Math.cos((y + seed * 7) / 30) + noise) & 255;
      px[i + 2] = ((x * y) / 300 + seed * 11 + noise) & 255;
    }
  }
  writeFileSync(path, jpeg.encode({ data: px, width: W, height: H }, 90).data);
}
