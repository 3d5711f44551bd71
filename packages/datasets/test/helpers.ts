import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

/** A fresh temporary folder. */
export function tempRoot(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `recallkit-${prefix}-`));
}

/** Raw RGB pixels of a smooth pattern that differs with `seed` (so crops and flips show). */
export function pattern(width: number, height: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x * 255) / Math.max(1, width - 1);
      px[i + 1] = (y * 255) / Math.max(1, height - 1);
      px[i + 2] = (seed * 37 + x * 3 + y * 5) % 256;
    }
  }
  return px;
}

/** Writes a real JPEG or PNG (chosen by the extension) made by sharp; returns its path. */
export async function writeImage(path: string, width = 40, height = 30, seed = 0): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  const image = sharp(pattern(width, height, seed), { raw: { width, height, channels: 3 } });
  await (path.toLowerCase().endsWith('.png') ? image.png() : image.jpeg({ quality: 90 })).toFile(path);
  return path;
}

/** Writes a text file, creating its folder. */
export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
