import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, tempDir, tinyExperiment, writeYaml } from './helpers';

describe('recallkit bench', () => {
  it('compares configs (one loss from the example plugin) over seeds and writes every artefact', async () => {
    const dir = await tempDir();
    const rsk = await writeYaml(dir, 'rsk.yaml', tinyExperiment('tiny-rsk', { name: 'rsk', k: [1, 2, 4] }));
    const triplet = await writeYaml(
      dir,
      'triplet.yaml',
      tinyExperiment(
        'tiny-triplet',
        { name: 'triplet', margin: 0.3 },
        {
          plugins: [tinyExperiment('', null).plugins[0], '@recallkit-examples/plugin-triplet'],
        },
      ),
    );
    const out = join(dir, 'report');
    const { code, stdout, stderr } = await run([
      'bench',
      rsk,
      triplet,
      '--seeds',
      '0,1',
      '--workers',
      '1',
      '--out',
      out,
      '--json',
    ]);
    expect(stderr).toContain('[6/6]');
    expect(code).toBe(0);
    const { summaries, paths } = JSON.parse(stdout);
    expect(summaries.map((s: { experiment: string }) => s.experiment)).toEqual([
      'mlp untrained',
      'tiny-rsk',
      'tiny-triplet',
    ]);
    expect(summaries[2].loss).toBe('triplet');

    const results = JSON.parse(await readFile(paths.json, 'utf8'));
    expect(results.runs).toHaveLength(6);
    // Mean and sample standard deviation recomputed from the two seeds' runs.
    const values = results.runs
      .filter((r: { experiment: string }) => r.experiment === 'tiny-rsk')
      .map((r: { metrics: { mapAtR: number } }) => r.metrics.mapAtR);
    const mean = (values[0] + values[1]) / 2;
    expect(summaries[1].mapAtR.mean).toBeCloseTo(mean, 12);
    expect(summaries[1].mapAtR.std).toBeCloseTo(Math.abs(values[0] - values[1]) / Math.SQRT2, 12);

    const table = await readFile(paths.markdown, 'utf8');
    expect(table).toContain('| tiny-triplet | triplet | 2 |');
    expect(table).toContain(`${summaries[1].mapAtR.mean.toFixed(4)} ± ${summaries[1].mapAtR.std.toFixed(4)}`);
    const html = await readFile(paths.html, 'utf8');
    for (const file of [
      'results.md',
      'results.json',
      'recall.svg',
      'recall.png',
      'training-curves.svg',
      'training-curves.png',
    ]) {
      expect(html).toContain(`href="${file}"`);
    }
    const png = await readFile(join(out, 'recall.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(await readFile(join(out, 'training-curves.svg'), 'utf8')).toContain('tiny-triplet (triplet)');
  });

  it('keeps finished runs and takes them back when the same bench runs again', async () => {
    const dir = await tempDir();
    const config = await writeYaml(dir, 'rsk.yaml', tinyExperiment('keep-rsk', { name: 'rsk', k: [1, 2] }));
    const out = join(dir, 'report');
    const args = ['bench', config, '--seeds', '0,1', '--workers', '1', '--out', out, '--json'];
    const first = JSON.parse((await run(args)).stdout);
    expect((await readdir(join(out, 'runs'))).sort()).toEqual([
      'keep-rsk-seed0.json',
      'keep-rsk-seed1.json',
      'keep-rsk-untrained-seed0.json',
      'keep-rsk-untrained-seed1.json',
    ]);
    // A run whose file is gone (as after a kill before it finished) is run again; the others are kept.
    await rm(join(out, 'runs', 'keep-rsk-seed1.json'));
    const second = JSON.parse((await run(args)).stdout);
    const metricsOf = (r: { summaries: { recall: unknown; mapAtR: unknown }[] }) =>
      r.summaries.map((x) => [x.recall, x.mapAtR]);
    expect(metricsOf(second)).toEqual(metricsOf(first));
    const notes = JSON.parse(await readFile(second.paths.json, 'utf8')).notes.join(' ');
    expect(notes).toContain('3 of 4 runs were kept from an earlier, interrupted bench');
    // A changed experiment file is a different job: nothing of it is kept.
    await writeYaml(dir, 'rsk.yaml', tinyExperiment('keep-rsk', { name: 'rsk', k: [1, 4] }));
    const third = JSON.parse((await run(args)).stdout);
    expect(JSON.parse(await readFile(third.paths.json, 'utf8')).notes.join(' ')).not.toContain('kept');
    expect((await run([...args.slice(0, -1), '--workers', '0'])).stderr).toContain(
      'expected a positive integer',
    );
  });

  it('refuses configs that differ in data, model or budget', async () => {
    const dir = await tempDir();
    const a = await writeYaml(dir, 'a.yaml', tinyExperiment('a', 'rsk'));
    const b = await writeYaml(dir, 'b.yaml', tinyExperiment('b', 'smoothap', { train: { epochs: 2 } }));
    const { code, stderr } = await run(['bench', a, b, '--workers', '1', '--out', join(dir, 'r')]);
    expect(code).toBe(1);
    expect(stderr).toContain("'epochs' of");
    expect(stderr).toContain('[BENCH_NOT_COMPARABLE]');
  });
});
