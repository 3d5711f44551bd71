import { createRng } from '@recallkit/core';
import { describe, expect, it } from 'vitest';
import { authorsPairOrder, planMixup } from '../src/index';

const pairKey = ([a, b]: number[]) => `${a},${b}`;
const grouped = (classes: number, perClass: number) =>
  Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass));

describe('authorsPairOrder', () => {
  it('follows the authors code for 3 and 6 per class', () => {
    expect(authorsPairOrder(3)).toEqual([
      [0, 1],
      [1, 2],
      [0, 2],
    ]);
    // src/mixup.py, num_pos == 6: fake_1 .. fake_15
    expect(authorsPairOrder(6).map(pairKey)).toEqual([
      '0,1',
      '1,2',
      '2,3',
      '3,4',
      '4,5',
      '0,2',
      '0,3',
      '0,4',
      '0,5',
      '1,3',
      '1,4',
      '1,5',
      '2,4',
      '2,5',
      '3,5',
    ]);
  });

  it('gives all m(m-1)/2 distinct pairs, chain first, for any m', () => {
    for (const m of [0, 1, 2, 5, 7, 10]) {
      const order = authorsPairOrder(m);
      expect(order).toHaveLength((m * (m - 1)) / 2);
      expect(new Set(order.map(pairKey)).size).toBe(order.length);
      for (const [a, b] of order) expect(0 <= a && a < b && b < m).toBe(true);
      for (let i = 0; i + 1 < m; i++) expect(order[i]).toEqual([i, i + 1]);
    }
  });
});

describe('planMixup', () => {
  it('faithful default: every same-class pair, mixes after the originals, all queries', () => {
    const labels = grouped(16, 4);
    const plan = planMixup(labels, {}, { rng: createRng(1) });
    expect(plan.alpha).toHaveLength(96);
    expect(plan.sameClass).toBe(96);
    expect(plan.labels).toHaveLength(160);
    expect(plan.queries).toBe(160);
    // class 2's six mixes are virtual samples 12..17, over originals 8..11 in the authors order
    const pairs = Array.from({ length: 6 }, (_, t) => [plan.first[12 + t]! - 8, plan.second[12 + t]! - 8]);
    expect(pairs).toEqual(authorsPairOrder(4));
    expect(Array.from(plan.labels.subarray(64 + 12, 64 + 18))).toEqual([2, 2, 2, 2, 2, 2]);
    for (const a of plan.alpha) expect(a >= 0 && a < 1).toBe(true);
  });

  it('counts virtual samples on uneven classes, classes in order of first appearance', () => {
    // class sizes: label 7 -> 3, label 2 -> 1, label 5 -> 5, label 0 -> 2
    const labels = [7, 5, 7, 2, 5, 5, 0, 7, 5, 0, 5];
    const plan = planMixup(labels, {}, { rng: createRng(0) });
    expect(plan.alpha).toHaveLength(3 + 0 + 10 + 1);
    expect(Array.from(plan.labels.subarray(0, labels.length))).toEqual([0, 1, 0, 2, 1, 1, 3, 0, 1, 3, 1]);
    expect(Array.from(plan.labels.subarray(labels.length))).toEqual([0, 0, 0, ...Array(10).fill(1), 3]);
    // first mix of label 7: its first two samples, rows 0 and 2; label 0's one mix: rows 6 and 9
    expect([plan.first[0], plan.second[0]]).toEqual([0, 2]);
    expect([plan.first[13], plan.second[13]]).toEqual([6, 9]);
  });

  it('random pairs per class: n distinct same-class pairs, fewer when a class has fewer', () => {
    const labels = [...grouped(5, 5), 9, 9];
    const plan = planMixup(labels, { pairs: 3 }, { rng: createRng(4) });
    expect(plan.alpha).toHaveLength(5 * 3 + 1);
    for (let c = 0; c < 5; c++) {
      const keys = new Set<string>();
      for (let t = 0; t < 3; t++) {
        const v = 3 * c + t;
        const a = plan.first[v]!;
        const b = plan.second[v]!;
        expect(labels[a]).toBe(c);
        expect(labels[b]).toBe(c);
        expect(a).not.toBe(b);
        keys.add(pairKey([Math.min(a, b), Math.max(a, b)]));
      }
      expect(keys.size).toBe(3);
    }
  });

  it('cross-class mixes: two classes each, label -1, database only', () => {
    const labels = grouped(6, 4);
    const plan = planMixup(labels, { crossClass: 20 }, { rng: createRng(3) });
    expect(plan.alpha).toHaveLength(36 + 20);
    expect(plan.sameClass).toBe(36);
    expect(plan.queries).toBe(24 + 36);
    for (let v = 36; v < 56; v++) {
      expect(labels[plan.first[v]!]).not.toBe(labels[plan.second[v]!]);
      expect(plan.labels[24 + v]).toBe(-1);
    }
  });

  it("side 'database': only the originals are queries", () => {
    const plan = planMixup(grouped(3, 4), { side: 'database' }, { rng: createRng(0) });
    expect(plan.queries).toBe(12);
    expect(plan.labels).toHaveLength(12 + 18);
  });

  it('same seed, same plan; another seed, another plan; explicit alphas are used as given', () => {
    const labels = grouped(8, 4);
    const options = { pairs: 4, crossClass: 5 };
    const a = planMixup(labels, options, { rng: createRng(42) });
    const b = planMixup(labels, options, { rng: createRng(42) });
    const c = planMixup(labels, options, { rng: createRng(43) });
    expect(b).toEqual(a);
    expect(Array.from(c.alpha)).not.toEqual(Array.from(a.alpha));
    const alphas = Array.from({ length: 37 }, (_, v) => v / 40);
    const fixed = planMixup(labels, options, { rng: createRng(42), alphas });
    expect(Array.from(fixed.alpha)).toEqual(Array.from(Float32Array.from(alphas)));
    expect(Array.from(fixed.first)).toEqual(Array.from(a.first)); // pair draws unaffected
  });

  it('rejects bad input with a named error', () => {
    const rng = createRng(0);
    expect(() => planMixup([0, 0, 1, 1], {}, { rng, alphas: [0.5] })).toThrow(
      /alphas has 1 values but this batch draws 2/,
    );
    expect(() => planMixup([0, 0, 1, 1], {}, { rng, alphas: [0.5, 1.5] })).toThrow(/alphas\[1\] = 1.5/);
    expect(() => planMixup([0, 0, 0], { crossClass: 1 }, { rng })).toThrow(/at least two classes/);
    expect(() => planMixup([0, 0.5], {}, { rng })).toThrow(
      /simix: labels\[1\] = 0.5 is not a 32-bit integer/,
    );
    expect(() => planMixup([0, 0], { pairs: -1 }, { rng })).toThrow(/pairs must be/);
  });
});
