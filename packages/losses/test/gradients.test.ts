import { tf, useBackend } from '@recallkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recallAtKSurrogate, smoothAP, terminateWorkers } from '../src/index';
import {
  bruteRsk,
  bruteSmoothAP,
  gramOf,
  type Matrix,
  maxAbsDiff,
  numericGrad,
  relevanceOf,
  seeded,
  unitRows,
} from './brute';

beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(terminateWorkers);

/** 14 unit vectors in 5-d with uneven, shuffled classes, exact duplicates and a lone query. */
function awkwardBatch(seed: number): { e: Matrix; labels: number[] } {
  const rand = seeded(seed);
  const e = unitRows(rand, 14, 5);
  const labels = [3, 1, 3, 7, 1, 3, 9, 1, 3, 7, 1, 3, 1, 42]; // class 42 has no positive
  e[5] = e[0]!.slice(); // duplicate inside a class (a tie on every query)
  e[9] = e[4]!.slice(); // duplicate across classes
  return { e, labels };
}

function ours(loss: (e: tf.Tensor2D, y: number[]) => tf.Scalar, e: Matrix, labels: number[]) {
  const x = tf.tensor2d(e);
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => loss(v as tf.Tensor2D, labels))(x);
  const out = { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
  tf.dispose([x, value, grad]);
  return out;
}

const rskCases = [
  {
    name: 'defaults',
    opts: {},
    brute: { ks: [1, 2, 4, 8, 16], tauRank: 0.01, tauKs: [1, 1, 1, 1, 1], includeQueryInRank: true },
  },
  {
    name: 'query out of the rank, tauRank 0.05',
    opts: { includeQueryInRank: false, tauRank: 0.05 },
    brute: { ks: [1, 2, 4, 8, 16], tauRank: 0.05, tauKs: [1, 1, 1, 1, 1], includeQueryInRank: false },
  },
  {
    name: 'k [1, 3], tauK per k',
    opts: { k: [1, 3], tauK: [0.5, 2], tauRank: 0.1 },
    brute: { ks: [1, 3], tauRank: 0.1, tauKs: [0.5, 2], includeQueryInRank: true },
  },
  {
    // Reach k + 50 tauK = 8 of 13 ranked rows: positives ranked below it skip the rank sum, while
    // soft ranks (tauRank 0.3) near k keep the gradient far from zero (checked below).
    name: 'k [2, 3], tauK 0.1 (positives out of reach of k skip the rank sum)',
    opts: { k: [2, 3], tauK: 0.1, tauRank: 0.3, includeQueryInRank: false },
    brute: { ks: [2, 3], tauRank: 0.3, tauKs: [0.1, 0.1], includeQueryInRank: false },
  },
];

describe.each(['fused', 'composite'] as const)(
  'value and finite differences against brute force (%s)',
  (implementation) => {
    for (const seed of [1, 2]) {
      it.each(rskCases)(`RS@k $name, seed ${seed}`, ({ opts, brute }) => {
        const { e, labels } = awkwardBatch(seed);
        const { rel, self } = relevanceOf(labels);
        const f = (x: Matrix) => bruteRsk(gramOf(x), rel, self, brute);
        const r = ours(recallAtKSurrogate({ ...opts, implementation }), e, labels);
        expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
        const fd = numericGrad(f, e).flat();
        // A gradient this small would let an all-zero one pass the tolerance below.
        expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(1e-2);
        expect(maxAbsDiff(r.grad, fd)).toBeLessThan(2e-4 * Math.max(1, ...fd.map(Math.abs)));
      });

      it.each([true, false])(`Smooth-AP queryAsPositive %s, seed ${seed}`, (queryAsPositive) => {
        const { e, labels } = awkwardBatch(seed);
        const { rel, self } = relevanceOf(labels);
        const f = (x: Matrix) => bruteSmoothAP(gramOf(x), rel, self, 0.01, queryAsPositive);
        const r = ours(smoothAP({ queryAsPositive, implementation }), e, labels);
        expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
        const fd = numericGrad(f, e).flat();
        expect(maxAbsDiff(r.grad, fd)).toBeLessThan(2e-4 * Math.max(1, ...fd.map(Math.abs)));
      });
    }

    it('onScores on a reference set (queries not among the columns) and a partial self', () => {
      const rand = seeded(11);
      const q = unitRows(rand, 5, 4);
      const db = unitRows(rand, 9, 4);
      db[2] = q[0]!.slice(); // query 0 appears in the database as column 2
      const qLabels = [0, 1, 2, 1, 5];
      const dbLabels = [1, 0, 0, 2, 1, 2, 0, 1, 3];
      const self = [2, -1, -1, -1, -1];
      const rel = qLabels.map((a, i) => dbLabels.map((b, j) => (a === b && j !== self[i] ? 1 : 0)));
      const scoreOf = (x: Matrix) => x.map((a) => db.map((b) => a.reduce((s, v, i) => s + v * b[i]!, 0)));
      for (const [loss, brute] of [
        [
          recallAtKSurrogate({ implementation, tauRank: 0.05 }),
          (s: Matrix) =>
            bruteRsk(s, rel, self, {
              ks: [1, 2, 4, 8, 16],
              tauRank: 0.05,
              tauKs: [1, 1, 1, 1, 1],
              includeQueryInRank: true,
            }),
        ],
        [
          recallAtKSurrogate({ implementation, tauRank: 0.05, includeQueryInRank: false }),
          (s: Matrix) =>
            bruteRsk(s, rel, self, {
              ks: [1, 2, 4, 8, 16],
              tauRank: 0.05,
              tauKs: [1, 1, 1, 1, 1],
              includeQueryInRank: false,
            }),
        ],
        [smoothAP({ implementation, tau: 0.05 }), (s: Matrix) => bruteSmoothAP(s, rel, self, 0.05, true)],
        [
          smoothAP({ implementation, tau: 0.05, queryAsPositive: false }),
          (s: Matrix) => bruteSmoothAP(s, rel, self, 0.05, false),
        ],
      ] as const) {
        const x = tf.tensor2d(q);
        const dbT = tf.tensor2d(db);
        const relevant = tf.tensor2d(rel);
        const { value, grad } = tf.valueAndGrad((v: tf.Tensor) =>
          loss.onScores!({
            scores: tf.matMul(v as tf.Tensor2D, dbT, false, true),
            relevant,
            self: Int32Array.from(self),
          }),
        )(x);
        expect(Math.abs(value.dataSync()[0]! - brute(scoreOf(q)))).toBeLessThan(1e-6);
        const fd = numericGrad((m) => brute(scoreOf(m)), q).flat();
        expect(maxAbsDiff(grad.dataSync(), fd)).toBeLessThan(2e-4 * Math.max(1, ...fd.map(Math.abs)));
        tf.dispose([x, dbT, relevant, value, grad]);
      }
    });
  },
);

const rskBrute = { ks: [1, 2, 4, 8, 16], tauRank: 0.01, tauKs: [1, 1, 1, 1, 1], includeQueryInRank: true };

describe('the two implementations agree', () => {
  function randomBatch(seed: number, rows: number, dim: number, classes: number) {
    const rand = seeded(seed);
    const e = unitRows(rand, rows, dim);
    const labels = Array.from({ length: rows }, () => Math.floor(rand() * classes));
    return { e, labels };
  }

  it.each([
    ['RS@k', (implementation: 'fused' | 'composite') => recallAtKSurrogate({ implementation })],
    [
      'RS@k paper',
      (implementation: 'fused' | 'composite') =>
        recallAtKSurrogate({ implementation, includeQueryInRank: false, tauRank: 0.03 }),
    ],
    ['Smooth-AP', (implementation: 'fused' | 'composite') => smoothAP({ implementation })],
    [
      'Smooth-AP paper',
      (implementation: 'fused' | 'composite') => smoothAP({ implementation, queryAsPositive: false }),
    ],
  ] as const)('%s on random batches within 1e-6', (_, make) => {
    for (const [seed, rows, dim, classes] of [
      [3, 60, 8, 15],
      [4, 90, 16, 6],
      [5, 33, 3, 11],
    ] as const) {
      const { e, labels } = randomBatch(seed, rows, dim, classes);
      const a = ours(make('fused'), e, labels);
      const b = ours(make('composite'), e, labels);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
      expect(maxAbsDiff(a.grad, b.grad)).toBeLessThan(1e-6);
    }
  });

  it('RS@k where most positives are out of reach of every k (row-sparse gradient)', () => {
    for (const seed of [8, 9]) {
      const { e, labels } = randomBatch(seed, 240, 16, 60);
      const make = (implementation: 'fused' | 'composite') =>
        recallAtKSurrogate({ implementation, k: [1, 2], tauK: 0.2 });
      const a = ours(make('fused'), e, labels);
      const b = ours(make('composite'), e, labels);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
      expect(maxAbsDiff(a.grad, b.grad)).toBeLessThan(1e-6);
      expect(Math.max(...a.grad.map(Math.abs))).toBeGreaterThan(1e-5);
    }
  });

  it('RS@k with many positives per query on bunched similarities (the far-pair series)', () => {
    // 10 classes x 16 around one common direction: similarities in about [0.3, 1], like an
    // untrained network's. Positives are visited from the most similar down until one is out of
    // reach, and pairs more than 10 tauRank below a positive are summed by the series.
    const rand = seeded(23);
    const centre = unitRows(rand, 1, 8)[0]!;
    const classCentres = unitRows(rand, 10, 8).map((c) => c.map((v, i) => 1.2 * centre[i]! + 0.6 * v));
    const e = unitRows(rand, 160, 8).map((r, i) => {
      const x = r.map((v, c) => classCentres[i % 10]![c]! + 0.4 * v);
      const n = Math.hypot(...x);
      return x.map((v) => v / n);
    });
    const labels = e.map((_, i) => i % 10);
    const s = gramOf(e);
    const off = s.flatMap((row, i) => row.filter((_, j) => j !== i));
    expect(Math.min(...off)).toBeGreaterThan(0.1);
    expect(Math.max(...off) - Math.min(...off)).toBeGreaterThan(0.3); // wider than 10 tauRank
    const { rel, self } = relevanceOf(labels);
    const f = (x: Matrix) => bruteRsk(gramOf(x), rel, self, rskBrute);
    const fused = ours(recallAtKSurrogate({ implementation: 'fused' }), e, labels);
    const composite = ours(recallAtKSurrogate({ implementation: 'composite' }), e, labels);
    expect(Math.abs(fused.loss - f(e))).toBeLessThan(1e-6);
    expect(maxAbsDiff(fused.grad, composite.grad)).toBeLessThan(1e-6);
    expect(Math.max(...fused.grad.map(Math.abs))).toBeGreaterThan(1e-3);
    // Central differences of the float64 definition on the entries with the largest gradient.
    const top = fused.grad
      .map((g, i) => [Math.abs(g), i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, 4);
    for (const [, i] of top) {
      const row = Math.floor(i / 8);
      const col = i % 8;
      const at = (h: number) =>
        f(e.map((r, k) => (k === row ? r.map((v, c) => (c === col ? v + h : v)) : r)));
      const fd = (at(1e-6) - at(-1e-6)) / 2e-6;
      expect(Math.abs(fused.grad[i]! - fd)).toBeLessThan(1e-4 * Math.max(1, Math.abs(fd)));
    }
  });

  it('onScores: worker threads and row blocks give the single-thread result', () => {
    const rand = seeded(12);
    const q = tf.tensor2d(unitRows(rand, 50, 6));
    const db = tf.tensor2d(unitRows(rand, 80, 6));
    const relevant = tf.tensor2d(
      Array.from({ length: 50 }, (_, i) => Array.from({ length: 80 }, (_, j) => (j % 10 === i % 10 ? 1 : 0))),
    );
    const run = (threads: number, blockElements: number) => {
      const loss = smoothAP({ threads, blockElements, tau: 0.05 });
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
        loss.onScores!({ scores: tf.matMul(x as tf.Tensor2D, db, false, true), relevant }),
      )(q);
      return { loss: value.dataSync()[0]!, grad: grad.dataSync() };
    };
    const one = run(1, 1 << 21);
    const two = run(2, 800);
    expect(Math.abs(one.loss - two.loss)).toBeLessThan(1e-12);
    expect(maxAbsDiff(one.grad, two.grad)).toBeLessThan(1e-7);
  });

  it('small composite blocks give the same result as one block', () => {
    const { e, labels } = randomBatch(6, 50, 8, 10);
    const whole = ours(
      recallAtKSurrogate({ implementation: 'composite', blockElements: 1 << 24 }),
      e,
      labels,
    );
    const blocked = ours(recallAtKSurrogate({ implementation: 'composite', blockElements: 500 }), e, labels);
    expect(Math.abs(whole.loss - blocked.loss)).toBeLessThan(1e-7);
    expect(maxAbsDiff(whole.grad, blocked.grad)).toBeLessThan(1e-7);
  });

  it('worker threads and row blocks give the single-thread, single-block result', () => {
    const { e, labels } = randomBatch(7, 120, 8, 30);
    for (const make of [
      (threads: number, blockElements: number) => recallAtKSurrogate({ threads, blockElements }),
      (threads: number, blockElements: number) => smoothAP({ threads, blockElements }),
      (threads: number, blockElements: number) =>
        recallAtKSurrogate({ threads, blockElements, k: [2, 3], tauK: 0.1, tauRank: 0.3 }),
    ]) {
      const one = ours(make(1, 1 << 21), e, labels);
      for (const [threads, blockElements] of [
        [1, 1000],
        [3, 1000],
        [2, 120],
      ] as const) {
        const other = ours(make(threads, blockElements), e, labels);
        expect(Math.abs(one.loss - other.loss)).toBeLessThan(1e-12);
        expect(maxAbsDiff(one.grad, other.grad)).toBeLessThan(1e-7);
      }
    }
  });
});
