import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate } from '@recallkit/losses';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorsPairOrder, simix } from '../src/index';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));
const input = fixture('case1.json') as { embeddings: number[][]; labels: number[] };
const reference = fixture('case1_simix_ref.json') as {
  alphas_in_draw_order: number[];
  pair_order_within_class: number[][];
  loss: number;
  grad_wrt_original_embeddings: number[][];
};

beforeAll(async () => {
  await useBackend('wasm');
});

describe('authors parity (case1, RS@k with their mixup)', () => {
  it('uses the authors pair order for 4 per class', () => {
    expect(authorsPairOrder(4)).toEqual(reference.pair_order_within_class);
  });

  it.each([
    ['fused', 'fused'],
    ['composite', 'composite'],
  ] as const)(
    'matches the reference loss and gradient with the recorded alphas (mixing %s, RS@k %s)',
    (mixing, rsk) => {
      // RS@k's defaults are the authors' configuration: k = 1..16, tauRank 0.01, tauK 1, query in the rank
      const loss = simix(recallAtKSurrogate({ implementation: rsk }), {
        alphas: reference.alphas_in_draw_order,
        implementation: mixing,
      });
      const embeddings = tf.tensor2d(input.embeddings);
      const { value, grad } = tf.valueAndGrad((e: tf.Tensor) => loss(e as tf.Tensor2D, input.labels))(
        embeddings,
      );
      expect(Math.abs(value.dataSync()[0]! - reference.loss)).toBeLessThan(1e-6);
      const got = grad.arraySync() as number[][];
      let worst = 0;
      got.forEach((row, i) => {
        row.forEach((g, j) => {
          worst = Math.max(worst, Math.abs(g - reference.grad_wrt_original_embeddings[i]![j]!));
        });
      });
      expect(worst).toBeLessThan(1e-5);
      tf.dispose([embeddings, value, grad]);
    },
  );
});
