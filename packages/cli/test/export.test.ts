import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tf } from '@recallkit/core';
import { loadModel, registerLayers } from '@recallkit/models';
import { createRegistry, type Registry, z } from '@recallkit/registry';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/builtins';
import { assignWeights, readTrainedModel, saveTrainedModel } from '../src/checkpoint';
import { experimentFromObject } from '../src/config';
import { writeExport } from '../src/export';
import { buildModel } from '../src/pipeline';
import { main } from '../src/program';
import type { DatasetSplits } from '../src/types';
import { run, sink, tempDir, tinyExperiment, writeYaml } from './helpers';

const rsk = { name: 'rsk', k: [1, 2, 4] };

/** Runs the command line against `registry`, capturing its output. */
async function runWith(registry: Registry, args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(
    args,
    { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) },
    registry,
  );
  return { code, stdout, stderr };
}

/**
 * A tf.io.IOHandler written from the TF.js format alone (model.json names its shards and their
 * weights), so that the test does not lean on Recallkit's own reader.
 */
function plainHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const buffers = await Promise.all(
          manifest.flatMap((g) => g.paths.map((p) => readFile(join(dir, p)))),
        );
        const all = Buffer.concat(buffers);
        return [
          manifest.flatMap((g) => g.weights),
          all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
        ];
      });
    },
  };
}

/** The trained network rebuilt as `recallkit eval` rebuilds it, and the test images it is evaluated on. */
async function trainedNetwork(file: string, registry = registerBuiltins(createRegistry())) {
  const { meta, weights, shapes } = await readTrainedModel(file);
  const experiment = await experimentFromObject(meta.experiment, registry, meta.source, meta.baseDir);
  const c = experiment.components;
  await registry.resolve(c.backend.id, c.backend.options, {});
  const data = (await registry.resolve(c.dataset.id, c.dataset.options, {
    seed: meta.seed,
  })) as DatasetSplits;
  const model = await buildModel(experiment, registry, data.train.sampleShape, meta.seed);
  assignWeights(model, weights, shapes, file);
  const images = await data.test.load(Array.from({ length: data.test.length }, (_, i) => i));
  return { model, images, meta };
}

function maxGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function rowNorms(e: tf.Tensor): number[] {
  return Array.from(tf.tidy(() => tf.norm(e, 'euclidean', 1)).dataSync());
}

let dir: string;
let out: string;

beforeAll(async () => {
  dir = await tempDir();
  const config = await writeYaml(
    dir,
    'tiny.yaml',
    tinyExperiment('tiny-export', rsk, { train: { epochs: 2, evaluateEvery: 1, selectBy: 'map@r' } }),
  );
  out = join(dir, 'run');
  const trained = await run(['train', config, '--out', out, '--json']);
  expect(trained.code).toBe(0);
});

describe('recallkit export', () => {
  it('documents itself', async () => {
    const { code, stdout } = await run(['export', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: recallkit export/);
    for (const option of ['--out', '--checkpoint', '--force', '--json']) expect(stdout).toContain(option);
  });

  it('writes a LayersModel that tf.loadLayersModel and loadModel read, giving the trained unit embeddings', async () => {
    const exported = await run(['export', out, '--json']);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    const result = JSON.parse(exported.stdout);
    const target = join(out, 'export');
    expect(result).toMatchObject({
      out: target,
      checkpoint: join(out, 'model.ckpt'),
      experiment: 'tiny-export',
      seed: 0,
      steps: 8,
      inputShape: [4, 4, 1],
      embeddingDim: 8,
      addedL2Normalize: false,
    });
    expect((await readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
    expect((await readdir(out)).filter((f) => f.startsWith('.'))).toEqual([]);
    const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.userDefinedMetadata.recallkit).toMatchObject({
      format: 'recallkit-export/1',
      checkpoint: 'model.ckpt',
      steps: 8,
      inputShape: [4, 4, 1],
      embeddingDim: 8,
      l2Normalized: true,
    });

    const { model, images } = await trainedNetwork(join(out, 'model.ckpt'));
    const expected = model.predict(images) as tf.Tensor;
    registerLayers();
    const plain = await tf.loadLayersModel(plainHandler(target));
    const viaModels = await loadModel(target);
    expect(plain.inputs[0]!.shape).toEqual([null, 4, 4, 1]);
    for (const loaded of [plain, viaModels]) {
      const embeddings = loaded.predict(images) as tf.Tensor;
      expect(embeddings.shape).toEqual([48, 8]);
      expect(maxGap(embeddings, expected)).toBeLessThan(1e-6);
      for (const n of rowNorms(embeddings)) expect(n).toBeCloseTo(1, 5);
    }
    // Trained, not initial, weights: a freshly built network embeds differently.
    const initial = await buildModel(
      await experimentFromObject(
        (await readTrainedModel(join(out, 'model.ckpt'))).meta.experiment,
        registerBuiltins(createRegistry()),
        join(dir, 'tiny.yaml'),
        dir,
      ),
      registerBuiltins(createRegistry()),
      [4, 4, 1],
      0,
    );
    expect(maxGap(initial.predict(images) as tf.Tensor, expected)).toBeGreaterThan(1e-3);
  });

  it('exports the best checkpoint with --checkpoint best, and a .ckpt file given directly', async () => {
    const best = join(dir, 'best-export');
    const exported = await run(['export', out, '--checkpoint', 'best', '--out', best, '--json']);
    expect(exported.code).toBe(0);
    const result = JSON.parse(exported.stdout);
    const { model, images, meta } = await trainedNetwork(join(out, 'best.ckpt'));
    expect(result).toMatchObject({ checkpoint: join(out, 'best.ckpt'), steps: meta.steps });
    const loaded = await loadModel(best);
    expect(maxGap(loaded.predict(images) as tf.Tensor, model.predict(images) as tf.Tensor)).toBeLessThan(
      1e-6,
    );

    const file = await run(['export', join(out, 'best.ckpt'), '--out', join(dir, 'from-file'), '--json']);
    expect(file.code).toBe(0);
    expect(JSON.parse(file.stdout).checkpoint).toBe(join(out, 'best.ckpt'));
    const text = await run(['export', out, '--out', join(dir, 'text')]);
    expect(text.stdout).toMatch(
      /^exported .*model\.ckpt \(tiny-export seed 0, 8 steps\) to .*text: input \[4, 4, 1\] -> 8-d/,
    );
  });

  it('refuses a non-empty folder unless --force, and writes into an empty one', async () => {
    const target = join(dir, 'occupied');
    await mkdir(target);
    expect((await run(['export', out, '--out', target])).code).toBe(0);
    await writeFile(join(target, 'notes.txt'), 'keep me');
    const refused = await run(['export', out, '--out', target]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'is not empty: choose another --out, or replace it with --force [EXPORT_EXISTS]',
    );
    expect(await readFile(join(target, 'notes.txt'), 'utf8')).toBe('keep me');
    const forced = await run(['export', out, '--out', target, '--force']);
    expect(forced.code).toBe(0);
    expect((await readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([]);
    await writeFile(join(dir, 'a-file'), '');
    expect((await run(['export', out, '--out', join(dir, 'a-file')])).stderr).toContain('[EXPORT_EXISTS]');
  });

  it('names a missing run, a missing best.ckpt and bad --checkpoint values', async () => {
    expect((await run(['export', join(dir, 'nowhere')])).stderr).toContain('[CHECKPOINT_MISSING]');
    const plain = join(dir, 'plain');
    const config = await writeYaml(dir, 'plain.yaml', tinyExperiment('tiny-plain', rsk));
    expect((await run(['train', config, '--out', plain])).code).toBe(0);
    const noBest = await run(['export', plain, '--checkpoint', 'best']);
    expect(noBest.code).toBe(1);
    expect(noBest.stderr).toContain('has no best.ckpt');
    await expect(stat(join(plain, 'export'))).rejects.toThrow();
    const bad = await run(['export', plain, '--checkpoint', 'newest']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("expected 'best' or 'last'");
    expect((await run(['export', join(plain, 'model.ckpt'), '--checkpoint', 'last'])).stderr).toContain(
      '[INVALID_OPTION]',
    );
  });

  it('leaves nothing behind, and an existing folder as it was, when writing fails', async () => {
    const target = join(dir, 'failing', 'export');
    const failing = {
      setUserDefinedMetadata: () => {},
      save: async () => {
        throw new Error('disk full');
      },
    } as unknown as tf.LayersModel;
    await expect(writeExport(failing, target)).rejects.toThrow('disk full');
    expect(await readdir(dirname(target))).toEqual([]);
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'model.json'), 'the old export');
    await expect(writeExport(failing, target, { force: true })).rejects.toThrow('disk full');
    expect(await readdir(dirname(target))).toEqual(['export']);
    expect(await readFile(join(target, 'model.json'), 'utf8')).toBe('the old export');
  });
});

describe('recallkit export: networks that do not end in an L2 normalisation', () => {
  /** The built-ins plus two backbones: a linear map without normalisation, and a feature map. */
  function registryWithPlainBackbones(): Registry {
    const registry = registerBuiltins(createRegistry());
    registry.register('backbone', 'linear', {
      schema: z.strictObject({ units: z.number().int().positive().default(6) }),
      create: ({ units }, c: { inputShape?: number[]; seed?: number }) => {
        const input = tf.input({ shape: c.inputShape! });
        const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
        const kernelInitializer = tf.initializers.glorotUniform({ seed: 1 + (c.seed ?? 0) });
        const y = tf.layers.dense({ units, kernelInitializer }).apply(flat) as tf.SymbolicTensor;
        return tf.model({ inputs: input, outputs: y });
      },
    });
    registry.register('backbone', 'feature-map', {
      schema: z.strictObject({}),
      create: (_, c: { inputShape?: number[] }) => {
        const input = tf.input({ shape: c.inputShape! });
        const y = tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input) as tf.SymbolicTensor;
        return tf.model({ inputs: input, outputs: y });
      },
    });
    return registry;
  }

  it('appends one, so that the export still gives unit embeddings (the cosine the evaluator searches with)', async () => {
    const registry = registryWithPlainBackbones();
    const config = await writeYaml(
      dir,
      'linear.yaml',
      tinyExperiment('tiny-linear', rsk, { model: { backbone: { name: 'linear', units: 6 } } }),
    );
    const runDir = join(dir, 'linear');
    expect((await runWith(registry, ['train', config, '--out', runDir])).code).toBe(0);
    const exported = await runWith(registry, ['export', runDir, '--json']);
    expect(exported.code).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ addedL2Normalize: true, embeddingDim: 6 });
    const { model, images } = await trainedNetwork(join(runDir, 'model.ckpt'), registryWithPlainBackbones());
    const raw = model.predict(images) as tf.Tensor;
    expect(Math.max(...rowNorms(raw).map((n) => Math.abs(n - 1)))).toBeGreaterThan(1e-3);
    const embeddings = (await loadModel(join(runDir, 'export'))).predict(images) as tf.Tensor;
    for (const n of rowNorms(embeddings)) expect(n).toBeCloseTo(1, 5);
    const normalised = tf.div(raw, tf.norm(raw, 'euclidean', 1, true));
    expect(maxGap(embeddings, normalised)).toBeLessThan(1e-6);
  });

  it('refuses a network whose output is not a batch of vectors', async () => {
    const registry = registryWithPlainBackbones();
    const raw = tinyExperiment('tiny-map', rsk, { model: { backbone: 'feature-map' } });
    const experiment = await experimentFromObject(raw, registry, join(dir, 'map.yaml'), dir);
    const model = await buildModel(experiment, registry, [4, 4, 1], 0);
    const file = join(dir, 'map.ckpt');
    await saveTrainedModel(file, model, {
      experiment: raw,
      baseDir: dir,
      source: join(dir, 'map.yaml'),
      seed: 0,
    });
    const refused = await runWith(registry, ['export', file, '--out', join(dir, 'map-export')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the network outputs [batch, 4, 4, 2], not one batch x dim embedding');
    await expect(stat(join(dir, 'map-export'))).rejects.toThrow();
  });
});
