import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '@recallkit/core';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  parseRevisitedGroundTruth,
  readRevisitedGroundTruth,
  revisitedCropBox,
  revisitedOxfordParis,
} from '@recallkit/datasets';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const FIXTURES = join(import.meta.dirname, 'fixtures/revisited');

/** What make_gnd.py pickled. */
const EXPECTED = {
  imlist: ['db_000', 'db_001', 'db_002', 'db_003', 'db_004', 'db_005'],
  qimlist: ['query_000', 'query_001', 'query_002'],
  gnd: [
    { bbx: [8, 6, 40, 30], easy: [0, 2], hard: [4], junk: [1] },
    { bbx: [2.5, 3.5, 20.5, 33.5], easy: [3], hard: [], junk: [5, 0] },
    { bbx: [0, 0, 64, 48], easy: [], hard: [1, 5], junk: [] },
  ],
};

describe('the ground-truth file', () => {
  it.each(['gnd_rtiny.pkl', 'gnd_rtiny_p2.pkl', 'gnd_rtiny_p4.pkl', 'gnd_rtiny_p5.pkl', 'gnd_rtiny.json'])(
    'reads %s, written by Python',
    (file) => {
      expect(readRevisitedGroundTruth(join(FIXTURES, file))).toEqual(EXPECTED);
    },
  );

  it.each([
    [
      { ...EXPECTED, gnd: EXPECTED.gnd.slice(1) },
      /'gnd' must be a list with one entry per query \(3\), got 2/,
    ],
    [
      { ...EXPECTED, gnd: [{ ...EXPECTED.gnd[0], easy: [6] }, ...EXPECTED.gnd.slice(1)] },
      /gnd\[0\].easy\[0\] = 6 is not an index into imlist \(0..5\)/,
    ],
    [
      { ...EXPECTED, gnd: [{ ...EXPECTED.gnd[0], hard: { shape: [1] } }, ...EXPECTED.gnd.slice(1)] },
      /gnd\[0\].hard must be a list of integers \(a NumPy array\? convert the file to JSON: python3 -c/,
    ],
    [{ ...EXPECTED, gnd: [{ ...EXPECTED.gnd[0], bbx: [1, 2, 3] }, ...EXPECTED.gnd.slice(1)] }, /bbx must be/],
    [{ imlist: EXPECTED.imlist, gnd: [] }, /'qimlist' must be a list of image names/],
    [[1, 2], /expected a dict with imlist, qimlist and gnd/],
  ])('refuses a malformed one (%#)', (value, message) => {
    expect(() => parseRevisitedGroundTruth(value, 'gnd.pkl')).toThrow(message);
  });

  it('refuses a file that is no pickle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'recallkit-gnd-'));
    try {
      writeFileSync(join(dir, 'gnd_x.pkl'), 'not a pickle at all');
      expect(() => readRevisitedGroundTruth(join(dir, 'gnd_x.pkl'))).toThrow(/not a readable pickle/);
      expect(() => readRevisitedGroundTruth(join(dir, 'missing.pkl'))).toThrow(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('query boxes', () => {
  it("round as PIL's crop does (halves to even) and stay inside the image", () => {
    expect(revisitedCropBox([2.5, 3.5, 20.5, 33.5], 64, 48)).toEqual({
      left: 2,
      top: 4,
      width: 18,
      height: 30,
    });
    expect(revisitedCropBox([8, 6, 40, 30], 64, 48)).toEqual({ left: 8, top: 6, width: 32, height: 24 });
    expect(revisitedCropBox([-3.2, 10.6, 70, 60], 64, 48)).toEqual({
      left: 0,
      top: 11,
      width: 64,
      height: 37,
    });
    expect(() => revisitedCropBox([10, 10, 10.4, 20], 64, 48)).toThrow(/holds no pixel of a 64 x 48 image/);
  });
});

describe('revisitedOxfordParis on a miniature tree in the official layout', () => {
  let root: string;
  const RED = [230, 20, 20] as const;
  const BLUE = [20, 20, 230] as const;

  /** A 64 x 48 JPEG, blue with a red rectangle [x1, x2) x [y1, y2) (or plain red). */
  async function writeJpeg(file: string, red: [number, number, number, number] | null) {
    const px = Buffer.alloc(64 * 48 * 3);
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 64; x++) {
        const inside = red === null || (x >= red[0] && x < red[2] && y >= red[1] && y < red[3]);
        px.set(inside ? RED : BLUE, (y * 64 + x) * 3);
      }
    }
    await sharp(px, { raw: { width: 64, height: 48, channels: 3 } })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toFile(file);
  }

  beforeAll(async () => {
    await useBackend('wasm');
    root = mkdtempSync(join(tmpdir(), 'recallkit-revisited-'));
    mkdirSync(join(root, 'jpg'));
    for (const name of EXPECTED.imlist) await writeJpeg(join(root, 'jpg', `${name}.jpg`), [0, 0, 32, 48]);
    await writeJpeg(join(root, 'jpg', 'query_000.jpg'), [8, 6, 40, 30]); // red exactly inside its box
    await writeJpeg(join(root, 'jpg', 'query_001.jpg'), [2, 4, 20, 34]);
    await writeJpeg(join(root, 'jpg', 'query_002.jpg'), null);
    copyFileSync(join(FIXTURES, 'gnd_rtiny.pkl'), join(root, 'gnd_rtiny.pkl'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('returns the database, the cropped queries and the ground truth', async () => {
    const { database, queries, groundTruth } = revisitedOxfordParis({
      root,
      name: 'rtiny',
      pipeline: { size: 16, resize: 16 },
    });
    expect(groundTruth).toEqual(EXPECTED);
    expect(database.length).toBe(6);
    expect(database.files[3]).toBe(join(root, 'jpg', 'db_003.jpg'));
    expect(queries.length).toBe(3);
    expect(queries.sampleShape).toEqual([16, 16, 3]);

    // the crop is the box, rounded as PIL rounds it
    const meta = await sharp(await queries.crop(1)).metadata();
    expect([meta.width, meta.height]).toEqual([18, 30]);

    // queries 0 and 1 are red exactly inside their boxes and blue outside: cropped, every pixel is red
    const pixels = await queries.load([0, 1]);
    const data = await pixels.data();
    pixels.dispose();
    const redValue = (RED[0] / 255 - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
    const blueValue = (RED[2] / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
    for (const q of [0, 1]) {
      for (let p = 0; p < 16 * 16; p++) {
        const at = q * 16 * 16 * 3 + p * 3;
        expect(Math.abs(data[at]! - redValue)).toBeLessThan(0.1);
        expect(Math.abs(data[at + 2]! - blueValue)).toBeLessThan(0.1);
      }
    }
    // a database image (red left half, blue right half) is not cropped
    const full = await database.load([0]);
    expect(full.shape).toEqual([1, 16, 16, 3]);
    const fullData = await full.data();
    full.dispose();
    let blue = 0;
    for (let p = 0; p < 16 * 16; p++) if (fullData[p * 3 + 2]! > fullData[p * 3]!) blue++;
    expect(blue).toBeGreaterThan(16 * 4);
  });

  it('reads gnd_<name>.json when there is no pickle', () => {
    const jsonRoot = mkdtempSync(join(tmpdir(), 'recallkit-revisited-json-'));
    try {
      mkdirSync(join(jsonRoot, 'jpg'));
      for (const n of [...EXPECTED.imlist, ...EXPECTED.qimlist]) {
        copyFileSync(join(root, 'jpg', `${n}.jpg`), join(jsonRoot, 'jpg', `${n}.jpg`));
      }
      copyFileSync(join(FIXTURES, 'gnd_rtiny.json'), join(jsonRoot, 'gnd_rtiny.json'));
      expect(revisitedOxfordParis({ root: jsonRoot, name: 'rtiny' }).groundTruth).toEqual(EXPECTED);
    } finally {
      rmSync(jsonRoot, { recursive: true, force: true });
    }
  });

  it('names a missing file and the expected layout', () => {
    expect(() => revisitedOxfordParis({ root, name: 'roxford5k' })).toThrow(
      /roxford5k: file not found: .*gnd_roxford5k.pkl\nExpected layout:/,
    );
    unlinkSync(join(root, 'jpg', 'db_004.jpg'));
    expect(() => revisitedOxfordParis({ root, name: 'rtiny' })).toThrow(/file not found: .*db_004.jpg/);
  });
});
