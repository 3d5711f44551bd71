// The chunked step with RS@k and RS@k + SiMix at 400 embeddings against the authors' code
// (fixtures/large_chunked_ref.json, made by packages/losses/test/fixtures/large_gen.py). The model
// is a dense layer without bias whose kernel is the identity, fed the case's embeddings: it embeds
// them exactly, so d loss / d kernel = X^T (d loss / d embeddings) of the authors' gradient.
import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate, terminateWorkers } from '@recallkit/losses';
import { simix } from '@recallkit/mixup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumOf,
  float32FromBase64,
  type LargeCase,
  largeCaseInput,
} from '../../../tools/test/large-reference';
import { chunkedGradients } from '../src/index';

interface ChunkedCase extends LargeCase {
  simix: boolean;
  alphas_in_draw_order: number[];
  loss: number;
  kernel_grad_f32_b64: string;
}
const fixture: { cases: ChunkedCase[] } = JSON.parse(
  readFileSync(new URL('fixtures/large_chunked_ref.json', import.meta.url), 'utf8'),
);
const cases = fixture.cases.map((c) => ({
  ...c,
  ...largeCaseInput(c),
  kernelGrad: float32FromBase64(c.kernel_grad_f32_b64),
}));

// As packages/losses/test/large-reference.test.ts (float32 against float64). Measured worst cases:
// loss 2.6e-8, kernel gradient entry 1.1e-5 of the largest entry.
const LOSS_TOLERANCE = 5e-7;
const GRAD_TOLERANCE = 1e-4;

beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(terminateWorkers);

function identityModel(dim: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [dim], units: dim, useBias: false, kernelInitializer: 'identity' }),
    ],
  });
}

describe.each(cases)('chunked step on $name, simix $simix', (c) => {
  it.each([
    [64, 'fused'],
    [400, 'fused'],
    [150, 'composite'],
  ] as const)(
    'chunks of %i rows, %s RS@k: loss and kernel gradient of the authors code',
    async (chunkSize, implementation) => {
      expect(checksumOf(c.embeddings)).toEqual(c.checksum);
      const rsk = recallAtKSurrogate({ implementation });
      const loss = c.simix ? simix(rsk, { alphas: c.alphas_in_draw_order }) : rsk;
      const model = identityModel(c.dim);
      const inputs = tf.tensor2d(c.embeddings, [c.labels.length, c.dim]);
      const before = tf.memory().numTensors;
      const result = await chunkedGradients({
        model,
        loss,
        inputs,
        labels: c.labels,
        chunkSize,
        debug: true,
      });
      expect(result.gradients).toHaveLength(1);
      const got = result.gradients[0]!.dataSync();
      tf.dispose(result.gradients);
      expect(tf.memory().numTensors).toBe(before);
      inputs.dispose();
      model.dispose();
      expect(Math.abs(result.loss - c.loss)).toBeLessThan(LOSS_TOLERANCE);
      let [worst, scale] = [0, 0];
      for (let i = 0; i < got.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - c.kernelGrad[i]!));
        scale = Math.max(scale, Math.abs(c.kernelGrad[i]!));
      }
      expect(worst / scale).toBeLessThan(GRAD_TOLERANCE);
    },
  );
});
