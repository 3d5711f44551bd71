import { tf, useBackend } from '@recallkit/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contrastive, type EmbeddingLoss, recallAtKSurrogate, smoothAP } from '../src/index';
import { relevanceOf, seeded, unitRows } from './brute';

// On a GPU backend every value read back to the host is a synchronisation and a copy. The composite
// implementation (what 'auto' picks there) must read back one value per row for its input checks
// and nothing of size B x d or Q x N. Counted here on the cpu backend, whose reads go through the
// same `readSync` / `read` a GPU backend's do.

beforeAll(async () => {
  await useBackend('cpu');
});

let restore: (() => void) | undefined;
afterEach(() => restore?.());

/** Counts the values read back from the backend while `f` runs. */
function valuesReadBack(f: () => void): number {
  const backend = tf.backend();
  const { readSync, read } = backend;
  let count = 0;
  backend.readSync = (dataId: object) => {
    const values = readSync.call(backend, dataId);
    count += values.length;
    return values;
  };
  backend.read = async (dataId: object) => {
    const values = await read.call(backend, dataId);
    count += values.length;
    return values;
  };
  restore = () => {
    backend.readSync = readSync;
    backend.read = read;
  };
  try {
    f();
  } finally {
    restore();
  }
  return count;
}

const B = 48;
const dim = 16;
const labels = Array.from({ length: B }, (_, i) => i % 12);

function embeddingsCall(loss: EmbeddingLoss) {
  const x = tf.tensor2d(unitRows(seeded(7), B, dim));
  let grad: tf.Tensor | undefined;
  let value: tf.Scalar | undefined;
  const read = valuesReadBack(() => {
    ({ value, grad } = tf.valueAndGrad((e: tf.Tensor) => loss(e as tf.Tensor2D, labels))(x));
  });
  const out = { read, value: value!.dataSync()[0]!, gradNorm: tf.tidy(() => tf.norm(grad!).dataSync()[0]!) };
  tf.dispose([x, value!, grad!]);
  return out;
}

function scoresCall(loss: EmbeddingLoss) {
  const e = tf.tensor2d(unitRows(seeded(8), B, dim));
  const scores = tf.matMul(e, e, false, true) as tf.Tensor2D;
  const relevant = Float32Array.from(relevanceOf(labels).rel.flat());
  const self = Int32Array.from({ length: B }, (_, i) => i);
  let grad: tf.Tensor | undefined;
  let value: tf.Scalar | undefined;
  const read = valuesReadBack(() => {
    ({ value, grad } = tf.valueAndGrad((s: tf.Tensor) =>
      loss.onScores!({ scores: s as tf.Tensor2D, relevant, self }),
    )(scores));
  });
  const out = { read, value: value!.dataSync()[0]! };
  tf.dispose([e, scores, value!, grad!]);
  return out;
}

describe('the composite path reads back one value per row, not the batch', () => {
  const losses: [string, () => EmbeddingLoss][] = [
    ['RS@k', () => recallAtKSurrogate({ implementation: 'composite' })],
    ['RS@k, normalize', () => recallAtKSurrogate({ implementation: 'composite', normalize: true })],
    ['Smooth-AP', () => smoothAP({ implementation: 'composite' })],
  ];
  it.each(losses)('%s on embeddings: loss and gradient', (_, make) => {
    const { read, value, gradNorm } = embeddingsCall(make());
    expect(read).toBe(B);
    expect(value).toBeGreaterThan(0);
    expect(gradNorm).toBeGreaterThan(1e-4);
  });

  it.each([
    ...losses,
    ['contrastive', () => contrastive()] as const,
    ['contrastive (pml form)', () => contrastive({ form: 'pml' })] as const,
  ])('%s on a score block with host relevance', (_, make) => {
    const { read, value } = scoresCall(make());
    expect(read).toBe(B);
    expect(value).toBeGreaterThan(0);
  });

  it('the fused path, by contrast, reads the B x B scores back (what it computes on)', () => {
    const { read } = embeddingsCall(recallAtKSurrogate({ implementation: 'fused', threads: 1 }));
    expect(read).toBeGreaterThanOrEqual(B * B);
  });
});
