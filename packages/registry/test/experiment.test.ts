import { RecallkitError } from '@recallkit/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRegistry, validateExperiment } from '../src/index';

function registryWithEverything() {
  const registry = createRegistry();
  const empty = { schema: z.strictObject({}), create: () => ({}) };
  registry.register('backend', 'wasm', empty);
  registry.register('dataset', 'mnist', {
    schema: z.strictObject({ split: z.enum(['train', 'test']).default('train') }),
    create: () => ({}),
  });
  registry.register('sampler', 'm-per-class', {
    schema: z.strictObject({
      classesPerBatch: z.number().int().positive(),
      samplesPerClass: z.number().int().positive(),
    }),
    create: () => ({}),
  });
  registry.register('backbone', 'small-cnn', {
    schema: z.strictObject({ embeddingDim: z.number().int().default(128) }),
    create: () => ({}),
  });
  registry.register('loss', 'rsk', {
    schema: z.strictObject({ tau: z.number().default(0.01) }),
    create: () => ({}),
  });
  registry.register('optimizer', 'adam', {
    schema: z.strictObject({ lr: z.number().positive() }),
    create: () => ({}),
  });
  registry.register('evaluator', 'retrieval', empty);
  return registry;
}

const good = {
  name: 'mnist-rsk',
  dataset: 'mnist',
  sampler: { name: 'm-per-class', classesPerBatch: 5, samplesPerClass: 80 },
  model: { backbone: 'small-cnn' },
  loss: { name: 'rsk', tau: 0.02 },
  optimizer: { name: 'adam', lr: 0.001 },
  train: { epochs: 2 },
};

function problems(raw: unknown): string[] {
  try {
    validateExperiment(raw, registryWithEverything(), 'experiments/x.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(RecallkitError);
    expect((error as RecallkitError).code).toBe('INVALID_CONFIG');
    expect((error as RecallkitError).message.startsWith('experiments/x.yaml: ')).toBe(true);
    return (error as RecallkitError).details!['problems'] as string[];
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('validateExperiment', () => {
  it('resolves every component and fills defaults', () => {
    const experiment = validateExperiment(good, registryWithEverything());
    expect(experiment.seeds).toEqual([0]);
    expect(experiment.train).toEqual({
      epochs: 2,
      logEvery: 1,
      augment: true,
      evaluateEvery: 0,
      selectBy: 'recall@1',
    });
    expect(experiment.components.backend).toEqual({ id: 'backend:wasm', options: {} });
    expect(experiment.components.dataset).toEqual({ id: 'dataset:mnist', options: { split: 'train' } });
    expect(experiment.components.backbone).toEqual({
      id: 'backbone:small-cnn',
      options: { embeddingDim: 128 },
    });
    expect(experiment.components.loss).toEqual({ id: 'loss:rsk', options: { tau: 0.02 } });
    expect(experiment.components.evaluator.id).toBe('evaluator:retrieval');
    expect(experiment.components.mixup).toBeUndefined();
  });

  it('reports missing sections and wrong types by field', () => {
    const { loss: _loss, ...noLoss } = good;
    expect(problems({ ...noLoss, train: { epochs: 'two' } })).toEqual([
      "'loss': missing: expected a component name or { name, ...options }",
      "'train.epochs': expected number, received string",
    ]);
    expect(problems({ ...good, extra: 1 })).toEqual(["unknown option 'extra'"]);
    expect(problems({ ...good, seeds: [0, -1] })).toEqual([
      "'seeds[1]': Too small: expected number to be >=0",
    ]);
  });

  it('collects every component problem at once, naming the section', () => {
    const found = problems({
      ...good,
      loss: { name: 'rks' },
      optimizer: { name: 'adam', lr: '1e-3' },
      sampler: { name: 'm-per-class', classesPerBatch: 5 },
    });
    expect(found).toHaveLength(3);
    expect(found[0]).toBe(
      "sampler: sampler:m-per-class: 'samplesPerClass': expected number, received undefined",
    );
    expect(found[1]).toBe("loss: unknown loss 'rks' (did you mean 'rsk'?); registered: rsk");
    expect(found[2]).toBe("optimizer: optimizer:adam: 'lr': expected number, received string");
  });
});
