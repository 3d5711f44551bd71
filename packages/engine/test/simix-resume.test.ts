// Resume with SiMix: the mixup's generator is part of the checkpoint, so a run interrupted at step k
// and resumed ends with the same weights, bit for bit, as one that ran straight through.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate } from '@recallkit/losses';
import { simix } from '@recallkit/mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TrainLoss, type TrainOptions, train } from '../src/index';
import { memoryDataset, mlp, mPerClass } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const TOTAL = 10;
const dataset = memoryDataset(48, [8], 6);
const temp = (name: string) => mkdtempSync(path.join(tmpdir(), `engine-${name}-`));

/** A fresh model and loss each time, as a new process would build them. */
function options(extra: Partial<TrainOptions> & { wrap?: (loss: TrainLoss) => TrainLoss }): TrainOptions {
  const { wrap = (l) => l, ...rest } = extra;
  const loss = simix(recallAtKSurrogate({ tauRank: 0.1 }), { seed: 'mix', pairs: 2, crossClass: 3 });
  return {
    model: mlp(8, 6, 3),
    loss: wrap(loss),
    dataset,
    sampler: mPerClass(dataset.labels, 3, 4, 5),
    epochs: 20,
    iterations: TOTAL,
    chunkSize: 5,
    seed: 4,
    optimizer: { type: 'adamw', learningRate: 0.02, weightDecay: 0.01 },
    progress: false,
    ...rest,
  };
}

async function run(extra: Parameters<typeof options>[0]) {
  const o = options(extra);
  const losses: number[] = [];
  const result = await train({ ...o, onStep: ({ loss }) => void losses.push(loss) });
  const bytes = o.model.weights.map((w) => Buffer.from((w.read().dataSync() as Float32Array).buffer));
  return { result, losses, bytes: Buffer.concat(bytes).toString('hex'), model: o.model };
}

describe('resume with SiMix', () => {
  it('a run stopped at step k and resumed ends with the same weights, byte for byte', async () => {
    const straight = await run({ checkpoint: { dir: temp('simix-straight'), everySteps: 3 } });
    const start = mlp(8, 6, 3);
    const initial = Buffer.concat(start.weights.map((w) => Buffer.from(w.read().dataSync().buffer))).toString(
      'hex',
    );
    expect(straight.bytes).not.toBe(initial); // it trained
    for (const k of [1, 4, 7]) {
      const dir = temp(`simix-${k}`);
      const first = await run({ iterations: k, checkpoint: { dir, everySteps: 3 } });
      expect(first.result.steps).toBe(k);
      const resumed = await run({ checkpoint: { dir, everySteps: 3 }, resume: true });
      expect(resumed.result.steps).toBe(TOTAL);
      expect([...first.losses, ...resumed.losses]).toEqual(straight.losses);
      expect(resumed.bytes).toBe(straight.bytes);
    }
  });

  it('a loss that hides its generator from the trainer is refused on resume, not resumed inexactly', async () => {
    // What the trainer sees when a wrapper drops simix's randomState: the draws restart on resume.
    const hide =
      (loss: TrainLoss): TrainLoss =>
      (e, l, c) =>
        loss(e, l, c);
    const dir = temp('simix-hidden');
    const straight = await run({ wrap: hide, checkpoint: { dir: temp('simix-hidden-straight') } });
    await run({ wrap: hide, iterations: 4, checkpoint: { dir } });
    const inexact = await run({ wrap: hide, checkpoint: { dir }, resume: true });
    expect(inexact.bytes).not.toBe(straight.bytes);
    // With the generator exposed, the same checkpoint (it holds no state for it) is refused.
    await expect(run({ checkpoint: { dir }, resume: true })).rejects.toMatchObject({
      code: 'CHECKPOINT_MISMATCH',
      message: expect.stringMatching(/loss keeps random state, but the checkpoint holds none/),
    });
  });

  it('a generator that cannot be saved stops the run before its first step', async () => {
    const loss = simix(recallAtKSurrogate(), { rng: { next: () => 0.5 } });
    let steps = 0;
    await expect(
      train({
        ...options({ checkpoint: { dir: temp('simix-unsaveable') } }),
        loss,
        onStep: () => {
          steps++;
        },
      }),
    ).rejects.toMatchObject({ code: 'SIMIX_STATE' });
    expect(steps).toBe(0);
    tf.disposeVariables();
  });
});
