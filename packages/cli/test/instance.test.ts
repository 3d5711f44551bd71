import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@recallkit/core';
import { revisitedOxfordParis } from '@recallkit/datasets';
import { evaluateRevisited } from '@recallkit/evaluator';
import { loadModel } from '@recallkit/models';
import { createRegistry } from '@recallkit/registry';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/builtins';
import type { DatasetSplits } from '../src/types';
import { noiseImage, run, tempDir, tinyExperiment, trainedImageExport, writeYaml } from './helpers';

/** The datasets package's miniature ground truth (make_gnd.py): 6 database images, 3 queries. */
const GND = fileURLToPath(new URL('../../datasets/test/fixtures/revisited/gnd_rtiny.pkl', import.meta.url));
const IMLIST = ['db_000', 'db_001', 'db_002', 'db_003', 'db_004', 'db_005'];
const QIMLIST = ['query_000', 'query_001', 'query_002'];

let dir: string;
let exported: string;
/** A revisited Oxford tree in the official layout: gnd_roxford5k.pkl and jpg/ (64 x 48 JPEGs). */
let root: string;

beforeAll(async () => {
  dir = await tempDir();
  ({ exported } = await trainedImageExport(dir));
  root = join(dir, 'roxford5k');
  await mkdir(join(root, 'jpg'), { recursive: true });
  const colours = [
    [200, 40, 40],
    [40, 200, 40],
    [40, 40, 200],
  ] as const;
  const size = { width: 64, height: 48 };
  for (const [i, name] of IMLIST.entries())
    await noiseImage(join(root, 'jpg', `${name}.jpg`), colours[i % 3]!, 500 + i, size);
  for (const [i, name] of QIMLIST.entries())
    await noiseImage(join(root, 'jpg', `${name}.jpg`), colours[i]!, 600 + i, size);
  await copyFile(GND, join(root, 'gnd_roxford5k.pkl'));
});

/** An experiment that evaluates the exported (trained) network on the tree. */
function evalExperiment(extra: Record<string, unknown> = {}) {
  return {
    ...tinyExperiment('roxford5k-tiny', 'rsk'),
    plugins: [],
    dataset: { name: 'roxford5k', root, size: 16 },
    model: { backbone: { name: 'trunk', dir: exported } },
    evaluator: { name: 'instance', index: 'exact' },
    ...extra,
  };
}

describe('the instance evaluator on roxford5k', () => {
  it('gives the mAP and mP@k that evaluateRevisited gives on the same embeddings, in metrics.json too', async () => {
    const config = await writeYaml(dir, 'roxford5k-tiny.yaml', evalExperiment());
    const out = join(dir, 'eval', 'metrics.json');
    const evaluated = await run(['eval', config, '--json', '--out', out]);
    expect(evaluated.stderr).toBe('');
    expect(evaluated.code).toBe(0);
    const result = JSON.parse(evaluated.stdout);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(result);
    expect(result).toMatchObject({ experiment: 'roxford5k-tiny', trained: false, index: 'exact:tfjs-cpu' });
    expect(result.metrics.recall).toBeUndefined();
    expect(result.metrics.mapAtR).toBeUndefined();

    // Independently: the export embeds the database and the cropped queries as the datasets read them.
    const model = await loadModel(exported);
    const data = revisitedOxfordParis({ root, name: 'roxford5k', pipeline: { size: 16, resize: 18 } });
    const all = (n: number) => Array.from({ length: n }, (_, i) => i);
    const embed = async (d: { length: number; load(i: number[]): Promise<tf.Tensor4D> }) => {
      const images = await d.load(all(d.length));
      return (model.predict(images) as tf.Tensor2D).arraySync();
    };
    const expected = await evaluateRevisited(
      await embed(data.queries),
      await embed(data.database),
      data.groundTruth,
      { index: 'exact' },
    );
    for (const setup of ['easy', 'medium', 'hard'] as const) {
      const got = result.metrics.revisited[setup];
      expect(got.map).toBeCloseTo(expected[setup].map, 10);
      expect(got.queries).toBe(expected[setup].queries);
      expect(Object.keys(got.mpAtK)).toEqual(['1', '5', '10']);
      for (const k of [1, 5, 10]) expect(got.mpAtK[k]).toBeCloseTo(expected[setup].mpAtK[k]!, 10);
    }
    // make_gnd.py's queries: the second has no hard image and the third no easy one.
    expect([result.metrics.revisited.easy.queries, result.metrics.revisited.hard.queries]).toEqual([2, 2]);
    expect(result.metrics.revisited.medium.queries).toBe(3);

    const text = await run(['eval', config]);
    expect(text.stdout).toMatch(
      /^roxford5k-tiny seed 0: Easy mAP \d\.\d{4} mP@1 \d\.\d{4} mP@5 \d\.\d{4} mP@10 \d\.\d{4}; Medium mAP .*; Hard mAP /,
    );
  });

  it('reads the queries cropped to their boxes, after the database', async () => {
    const registry = registerBuiltins(createRegistry());
    const id = 'dataset:roxford5k' as const;
    const data = (await registry.resolve(id, registry.validate(id, { root, size: 16 }))) as DatasetSplits;
    expect(data.train.length).toBe(0);
    expect(data.test.length).toBe(9);
    expect(data.test.instance).toMatchObject({ kind: 'revisited', database: 6, queries: 3 });
    const plain = revisitedOxfordParis({ root, name: 'roxford5k', pipeline: { size: 16, resize: 18 } });
    // Rows in any order, across both parts: database rows 4, 0, then query rows (6 + 2), (6 + 0).
    const mixed = await data.test.load([4, 8, 0, 6]);
    const expected = tf.concat([
      await plain.database.load([4]),
      await plain.queries.load([2]),
      await plain.database.load([0]),
      await plain.queries.load([0]),
    ]);
    expect(tf.max(tf.abs(tf.sub(mixed, expected))).dataSync()[0]).toBe(0);
    // A query is its crop: not the whole image through the same pipeline.
    const crop = await plain.queries.crop(0);
    expect(await sharp(crop).metadata()).toMatchObject({ width: 32, height: 24 });
    expect(registry.get('dataset:rparis6k').id).toBe('dataset:rparis6k');
    expect(registry.get('dataset:revisited-oxford').id).toBe('dataset:roxford5k');
  });

  it('says why a test benchmark cannot train, and which evaluator each dataset needs', async () => {
    const config = await writeYaml(dir, 'roxford5k-train.yaml', evalExperiment());
    const trained = await run(['train', config, '--out', join(dir, 'no-run')]);
    expect(trained.code).toBe(1);
    expect(trained.stderr).toContain('has no training split, only a test set');
    expect(trained.stderr).toContain('[DATASET_NO_TRAIN]');

    const retrieval = await writeYaml(
      dir,
      'roxford5k-retrieval.yaml',
      evalExperiment({ evaluator: { name: 'retrieval', index: 'exact' } }),
    );
    expect((await run(['eval', retrieval])).stderr).toContain("use evaluator 'instance'");

    const blobs = await writeYaml(
      dir,
      'blobs-instance.yaml',
      tinyExperiment('blobs-instance', 'rsk', { evaluator: 'instance' }),
    );
    expect((await run(['eval', blobs])).stderr).toContain("tiny-test has none: use evaluator 'retrieval'");

    const wrongSize = await run(['eval', config, '--set', 'dataset.size=20']);
    expect(wrongSize.code).toBe(1);
    expect(wrongSize.stderr).toContain(
      "the network takes [16, 16, 3] inputs, but roxford5k gives [20, 20, 3]: set the dataset's size",
    );
    expect((await run(['eval', config, '--set', `dataset.root=${join(dir, 'nowhere')}`])).code).toBe(1);
  });

  it('indexes the database of a revisited dataset file, the images named by their paths under root', async () => {
    const dataset = await writeYaml(dir, 'roxford5k-dataset.yaml', { name: 'roxford5k', root, size: 16 });
    const file = join(dir, 'roxford5k.rkindex');
    const indexed = await run(['index', exported, dataset, '--out', file, '--index', 'exact', '--json']);
    expect(indexed.stderr).toBe('');
    expect(indexed.code).toBe(0);
    expect(JSON.parse(indexed.stdout)).toMatchObject({ images: 6, dim: 8 });
    const query = await run(['query', file, exported, join(root, 'jpg', 'db_003.jpg'), '--k', '3', '--json']);
    const [hit] = JSON.parse(query.stdout).results;
    expect(hit.ids[0]).toBe('jpg/db_003.jpg');
    expect(hit.scores[0]).toBeCloseTo(1, 5);
  });
});
