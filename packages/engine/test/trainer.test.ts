import { existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, type TrainOptions, train, writeCheckpoint } from '../src/index';
import { memoryDataset, mlp, mPerClass, pairLoss } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const dataset = memoryDataset(48, [8], 6);
const temp = (name: string) => mkdtempSync(path.join(tmpdir(), `engine-${name}-`));

function options(extra: Partial<TrainOptions>): TrainOptions {
  return {
    model: mlp(8, 6, 3),
    loss: pairLoss,
    dataset,
    sampler: mPerClass(dataset.labels, 2, 4, 5),
    epochs: 2,
    chunkSize: 5,
    seed: 1,
    optimizer: { type: 'adamw', learningRate: 0.01 },
    progress: false,
    ...extra,
  };
}

describe('checkpoint files', () => {
  it('round-trip meta and tensors', async () => {
    const file = path.join(temp('rt'), 'a.ckpt');
    const data = Float32Array.from([1.5, -2, 3.25, Number.MAX_VALUE, 7, 8]);
    await writeCheckpoint(file, {
      meta: { hello: 'world', n: 3 },
      tensors: [{ name: 'w', shape: [2, 3], data }],
    });
    const back = await readCheckpoint(file);
    expect(back.meta).toEqual({ hello: 'world', n: 3 });
    expect(back.tensors[0]?.shape).toEqual([2, 3]);
    expect(Array.from(back.tensors[0]?.data ?? [])).toEqual(Array.from(data));
    expect(readdirSync(path.dirname(file))).toEqual(['a.ckpt']); // no temporary left behind
  });

  it('detects a flipped byte and a truncation', async () => {
    const dir = temp('bad');
    const file = path.join(dir, 'a.ckpt');
    await writeCheckpoint(file, {
      meta: {},
      tensors: [{ name: 'w', shape: [4], data: new Float32Array([1, 2, 3, 4]) }],
    });
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff;
    writeFileSync(path.join(dir, 'flipped.ckpt'), bytes);
    await expect(readCheckpoint(path.join(dir, 'flipped.ckpt'))).rejects.toThrow(/checksum mismatch/);
    truncateSync(file, bytes.length - 5);
    await expect(readCheckpoint(file)).rejects.toMatchObject({
      code: 'CHECKPOINT_CORRUPT',
      message: expect.stringMatching(/truncated/),
    });
  });
});

describe('train', () => {
  it('keeps the tensor count flat: the same after step 10 and step 97', async () => {
    // Both are mid-epoch (3 batches an epoch), so each holds the next batch's first chunk, loaded
    // ahead; the run's last step does not.
    const counts = new Map<number, number>();
    const dir = temp('leak');
    const result = await train(
      options({
        epochs: 100,
        iterations: 100,
        checkpoint: { dir, everySteps: 25 },
        onStep: ({ step }) => {
          if (step === 10 || step === 97) counts.set(step, tf.memory().numTensors);
        },
      }),
    );
    expect(result.steps).toBe(100);
    expect(counts.get(97)).toBe(counts.get(10));
  });

  it('refuses a corrupt newest checkpoint and keeps the previous good one', async () => {
    const dir = temp('corrupt');
    await train(options({ epochs: 2, checkpoint: { dir, everySteps: 2, keep: 2 } })); // 3 batches per epoch
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['step-000000004.ckpt', 'step-000000006.ckpt']);
    const newest = path.join(dir, 'step-000000006.ckpt');
    truncateSync(newest, Math.floor(readFileSync(newest).length / 2)); // as a full disk might leave it
    const attempt = train(options({ epochs: 4, checkpoint: { dir, everySteps: 2 }, resume: true }));
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    await expect(attempt).rejects.toThrow(/truncated.*step-000000004\.ckpt/s);
    expect(existsSync(path.join(dir, 'step-000000004.ckpt'))).toBe(true);
    // Resuming from the good one explicitly works and finishes the run.
    const resumed = await train(
      options({
        epochs: 4,
        checkpoint: { dir, everySteps: 2 },
        resume: path.join(dir, 'step-000000004.ckpt'),
      }),
    );
    expect(resumed.steps).toBe(12);
  });

  it('refuses to resume with different settings', async () => {
    const dir = temp('mismatch');
    await train(options({ epochs: 1, checkpoint: { dir, everySteps: 3 } }));
    await expect(
      train(options({ epochs: 2, chunkSize: 4, checkpoint: { dir }, resume: true })),
    ).rejects.toMatchObject({ code: 'CHECKPOINT_MISMATCH', message: expect.stringMatching(/chunkSize/) });
  });

  it('evaluates every N epochs, keeps the best checkpoint and logs JSONL', async () => {
    const dir = temp('eval');
    const log = path.join(dir, 'metrics.jsonl');
    const scores = [0.2, 0.6, 0.4];
    const seen: number[] = [];
    const result = await train(
      options({
        epochs: 6,
        checkpoint: { dir },
        log,
        evaluate: {
          everyEpochs: 2,
          metric: 'recall@1',
          run: async ({ epoch }) => {
            seen.push(epoch);
            return { 'recall@1': scores[seen.length - 1] as number };
          },
        },
      }),
    );
    expect(seen).toEqual([1, 3, 5]);
    expect(result.best).toMatchObject({ metric: 'recall@1', value: 0.6, epoch: 3 });
    const best = await readCheckpoint(path.join(dir, 'best.ckpt'));
    expect(best.meta['state']).toMatchObject({ step: 12, best: { value: 0.6, epoch: 3 } });
    const records = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.filter((r) => r.event === undefined).map((r) => r.step)).toEqual(
      Array.from({ length: 18 }, (_, i) => i + 1),
    );
    expect(records.filter((r) => r.event === 'evaluation').map((r) => r['recall@1'])).toEqual(scores);
    expect(records[0]).toMatchObject({ step: 1, epoch: 0, learningRate: 0.01 });
    expect(records[0].imagesPerSecond).toBeGreaterThan(0);
  });

  it('applies the step schedule and the head learning rate', async () => {
    const model = mlp(8, 6, 3);
    const head = model.layers[1] as tf.layers.Layer;
    const headBefore = head.getWeights().map((w) => Array.from(w.dataSync()));
    const trunkBefore = Array.from((model.layers[0] as tf.layers.Layer).getWeights()[0]?.dataSync() ?? []);
    const rates: number[] = [];
    await train(
      options({
        model,
        epochs: 3,
        schedule: { milestones: [1, 2], gamma: 0.1 },
        head: { learningRate: 0 },
        onStep: ({ learningRate }) => {
          rates.push(learningRate);
        },
      }),
    );
    expect(rates.map((r) => Number(r.toPrecision(6)))).toEqual(
      [0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001, 0.0001, 0.0001].map((r) => Number(r.toPrecision(6))),
    );
    expect(head.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(headBefore);
    expect(Array.from((model.layers[0] as tf.layers.Layer).getWeights()[0]?.dataSync() ?? [])).not.toEqual(
      trunkBefore,
    );
  });
});
