// The engine with the project's real parts: smallCnn, MNIST, the m-per-class sampler and RS@k.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { mnist, mPerClassSampler } from '@recallkit/datasets';
import { recallAtKSurrogate } from '@recallkit/losses';
import { smallCnn } from '@recallkit/models';
import { describe, expect, it } from 'vitest';
import { chunkedGradients, fullBatchGradients, readCheckpoint, train } from '../src/index';
import { relativeError } from './helpers';

const data = await mnist({ split: 'test' });
const sampler = mPerClassSampler({
  labels: data.labels,
  classesPerBatch: 10,
  samplesPerClass: 2,
  seed: 3,
  lengthBeforeNewIter: 60,
});

describe('smallCnn + MNIST + RS@k', () => {
  // cpu is covered by the small CNN of chunked-step.test.ts: the 28x28 net takes minutes there.
  for (const backend of ['wasm'] as const) {
    it(`chunked gradients equal full-batch gradients on ${backend}`, async () => {
      await useBackend(backend);
      const model = smallCnn({ seed: 1, embeddingDim: 16 });
      const indices = sampler.batches(0)[0] as Int32Array;
      const labels = Int32Array.from(indices, (i) => data.labels[i] as number);
      const inputs = await data.load(indices);
      const loss = recallAtKSurrogate({ k: [1, 2], tauRank: 0.1 });
      const full = fullBatchGradients({ model, loss, inputs, labels });
      const loader = (start: number, end: number) => data.load(indices.subarray(start, end));
      const chunked = await chunkedGradients({
        model,
        loss,
        inputs: loader,
        batchSize: 20,
        labels,
        chunkSize: 6,
        debug: true,
      });
      expect(chunked.loss).toBeCloseTo(full.loss, 5);
      chunked.gradients.forEach((g, i) => {
        expect(relativeError(g.dataSync(), (full.gradients[i] as tf.Tensor).dataSync())).toBeLessThan(1e-5);
      });
      tf.dispose([inputs, ...full.gradients, ...chunked.gradients]);
      model.dispose();
    });
  }

  it('trains and checkpoints through the real dataset and sampler', async () => {
    await useBackend('wasm');
    const dir = mkdtempSync(path.join(tmpdir(), 'engine-real-'));
    const model = smallCnn({ seed: 2, embeddingDim: 16 });
    const losses: number[] = [];
    const result = await train({
      model,
      loss: recallAtKSurrogate({ k: [1, 2], tauRank: 0.1 }),
      dataset: data,
      sampler,
      epochs: 2,
      chunkSize: 8,
      optimizer: { type: 'adamw', learningRate: 3e-3 },
      checkpoint: { dir, everySteps: 2 },
      debug: true,
      progress: false,
      onStep: ({ loss }) => {
        losses.push(loss);
      },
    });
    expect(result.steps).toBe(6);
    expect(losses.every(Number.isFinite)).toBe(true);
    const saved = await readCheckpoint(result.lastCheckpoint as string);
    const fc = model.getLayer('fc').getWeights()[0] as tf.Tensor;
    const index = model.weights.findIndex((w) => w.name === model.getLayer('fc').weights[0]?.name);
    expect(Array.from(saved.tensors.find((t) => t.name === `weight:${index}`)?.data ?? [])).toEqual(
      Array.from(fc.dataSync()),
    );
  });
});
