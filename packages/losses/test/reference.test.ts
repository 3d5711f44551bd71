import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { recallAtKSurrogate, smoothAP } from '../src/index';
import { maxAbsDiff } from './brute';

// Values produced by the authors' code (see fixtures/PROVENANCE.md).
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));
const input = fixture('case1.json');
const rskRef = fixture('case1_ref.json');
const sapRef = fixture('case1_smoothap_ref.json');
const simixRef = fixture('case1_simix_ref.json');
const labels: number[] = input.labels;

function lossAndGrad(loss: (e: tf.Tensor2D, y: number[]) => tf.Scalar, rows: number[][]) {
  const x = tf.tensor2d(rows);
  const { value, grad } = tf.valueAndGrad((e: tf.Tensor) => loss(e as tf.Tensor2D, labels))(x);
  const out = { loss: value.dataSync()[0]!, grad: grad.dataSync() };
  tf.dispose([x, value, grad]);
  return out;
}

const IMPLEMENTATIONS = ['fused', 'composite'] as const;

beforeAll(async () => {
  await useBackend('wasm');
});

describe.each(IMPLEMENTATIONS)('reference values of the authors code (%s)', (implementation) => {
  it('RS@k defaults: loss and every gradient entry', () => {
    const r = lossAndGrad(recallAtKSurrogate({ implementation }), input.embeddings);
    expect(Math.abs(r.loss - 0.93933673323653555)).toBeLessThan(1e-6);
    expect(Math.abs(r.loss - rskRef.float64.loss)).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, rskRef.float64.grad.flat())).toBeLessThan(1e-5);
  });

  it('RS@k with the query left out of the rank (the paper)', () => {
    const r = lossAndGrad(
      recallAtKSurrogate({ implementation, includeQueryInRank: false }),
      input.embeddings,
    );
    expect(Math.abs(r.loss - 0.92658563323933063)).toBeLessThan(1e-6);
    expect(Math.abs(r.loss - rskRef.spec_loss_if_query_excluded_from_rank)).toBeLessThan(1e-6);
  });

  it('RS@k with tau_k = k (older default of the authors code)', () => {
    const variant = rskRef['variant_k_temperatures_equal_k_[1,2,4,8,16]'];
    const r = lossAndGrad(recallAtKSurrogate({ implementation, tauK: [1, 2, 4, 8, 16] }), input.embeddings);
    expect(Math.abs(r.loss - 0.90158333270992586)).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, variant.grad.flat())).toBeLessThan(1e-5);
  });

  it('RS@k through the L2 normalisation (gradient with respect to raw)', () => {
    const ref = rskRef.grad_wrt_raw_through_l2_normalize;
    const r = lossAndGrad(recallAtKSurrogate({ implementation, normalize: true }), input.raw);
    expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, ref.grad.flat())).toBeLessThan(1e-5);
  });

  it('RS@k gradient entries checked by finite differences in the reference', () => {
    const r = lossAndGrad(recallAtKSurrogate({ implementation }), input.embeddings);
    for (const { row, col, fd } of rskRef.finite_difference_check) {
      expect(Math.abs(r.grad[row * 16 + col]! - fd)).toBeLessThan(1e-5);
    }
  });

  it('Smooth-AP defaults: loss and gradient (float64 full precision)', () => {
    const ref = sapRef.float64_full_precision;
    const r = lossAndGrad(smoothAP({ implementation }), input.embeddings);
    expect(Math.abs(r.loss - 0.65530701626467591)).toBeLessThan(1e-6);
    expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, ref.grad.flat())).toBeLessThan(1e-5);
  });

  it('Smooth-AP with the query out of positives and database (paper style)', () => {
    const r = lossAndGrad(smoothAP({ implementation, queryAsPositive: false }), input.embeddings);
    expect(Math.abs(r.loss - 0.9129187568936612)).toBeLessThan(1e-6);
    expect(Math.abs(r.loss - sapRef.spec_loss_if_query_excluded_from_positives_and_database)).toBeLessThan(
      1e-6,
    );
  });

  it('RS@k onScores on the SiMix-extended block reproduces the mixup reference', () => {
    const pairs: [number, number][] = simixRef.pair_order_within_class;
    const alphas: number[] = simixRef.alphas_in_draw_order;
    // Mixing matrix M (160 x 64): mixed batch = M E, laid out as in the reference file.
    const m = new Float32Array(160 * 64);
    const mixedLabels: number[] = [];
    for (let c = 0; c < 16; c++) {
      for (let i = 0; i < 4; i++) m[(10 * c + i) * 64 + 4 * c + i] = 1;
      pairs.forEach(([a, b], t) => {
        const alpha = alphas[c * 6 + t]!;
        const row = (10 * c + 4 + t) * 64 + 4 * c;
        m[row + a] = m[row + a]! + alpha;
        m[row + b] = m[row + b]! + 1 - alpha;
      });
      for (let i = 0; i < 10; i++) mixedLabels.push(c);
    }
    const loss = recallAtKSurrogate({ implementation });
    const mix = tf.tensor2d(m, [160, 64]);
    const relevant = tf.tensor2d(
      mixedLabels.map((a, i) => mixedLabels.map((b, j) => (a === b && i !== j ? 1 : 0))),
    );
    const self = new Int32Array(160).map((_, i) => i);
    const x = tf.tensor2d(input.embeddings);
    const { value, grad } = tf.valueAndGrad((e: tf.Tensor) => {
      const mixed = tf.matMul(mix, e as tf.Tensor2D);
      return loss.onScores!({ scores: tf.matMul(mixed, mixed, false, true), relevant, self });
    })(x);
    expect(Math.abs(value.dataSync()[0]! - 0.61347876690312331)).toBeLessThan(1e-6);
    expect(maxAbsDiff(grad.dataSync(), simixRef.grad_wrt_original_embeddings.flat())).toBeLessThan(1e-5);
    tf.dispose([mix, relevant, x, value, grad]);
  });
});
