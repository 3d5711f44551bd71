import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TrainingDataset, train } from '../src/index';
import { memoryDataset, mlp, mPerClass, pairLoss } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

/** A dataset whose loads take `ms` of wall time (as file decoding on other threads does), logged. */
function slowDataset(inner: TrainingDataset, ms: number, events: string[]): TrainingDataset {
  return {
    length: inner.length,
    labels: inner.labels,
    async load(indices, augment) {
      const name = `${indices[0]}+${indices.length}`;
      events.push(`load ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      return inner.load(indices, augment);
    },
  };
}

describe('the trainer loads ahead', () => {
  const dataset = memoryDataset(48, [8], 6);
  const sampler = mPerClass(dataset.labels, 2, 4, 5); // batches of 8
  const perEpoch = sampler.batches(0).length;
  const STEPS = perEpoch + 2; // into the second epoch, stopped by the iteration cap

  async function run(chunkSize: number, loadMs: number, loadAhead?: boolean) {
    const events: string[] = [];
    const before = tf.memory().numTensors;
    const model = mlp(8, 6, 3);
    const result = await train({
      model,
      loss: pairLoss,
      dataset: slowDataset(dataset, loadMs, events),
      sampler,
      epochs: 3,
      iterations: STEPS,
      chunkSize,
      seed: 1,
      augment: true,
      optimizer: { type: 'adamw', learningRate: 0.01 },
      progress: false,
      ...(loadAhead === undefined ? {} : { loadAhead }),
      onStep: ({ step }) => {
        events.push(`step ${step}`);
      },
    });
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.dispose();
    return { events, result, weights, leaked: tf.memory().numTensors - before };
  }

  it("starts the next chunk's load before the current step ends, and wastes none", async () => {
    const { events, result, leaked } = await run(5, 5);
    expect(result.steps).toBe(STEPS);
    const batches = [...sampler.batches(0), ...sampler.batches(1)];
    // Each step asks for its two chunks in stage 1 and again in stage 3: four loads a step, each
    // requested exactly once, and the next batch's first chunk before the step is over (except
    // across an epoch or at the iteration cap).
    expect(events.filter((e) => e.startsWith('load')).length).toBe(STEPS * 4);
    for (let step = 1; step < STEPS; step++) {
      const next = batches[step]!;
      const firstOfNext = events.indexOf(`load ${next[0]}+5`, events.indexOf(`step ${step - 1}`));
      if (step % perEpoch === 0) expect(firstOfNext).toBeGreaterThan(events.indexOf(`step ${step}`));
      else expect(firstOfNext).toBeLessThan(events.indexOf(`step ${step}`));
    }
    expect(leaked).toBe(0);
  });

  it('one chunk a step: one load a step, the next one started during the step', async () => {
    const { events } = await run(8, 5);
    expect(events.filter((e) => e.startsWith('load')).length).toBe(STEPS);
    expect(events.slice(0, 3)).toEqual([
      `load ${sampler.batches(0)[0]![0]}+8`,
      `load ${sampler.batches(0)[1]![0]}+8`,
      'step 1',
    ]);
  });

  it('loadAhead: false loads each chunk when the step asks for it, to the same weights', async () => {
    const ahead = await run(5, 5);
    const { events, weights } = await run(5, 5, false);
    expect(events.filter((e) => e.startsWith('load')).length).toBe(STEPS * 4);
    const first = sampler.batches(0);
    expect(events.indexOf(`load ${first[1]![0]}+5`)).toBeGreaterThan(events.indexOf('step 1'));
    expect(weights).toEqual(ahead.weights);
  });

  it('gives the weights of a run whose loads are immediate', async () => {
    const slow = await run(5, 5);
    const fast = await run(5, 0);
    expect(slow.result.loss).toBe(fast.result.loss);
    expect(slow.weights).toEqual(fast.weights);
  });
});
