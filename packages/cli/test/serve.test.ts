import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@recallkit/core';
import { IMAGENET_MEAN, IMAGENET_STD, ImageDataset } from '@recallkit/datasets';
import { loadModel } from '@recallkit/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeExport } from '../src/export';
import { noiseImage, run, tempDir, trainedImageExport } from './helpers';

let dir: string;
let exported: string;
let gallery: string;
/** The gallery's images, as index names them: their paths under the folder. */
const IDS = ['a/0.png', 'a/1.png', 'a/2.jpg', 'b/deep/0.png', 'b/deep/1.png', 'c.png', 'd.webp'];

beforeAll(async () => {
  dir = await tempDir();
  ({ exported } = await trainedImageExport(dir));
  gallery = join(dir, 'gallery');
  const colours = [
    [200, 40, 40],
    [40, 200, 40],
    [40, 40, 200],
  ] as const;
  for (const [i, id] of IDS.entries()) {
    const file = join(gallery, id);
    if (id.endsWith('.webp')) {
      await noiseImage(`${file}.png`, colours[i % 3]!, 900 + i);
      const sharp = (await import('sharp')).default;
      await sharp(`${file}.png`).webp({ lossless: true }).toFile(file);
      await writeFile(`${file}.png`, ''); // leaves an empty d.webp.png: unreadable, left out
    } else await noiseImage(file, colours[i % 3]!, 900 + i);
  }
  await writeFile(join(gallery, 'notes.txt'), 'not an image');
  await mkdir(join(gallery, '.cache'), { recursive: true });
  await noiseImage(join(gallery, '.cache', 'hidden.png'), [0, 0, 0], 1);
});

/** The exported network's unit embeddings of `files`, read through the datasets' pipeline at 16 x 16. */
async function embeddings(files: string[]): Promise<number[][]> {
  const model = await loadModel(exported);
  const dataset = new ImageDataset('check', files, new Int32Array(files.length), [0], {
    pipeline: { size: 16, resize: 18 },
  });
  const rows = (model.predict(await dataset.load(files.map((_, i) => i))) as tf.Tensor2D).arraySync();
  return rows.map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
}

/** Brute-force cosine: the ids of the k most similar gallery rows, and their scores. */
function bruteForce(query: number[], gallery: number[][], ids: string[], k: number) {
  const scored = gallery.map((row, i) => ({
    id: ids[i]!,
    score: row.reduce((a, v, j) => a + v * query[j]!, 0),
  }));
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, k);
}

describe('recallkit index / query', () => {
  it('documents itself', async () => {
    for (const command of ['index', 'query']) {
      const { code, stdout } = await run([command, '--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: recallkit ${command}`));
      expect(stdout).toContain('--json');
    }
  });

  it('records how images are read in the export', async () => {
    const json = JSON.parse(await readFile(join(exported, 'model.json'), 'utf8'));
    expect(json.userDefinedMetadata.recallkit.preprocessing).toEqual({
      size: 16,
      resize: 18,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    });
  });

  it('indexes a folder and finds each image first, with the brute-force cosine neighbours and scores', async () => {
    const file = join(dir, 'gallery.rkindex');
    const indexed = await run(['index', exported, gallery, '--out', file, '--json']);
    expect(indexed.code).toBe(0);
    // The empty file is left out and named; the text file and the hidden folder are not images.
    expect(indexed.stderr).toContain('d.webp.png');
    expect(indexed.stderr).not.toContain('hidden');
    const result = JSON.parse(indexed.stdout);
    expect(result).toMatchObject({ out: file, images: IDS.length, dim: 8 });
    expect(result.skipped.map((s: { path: string }) => s.path)).toEqual([join(gallery, 'd.webp.png')]);

    const files = IDS.map((id) => join(gallery, id));
    const vectors = await embeddings(files);
    for (const q of [0, 3, 6]) {
      const queried = await run(['query', file, exported, files[q]!, '--k', '4', '--json']);
      expect(queried.stderr).toBe('');
      expect(queried.code).toBe(0);
      const [hit] = JSON.parse(queried.stdout).results;
      expect(hit.image).toBe(files[q]);
      expect(hit.ids[0]).toBe(IDS[q]);
      expect(hit.scores[0]).toBeCloseTo(1, 5);
      const expected = bruteForce(vectors[q]!, vectors, IDS, 4);
      expect(hit.ids).toEqual(expected.map((e) => e.id));
      hit.scores.forEach((s: number, j: number) => {
        expect(s).toBeCloseTo(expected[j]!.score, 5);
      });
    }

    // Several images at once, k beyond the index size (capped), and the text output.
    const text = await run(['query', file, exported, files[1]!, files[5]!, '--k', '50']);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(2 * (1 + IDS.length));
    expect(lines[0]).toBe(files[1]);
    expect(lines[1]).toMatch(/^ {4}1 {2}1\.0000 {2}a\/1\.png$/);
    expect(lines[IDS.length + 1]).toBe(files[5]);
  });

  it('adds in batches: any batch size and the exact index give the same neighbours', async () => {
    const files = IDS.map((id) => join(gallery, id));
    const results: { ids: string[]; scores: number[] }[][] = [];
    for (const [name, options] of [
      ['one.rkindex', ['--batch-size', '64']],
      ['three.rkindex', ['--batch-size', '3', '--index', 'exact']],
      ['two.rkindex', ['--batch-size', '2']],
    ] as const) {
      const file = join(dir, name);
      expect((await run(['index', exported, gallery, '--out', file, ...options])).code).toBe(0);
      const queried = await run(['query', file, exported, ...files, '--k', '3', '--json']);
      results.push(JSON.parse(queried.stdout).results);
    }
    for (const other of results.slice(1)) {
      expect(other.map((r) => r.ids)).toEqual(results[0]!.map((r) => r.ids));
      other.forEach((r, i) => {
        r.scores.forEach((s, j) => {
          expect(s).toBeCloseTo(results[0]![i]!.scores[j]!, 5);
        });
      });
    }
  });

  it('names a missing export, an existing index file, a model of another dimension and unreadable images', async () => {
    const file = join(dir, 'errors.rkindex');
    const missing = await run(['index', join(dir, 'nowhere'), gallery, '--out', file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      "no exported model there (model.json): write one with 'recallkit export <run>'",
    );
    expect((await run(['index', exported, join(dir, 'no-folder'), '--out', file])).stderr).toContain(
      '[IMAGES_MISSING]',
    );
    expect((await run(['index', exported, gallery, '--out', file])).code).toBe(0);
    const again = await run(['index', exported, gallery, '--out', file]);
    expect(again.stderr).toContain('exists: choose another --out, or replace it with --force [INDEX_EXISTS]');
    expect((await run(['index', exported, gallery, '--out', file, '--force'])).code).toBe(0);
    const strict = await run([
      'index',
      exported,
      gallery,
      '--out',
      join(dir, 'x.rkindex'),
      '--on-bad-image',
      'fail',
    ]);
    expect(strict.stderr).toContain('d.webp.png');
    expect(strict.stderr).toContain('[IMAGE_UNREADABLE]');

    // Another network, 4-d embeddings of the same 16 x 16 images.
    const input = tf.input({ shape: [16, 16, 3] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const other = tf.model({
      inputs: input,
      outputs: tf.layers.dense({ units: 4 }).apply(flat) as tf.SymbolicTensor,
    });
    const otherDir = join(dir, 'other-export');
    await writeExport(other, otherDir, {
      metadata: { format: 'recallkit-export/1', inputShape: [16, 16, 3] },
    });
    const image = join(gallery, 'c.png');
    const mismatch = await run(['query', file, otherDir, image]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(
      `holds 8-d vectors, but ${otherDir} embeds into 4-d: query with the export that built the index [INDEX_MISMATCH]`,
    );
    // An export without a recorded preprocessing still indexes, with the default one, and says so.
    const defaulted = await run(['index', otherDir, gallery, '--out', join(dir, 'other.rkindex')]);
    expect(defaulted.code).toBe(0);
    expect(defaulted.stderr).toContain('records no image preprocessing');

    const unreadable = await run(['query', file, exported, join(gallery, 'd.webp.png')]);
    expect(unreadable.stderr).toContain(`cannot decode ${join(gallery, 'd.webp.png')}`);
    expect((await run(['query', file, exported, join(gallery, 'none.png')])).stderr).toContain(
      `${join(gallery, 'none.png')}: no such image file [IMAGE_MISSING]`,
    );
    expect((await run(['query', join(dir, 'none.rkindex'), exported, image])).stderr).toContain(
      '[INDEX_UNREADABLE]',
    );
  });
});
