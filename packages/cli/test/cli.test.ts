import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrainedModel } from '../src/checkpoint';
import { applyOverrides } from '../src/overrides';
import { augmentCalls } from './fixtures/tiny-data';
import { run, tempDir, tinyExperiment, writeYaml } from './helpers';

const rsk = { name: 'rsk', k: [1, 2, 4] };

describe('recallkit --help', () => {
  it.each([[], ['train'], ['eval'], ['bench'], ['info']])('documents %j', async (...command) => {
    const { code, stdout } = await run([...command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: recallkit/);
    if (command.length) expect(stdout).toContain('--json');
  });

  it('rejects an unknown command with a non-zero exit', async () => {
    const { code, stderr } = await run(['trian']);
    expect(code).not.toBe(0);
    expect(stderr).toContain("unknown command 'trian'");
  });
});

describe('recallkit train / eval', () => {
  it('trains, saves the model, and eval of the saved model reproduces the metrics', async () => {
    const dir = await tempDir();
    const config = await writeYaml(dir, 'tiny.yaml', tinyExperiment('tiny-rsk', rsk));
    const out = join(dir, 'run');
    const trained = await run(['train', config, '--out', out, '--json']);
    expect(trained.stderr).toBe('');
    expect(trained.code).toBe(0);
    const result = JSON.parse(trained.stdout);
    // 4 classes x 12 images, batches of 4 x 3: 4 batches per epoch.
    expect(result.steps).toBe(4);
    expect(result.curve).toHaveLength(4);
    expect(result.trainImages).toBe(48);
    expect((await stat(join(out, 'model.ckpt'))).size).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).metrics).toEqual(result.metrics);
    const trainLog = (await readFile(join(out, 'train.jsonl'), 'utf8')).trim().split('\n');
    expect(trainLog.map((line) => JSON.parse(line).loss)).toEqual(
      result.curve.map((p: { loss: number }) => p.loss),
    );

    const evaluated = await run(['eval', out, '--json']);
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.stdout)).toMatchObject({ metrics: result.metrics, trained: true, steps: 4 });

    // The config alone evaluates the untrained network: the same for the same seed, and not the trained one.
    const untrained = JSON.parse((await run(['eval', config, '--json'])).stdout);
    expect(JSON.parse((await run(['eval', config, '--json'])).stdout).metrics).toEqual(untrained.metrics);
    expect(untrained.trained).toBe(false);
    expect(untrained.metrics).not.toEqual(result.metrics);
  });

  it('exits 1 with a one-line cause naming the file and field of a bad config', async () => {
    const dir = await tempDir();
    const config = await writeYaml(
      dir,
      'bad.yaml',
      tinyExperiment('bad', { name: 'rks' }, { optimizer: { name: 'adam', lr: 'fast' } }),
    );
    const { code, stderr } = await run(['train', config]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`recallkit: ${config}: loss: unknown loss 'rks' (did you mean 'rsk'?)`);
    expect(stderr).toContain("optimizer: optimizer:adam: 'lr': expected number, received string");
    expect(stderr).toContain('[INVALID_CONFIG]');
  });

  it('reports YAML syntax errors and missing files', async () => {
    const dir = await tempDir();
    const broken = await writeYaml(dir, 'broken.yaml', 'name: x\nloss: [rsk\n');
    expect((await run(['train', broken])).stderr).toMatch(
      /broken\.yaml: not valid YAML: .*\[CONFIG_SYNTAX\]\n$/,
    );
    expect((await run(['train', join(dir, 'nope.yaml')])).stderr).toContain(
      'nope.yaml: no such experiment file',
    );
    expect((await run(['eval', join(dir, 'nowhere')])).stderr).toContain('[CHECKPOINT_MISSING]');
  });
});

describe('recallkit train: augmentation, periodic evaluation, overrides', () => {
  it('asks the dataset for augmented training images unless train.augment is false', async () => {
    const dir = await tempDir();
    augmentCalls.length = 0;
    const on = await writeYaml(dir, 'on.yaml', tinyExperiment('aug-on', rsk, { seeds: [3] }));
    expect((await run(['train', on, '--out', join(dir, 'on')])).code).toBe(0);
    // Each of the 4 steps loads its batch once, with the run's seed and the epoch (the batch fits
    // in one chunk, so the step is the plain one).
    expect(augmentCalls).toHaveLength(4);
    expect(augmentCalls.every((a) => a.seed === 3 && a.epoch === 0)).toBe(true);
    augmentCalls.length = 0;
    const off = await writeYaml(
      dir,
      'off.yaml',
      tinyExperiment('aug-off', rsk, { train: { epochs: 1, augment: false } }),
    );
    expect((await run(['train', off, '--out', join(dir, 'off')])).code).toBe(0);
    expect(augmentCalls).toHaveLength(0);
  });

  it('evaluates every n epochs, keeps the best model, and reports final and best', async () => {
    const dir = await tempDir();
    const config = await writeYaml(
      dir,
      'periodic.yaml',
      tinyExperiment('periodic', rsk, { train: { epochs: 3, evaluateEvery: 1, selectBy: 'map@r' } }),
    );
    const out = join(dir, 'run');
    const trained = await run(['train', config, '--out', out, '--json']);
    expect(trained.code).toBe(0);
    const result = JSON.parse(trained.stdout);
    expect(result.evaluations.map((e: { epoch: number; step: number }) => [e.epoch, e.step])).toEqual([
      [1, 4],
      [2, 8],
      [3, 12],
    ]);
    // The final metrics are the last evaluation's; the best is the evaluation with the highest MAP@R.
    expect(result.metrics).toEqual(result.evaluations[2].metrics);
    const maps = result.evaluations.map((e: { metrics: { mapAtR: number } }) => e.metrics.mapAtR);
    expect(result.best.metrics.mapAtR).toBe(Math.max(...maps));
    expect(result.best.epoch).toBe(maps.indexOf(Math.max(...maps)) + 1);
    const best = JSON.parse((await run(['eval', join(out, 'best.ckpt'), '--json'])).stdout);
    expect(best).toMatchObject({ metrics: result.best.metrics, trained: true, steps: result.best.step });
  });

  it("evaluates the final model on the dataset's further test sets", async () => {
    const dir = await tempDir();
    const config = await writeYaml(
      dir,
      'sets.yaml',
      tinyExperiment('tiny-sets', rsk, { dataset: { name: 'tiny-blobs', testSets: true } }),
    );
    const result = JSON.parse((await run(['train', config, '--out', join(dir, 'run'), '--json'])).stdout);
    // The same images as the test set give the same metrics; other images give others.
    expect(result.testSets.same).toEqual(result.metrics);
    expect(result.testSets.other).not.toEqual(result.metrics);
    expect(result.testSets.other.recall['1']).toBeGreaterThanOrEqual(0);
  });

  it('overrides fields of the config with --set, typed as YAML', async () => {
    const dir = await tempDir();
    const config = await writeYaml(dir, 'tiny.yaml', tinyExperiment('tiny-set', rsk));
    const { code, stdout } = await run([
      'train',
      config,
      '--out',
      join(dir, 'run'),
      '--json',
      '--set',
      'sampler.classesPerBatch=2',
      '--set',
      'train.epochs=2',
    ]);
    expect(code).toBe(0);
    // 48 images in batches of 2 classes x 3: 8 steps per epoch, 2 epochs.
    expect(JSON.parse(stdout).steps).toBe(16);
    const bad = await run(['train', config, '--set', 'loss.k.deep=1']);
    expect(bad.stderr).toContain(
      "--set loss.k.deep=1: 'loss.k' is [1,2,4], not a mapping [INVALID_OVERRIDE]",
    );
    expect((await run(['train', config, '--set', 'noequals'])).stderr).toContain('[INVALID_OVERRIDE]');
  });

  it('resumes a run to the same weights as an uninterrupted one, and never mixes two runs', async () => {
    const dir = await tempDir();
    const config = await writeYaml(dir, 'tiny.yaml', tinyExperiment('tiny-resume', rsk));
    const straight = join(dir, 'straight');
    const resumed = join(dir, 'resumed');
    const args = ['--json', '--checkpoint-every', '3'];
    const full = JSON.parse(
      (await run(['train', config, '--out', straight, '--epochs', '2', ...args])).stdout,
    );
    expect((await run(['train', config, '--out', resumed, '--epochs', '1', ...args])).code).toBe(0);
    // Training the same folder again without --resume is refused, and nothing in it changes.
    const before = await readFile(join(resumed, 'train.jsonl'), 'utf8');
    const again = await run(['train', config, '--out', resumed]);
    expect(again.stderr).toContain('already holds a run: continue it with --resume');
    expect(await readFile(join(resumed, 'train.jsonl'), 'utf8')).toBe(before);
    const continued = await run(['train', config, '--out', resumed, '--epochs', '2', '--resume', ...args]);
    expect(continued.code).toBe(0);
    const result = JSON.parse(continued.stdout);
    expect(result.steps).toBe(8);
    expect(result.metrics).toEqual(full.metrics);
    expect(result.curve).toEqual(full.curve);
    const steps = (await readFile(join(resumed, 'train.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const [a, b] = await Promise.all([straight, resumed].map((d) => readTrainedModel(join(d, 'model.ckpt'))));
    expect(b!.weights).toEqual(a!.weights);
    expect(b!.meta.steps).toBe(8);
    expect((await run(['train', config, '--out', join(dir, 'none'), '--resume'])).stderr).toContain(
      '[RESUME_NOTHING]',
    );
  });

  it('removes the run folder it created when the run fails before any checkpoint', async () => {
    const dir = await tempDir();
    const config = await writeYaml(dir, 'tiny.yaml', tinyExperiment('tiny-fail', rsk));
    const out = join(dir, 'failed');
    const failed = await run(['train', config, '--out', out, '--set', 'sampler.classesPerBatch=9']);
    expect(failed.code).toBe(1);
    await expect(stat(out)).rejects.toThrow();
  });

  it('turns a component named by a string into a mapping when --set gives it an option', () => {
    expect(
      applyOverrides({ dataset: 'sop', train: { epochs: 1 } }, ['dataset.root=/data/sop', 'train.chunk=50']),
    ).toEqual({
      dataset: { name: 'sop', root: '/data/sop' },
      train: { epochs: 1, chunk: 50 },
    });
  });
});

describe('recallkit info', () => {
  it('reports versions, the backend, faiss and the components', async () => {
    const { code, stdout } = await run(['info', '--backend', 'cpu', '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info.backend.active).toBe('cpu');
    expect(info.backend.registered).toEqual(expect.arrayContaining(['cpu', 'wasm']));
    expect(info.backend.threads).toBe(1);
    expect(typeof info.faiss.loaded).toBe('boolean');
    expect(info.recallkit['@recallkit/cli']).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.components.loss).toEqual(
      expect.arrayContaining(['contrastive', 'rsk (recall-at-k, recallatk)']),
    );
  });

  it('on wasm, says how many threads run and which kernels run natively', async () => {
    const { code, stdout } = await run(['info', '--backend', 'wasm']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^backend +wasm, \d+ threads? /m);
    // Natively where tools/setup built @recallkit/kernels-linux-x64; otherwise the reason.
    expect(stdout).toMatch(/^native kernels +(Conv2D, FusedConv2D, .* on OpenBLAS .*|none: .+)$/m);
  });
});
