import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeEmojiPng, emoji, planTranslation } from '../src/index';
import { tempRoot } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, '..', 'node_modules');
const cacheDir = tempRoot('emoji-cache');

beforeAll(async () => {
  await useBackend('cpu');
});

describe('emoji', () => {
  it('decodes as the peer does with PIL (fixture from test/fixtures/emoji/make_fixture.py)', async () => {
    const index = JSON.parse(readFileSync(join(here, 'fixtures/emoji/pil_pixels.json'), 'utf8')) as {
      images: { image: string; vendor: string; size: number }[];
    };
    const bin = readFileSync(join(here, 'fixtures/emoji/pil_pixels.bin'));
    let off = 0;
    for (const { image, vendor, size } of index.images) {
      const png = readFileSync(
        join(modules, `emoji-datasource-${vendor}`, 'img', vendor, '64', `${image}.png`),
      );
      const got = await decodeEmojiPng(png, size);
      const n = size * size * 3;
      expect(Buffer.from(got).equals(bin.subarray(off, off + n))).toBe(true);
      off += n;
    }
    expect(off).toBe(bin.length);
  });

  it('splits 1,782 x 4 training / 7,560 test images (1,900 classes); no base emoji straddles; cached', async () => {
    const first = await emoji({ cacheDir });
    const { train, test } = first;
    expect([train.numClasses, train.length, test.numClasses, test.length]).toEqual([1782, 7128, 1900, 7560]);
    expect(train.sampleShape).toEqual([32, 32, 3]);
    // Independently: base emoji by sort_order, even positions train, odd test.
    const meta = JSON.parse(readFileSync(join(modules, 'emoji-datasource-google', 'emoji.json'), 'utf8')) as {
      image: string;
      sort_order: number;
      skin_variations?: Record<string, { image: string }>;
    }[];
    meta.sort((a, b) => a.sort_order - b.sort_order);
    const baseOf = new Map<string, number>();
    meta.forEach((e, i) => {
      for (const im of [e.image, ...Object.values(e.skin_variations ?? {}).map((s) => s.image)])
        baseOf.set(im.replace(/\.png$/, ''), i);
    });
    const trainBases = new Set(train.classIds.map((c) => baseOf.get(c)!));
    const testBases = new Set(test.classIds.map((c) => baseOf.get(c)!));
    for (const b of trainBases) expect(b % 2).toBe(0);
    for (const b of testBases) expect(b % 2).toBe(1);
    const second = await emoji({ cacheDir });
    expect(second.decode.cached).toBe(true);
    expect(second.decode.seconds).toBeLessThan(1);
    expect(Buffer.from(second.test.pixels).equals(Buffer.from(test.pixels))).toBe(true);
    // A pixel of the dataset equals the decoder's: train sample 0 is the first class, apple.
    const cls = train.classIds[0]!;
    const png = readFileSync(join(modules, 'emoji-datasource-apple', 'img', 'apple', '64', `${cls}.png`));
    expect(
      Buffer.from(await decodeEmojiPng(png, 32)).equals(Buffer.from(train.pixels.subarray(0, 3072))),
    ).toBe(true);

    // Augmentation: shift within 2 px, white fill, a pure function of (seed, epoch, index).
    const plain = train.loadSync([5]).dataSync();
    const a = train.loadSync([5, 9], { seed: 3, epoch: 1 }).dataSync();
    const b = train.loadSync([9, 5], { seed: 3, epoch: 1 }).dataSync();
    expect(Array.from(a.subarray(0, 3072))).toEqual(Array.from(b.subarray(3072)));
    const { dx, dy } = planTranslation(5, { seed: 3, epoch: 1 });
    expect(Math.abs(dx) <= 2 && Math.abs(dy) <= 2).toBe(true);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          const sx = x - dx;
          const sy = y - dy;
          const want = sx < 0 || sy < 0 || sx >= 32 || sy >= 32 ? 1 : plain[(sy * 32 + sx) * 3 + c]!;
          expect(a[(y * 32 + x) * 3 + c]).toBe(want);
        }
    const shifts = new Set(
      Array.from({ length: 200 }, (_, i) => JSON.stringify(planTranslation(i, { seed: 0, epoch: 0 }))),
    );
    expect(shifts.size).toBe(25);
  }, 300_000);

  it('names the install command when a package is missing', async () => {
    await expect(emoji({ root: tempRoot('emoji-empty'), cache: false })).rejects.toThrow(
      /npm install emoji-datasource-apple@16\.0\.0 emoji-datasource-google@16\.0\.0 emoji-datasource-twitter@16\.0\.0 emoji-datasource-facebook@16\.0\.0/,
    );
  });
});
