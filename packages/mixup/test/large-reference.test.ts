// RS@k with SiMix at 400 embeddings (1,000 rows once mixed) against the authors' code: pos_mixup
// and RecallatK of yash0307/RecallatK_surrogate, run by packages/losses/test/fixtures/large_gen.py
// (fixtures/large_simix_ref.json), with the coefficients it drew.
import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { type RecallAtKOptions, recallAtKSurrogate, terminateWorkers } from '@recallkit/losses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumOf,
  float32FromBase64,
  type LargeCase,
  largeCaseInput,
} from '../../../tools/test/large-reference';
import { type MixImplementation, simix } from '../src/index';

interface MixedCase extends LargeCase {
  numpy_seed: number;
  alphas_in_draw_order: number[];
  loss: number;
  grad_f32_b64: string;
}
const fixture: { cases: MixedCase[] } = JSON.parse(
  readFileSync(new URL('fixtures/large_simix_ref.json', import.meta.url), 'utf8'),
);
const cases = fixture.cases.map((c) => ({
  ...c,
  ...largeCaseInput(c),
  grad: float32FromBase64(c.grad_f32_b64),
}));

// As packages/losses/test/large-reference.test.ts: float32 similarities against float64 ones.
// Measured worst cases: loss 1.1e-7, gradient entry 1.2e-5 of the largest entry.
const LOSS_TOLERANCE = 5e-7;
const GRAD_TOLERANCE = 1e-4;

const SETTINGS: [string, MixImplementation, RecallAtKOptions][] = [
  ['fused mixing, fused RS@k', 'fused', { implementation: 'fused', threads: 1 }],
  [
    'fused mixing, fused RS@k on 2 threads in blocks of 10 rows',
    'fused',
    {
      implementation: 'fused',
      threads: 2,
      blockElements: 10 * 1000,
    },
  ],
  ['composite mixing, composite RS@k', 'composite', { implementation: 'composite' }],
];

beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(terminateWorkers);

describe.each(cases)('SiMix on $name (400 x $dim, alphas of numpy seed $numpy_seed)', (c) => {
  it('regenerates the embeddings bit for bit', () => {
    expect(checksumOf(c.embeddings)).toEqual(c.checksum);
    expect(c.alphas_in_draw_order).toHaveLength(6 * c.classes);
  });

  it.each(SETTINGS)('%s: loss and gradient of the authors code', (_, mixing, options) => {
    const loss = simix(recallAtKSurrogate(options), {
      alphas: c.alphas_in_draw_order,
      implementation: mixing,
    });
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(c.embeddings, [c.labels.length, c.dim]);
    const { value, grad } = tf.valueAndGrad((e: tf.Tensor) => loss(e as tf.Tensor2D, c.labels))(x);
    const got = grad.dataSync();
    expect(Math.abs(value.dataSync()[0]! - c.loss)).toBeLessThan(LOSS_TOLERANCE);
    let [worst, scale] = [0, 0];
    for (let i = 0; i < c.grad.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - c.grad[i]!));
      scale = Math.max(scale, Math.abs(c.grad[i]!));
    }
    expect(worst / scale).toBeLessThan(GRAD_TOLERANCE);
    expect(loss.lastStats?.queries).toBe(1000);
    tf.dispose([x, value, grad]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
