import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
    expect(JSON.parse(evaluated.stdout).metrics).toEqual(result.metrics);

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

describe('recallkit info', () => {
  it('reports versions, the backend, faiss and the components', async () => {
    const { code, stdout } = await run(['info', '--backend', 'cpu', '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info.backend.active).toBe('cpu');
    expect(info.backend.registered).toEqual(expect.arrayContaining(['cpu', 'wasm']));
    expect(typeof info.faiss.loaded).toBe('boolean');
    expect(info.recallkit['@recallkit/cli']).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.components.loss).toEqual(
      expect.arrayContaining(['contrastive', 'rsk (recall-at-k, recallatk)']),
    );
  });
});
