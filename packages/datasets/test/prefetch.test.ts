import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../src/dataset';
import { prefetchBatches } from '../src/prefetch';

beforeAll(async () => {
  await useBackend('cpu');
});

/** A dataset whose loads resolve only when the test says so, recording how many are in flight. */
function gatedDataset() {
  const pending: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const dataset: Dataset = {
    name: 'gated',
    length: 100,
    labels: Int32Array.from({ length: 100 }, (_, i) => i % 10),
    numClasses: 10,
    sampleShape: [1, 1, 1],
    load(indices) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise((resolve) =>
        pending.push(() => {
          inFlight--;
          resolve(tf.tensor4d(Float32Array.from(indices), [indices.length, 1, 1, 1]));
        }),
      );
    },
  };
  return { dataset, pending, stats: () => ({ inFlight, maxInFlight }) };
}

const batches = Array.from({ length: 6 }, (_, b) => Int32Array.from([b * 3, b * 3 + 1, b * 3 + 2]));

describe('prefetchBatches', () => {
  it('yields batches in order with their labels and never loads more than depth ahead', async () => {
    const g = gatedDataset();
    const release = setInterval(() => g.pending.shift()?.(), 1);
    const seen: number[][] = [];
    for await (const b of prefetchBatches(g.dataset, batches, { depth: 2 })) {
      seen.push(Array.from(b.images.dataSync()));
      expect(Array.from(b.labels)).toEqual(Array.from(b.indices, (i) => i % 10));
      b.images.dispose();
      await new Promise((r) => setTimeout(r, 5)); // a slow consumer lets loads pile up, if they could
    }
    clearInterval(release);
    expect(seen).toEqual(batches.map((b) => Array.from(b)));
    expect(g.stats().maxInFlight).toBe(2);
  });

  it('disposes the batches loaded ahead when the consumer stops early', async () => {
    const g = gatedDataset();
    const release = setInterval(() => g.pending.shift()?.(), 1);
    const before = tf.memory().numTensors;
    for await (const b of prefetchBatches(g.dataset, batches, { depth: 3 })) {
      b.images.dispose();
      break;
    }
    await new Promise((r) => setTimeout(r, 30));
    clearInterval(release);
    expect(tf.memory().numTensors).toBe(before);
  });
});
