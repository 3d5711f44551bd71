import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry } from '@recallkit/registry';
import { describe, expect, it } from 'vitest';
import { loadExperiment, registerBuiltins } from '../src/index';

const dir = fileURLToPath(new URL('../../../experiments/', import.meta.url));

describe('experiments/', async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  it('holds the MNIST comparison and the paper settings', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'mnist-rsk.yaml',
        'mnist-rsk-simix.yaml',
        'mnist-smoothap.yaml',
        'mnist-contrastive.yaml',
        'sop-rsk.yaml',
        'inaturalist-rsk.yaml',
        'cub-rsk.yaml',
        'cars196-rsk.yaml',
      ]),
    );
  });

  it.each(files)('%s validates against the built-in components', async (file) => {
    const experiment = await loadExperiment(join(dir, file), registerBuiltins(createRegistry()));
    expect(experiment.name).toBe(file.replace(/\.yaml$/, ''));
  });

  it('gives SOP the authors’ batch, chunk, optimiser and schedule', async () => {
    const sop = await loadExperiment(join(dir, 'sop-rsk.yaml'), registerBuiltins(createRegistry()));
    const { sampler, optimizer, schedule } = sop.components;
    expect(
      (sampler.options['classesPerBatch'] as number) * (sampler.options['samplesPerClass'] as number),
    ).toBe(4000);
    expect(sop.train.chunk).toBe(200);
    expect(optimizer).toEqual({ id: 'optimizer:adam', options: { lr: 0.0002, weightDecay: 0.0004 } });
    expect(schedule).toEqual({
      id: 'schedule:step',
      options: { milestones: [25, 50], gamma: 0.3, unit: 'epoch' },
    });
  });
});
