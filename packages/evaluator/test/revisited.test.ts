import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '@recallkit/core';
import {
  computeRevisitedMap,
  evaluateRevisited,
  faissAvailable,
  type RevisitedResult,
  type RevisitedSetup,
  revisitedAveragePrecision,
  revisitedMetrics,
} from '@recallkit/evaluator';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  await useBackend('wasm');
});

/** What make_revisited.py wrote from revisitop's own compute_map (null where revisitop has NaN). */
interface Expected {
  map: number;
  aps: (number | null)[];
  pr: (number | null)[];
  prs: (number | null)[][];
}
interface Case {
  name: string;
  nDb: number;
  ranks: number[][];
  gnd: { easy: number[]; hard: number[]; junk: number[] }[];
  queries?: number[][];
  database?: number[][];
  expected: Record<RevisitedSetup, Expected | { error: string }>;
}
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures/revisited/revisited.json'), 'utf8'),
) as { ks: number[]; cases: Case[] };

const TOLERANCE = 1e-12; // the protocol asks for 1e-6; the port does revisitop's float64 steps in its order

function expectClose(actual: number, expected: number | null, what: string) {
  if (expected === null) {
    expect(actual, what).toBeNaN();
  } else {
    expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(TOLERANCE);
  }
}

function expectRevisitop(result: RevisitedResult, c: Case) {
  for (const setup of ['easy', 'medium', 'hard'] as const) {
    const want = c.expected[setup];
    const got = result[setup];
    if ('error' in want) {
      // every query lacks positives here: revisitop divides by zero; Recallkit reports NaN
      expect(got.queries).toBe(0);
      expect(got.map).toBeNaN();
      for (const k of fixture.ks) expect(got.mpAtK[k]).toBeNaN();
      continue;
    }
    expectClose(got.map, want.map, `${c.name} ${setup} mAP`);
    want.aps.forEach((ap, i) => {
      expectClose(got.aps[i]!, ap, `${c.name} ${setup} AP of query ${i}`);
    });
    fixture.ks.forEach((k, j) => {
      expectClose(got.mpAtK[k]!, want.pr[j]!, `${c.name} ${setup} mP@${k}`);
    });
    want.prs.forEach((row, i) => {
      row.forEach((p, j) => {
        expectClose(got.prs[i]![j]!, p, `${c.name} ${setup} P@${fixture.ks[j]} of query ${i}`);
      });
    });
    expect(got.skipped).toBe(want.aps.filter((a) => a === null).length);
    expect(got.queries + got.skipped).toBe(c.gnd.length);
  }
}

describe("the revisited protocol against revisitop's compute_map", () => {
  it('covers the awkward cases', () => {
    const names = fixture.cases.map((c) => c.name);
    expect(names).toEqual(['random', 'no-hard-at-all', 'all-junk', 'edges', 'ties', 'embeddings']);
    // empty hard lists, and a setup where no query has any positive
    expect(fixture.cases[0]!.gnd.some((g) => g.hard.length === 0)).toBe(true);
    expect('error' in fixture.cases[1]!.expected.hard).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`equals revisitop on rankings: ${c.name}`, () => {
      expectRevisitop(revisitedMetrics(c.ranks, { gnd: c.gnd }, { databaseSize: c.nDb }), c);
    });
  }

  const indexes = faissAvailable() ? (['exact', 'faiss'] as const) : (['exact'] as const);
  for (const c of fixture.cases.filter((c) => c.queries !== undefined)) {
    for (const index of indexes) {
      it(`equals revisitop from embeddings (${index}, ties in database order): ${c.name}`, async () => {
        const result = await evaluateRevisited(c.queries!, c.database!, c.gnd, { similarity: 'dot', index });
        expectRevisitop(result, c);
        expect(result.debug.index).toMatch(index === 'faiss' ? /^faiss:Flat$/ : /^exact:/);
      });
    }
  }

  it('keeps a shorter ranking with options.depth (a lower bound)', async () => {
    const c = fixture.cases.find((x) => x.name === 'embeddings')!;
    const full = await evaluateRevisited(c.queries!, c.database!, c.gnd, {
      similarity: 'dot',
      index: 'exact',
    });
    const short = await evaluateRevisited(c.queries!, c.database!, c.gnd, {
      similarity: 'dot',
      index: 'exact',
      depth: 20,
    });
    expect(short.medium.map).toBeLessThan(full.medium.map);
    expect(short.medium.mpAtK[1]).toBe(full.medium.mpAtK[1]);
    await expect(
      evaluateRevisited(c.queries!, c.database!, c.gnd, { index: 'exact', depth: 81 }),
    ).rejects.toThrow(/options.depth must be an integer from 1 to the database size \(80\), got 81/);
  });

  it('the ties case really has ties that straddle positives', () => {
    const c = fixture.cases.find((x) => x.name === 'ties')!;
    const q = c.queries![0]!;
    const scores = c.database!.map((x) => x.reduce((s, v, j) => s + v * q[j]!, 0));
    expect(new Set(scores).size).toBeLessThan(scores.length / 4);
  });
});

describe('revisitop details', () => {
  it('integrates AP by trapezoids, not as the mean of precisions', () => {
    // positives at ranks 0 and 2 of two: trapezoids (1 + 1)/4 + (1/2 + 2/3)/4, not (1 + 2/3) / 2
    expect(revisitedAveragePrecision([0, 2], 2)).toBeCloseTo(0.5 + (0.5 + 2 / 3) / 4, 15);
    expect(revisitedAveragePrecision([0, 2], 2)).not.toBeCloseTo((1 + 2 / 3) / 2, 3);
  });

  it('removes junk above a positive and bounds mP@k by the last positive', () => {
    // ranking: junk 5, positive 3, other 1, positive 4 -> positives at 0 and 2 once junk is removed
    const r = computeRevisitedMap([[5, 3, 1, 4]], [{ ok: [3, 4], junk: [5] }], [1, 5]);
    expect(r.aps[0]).toBeCloseTo(revisitedAveragePrecision([0, 2], 2), 15);
    expect(r.mpAtK[1]).toBe(1);
    expect(r.mpAtK[5]).toBeCloseTo(2 / 3, 15); // k becomes min(5, rank of the last positive = 3)
  });

  it('skips queries without positives and reports NaN when none is left', () => {
    const r = computeRevisitedMap(
      [
        [0, 1],
        [1, 0],
      ],
      [
        { ok: [], junk: [] },
        { ok: [1], junk: [] },
      ],
    );
    expect(r.queries).toBe(1);
    expect(r.skipped).toBe(1);
    expect(r.aps[0]).toBeNaN();
    expect(r.map).toBe(1);
    const none = computeRevisitedMap([[0, 1]], [{ ok: [], junk: [1] }]);
    expect(none.map).toBeNaN();
  });

  it('gives AP 0 to a truncated ranking that misses every positive', () => {
    const r = computeRevisitedMap([[0, 1]], [{ ok: [7], junk: [] }], [1, 5]);
    expect(r.map).toBe(0);
    expect(r.mpAtK[1]).toBe(0);
  });
});

describe('bad input', () => {
  const gnd = [{ easy: [0], hard: [1], junk: [2] }];
  it.each([
    [[[0, 1, 1]], { gnd }, {}, /ranking 0 lists database image 1 twice/],
    [[[0, 1, 9]], { gnd }, { databaseSize: 3 }, /ranking 0, position 2: 9 is not a database index \(0..2\)/],
    [[[0, 1.5]], { gnd }, {}, /position 1: 1.5 is not a database index/],
    [
      [
        [0, 1],
        [1, 0],
      ],
      { gnd },
      {},
      /one ranking per query \(1\), got 2/,
    ],
    [[[0, 1]], { gnd: [{ easy: [0], hard: [-1], junk: [] }] }, {}, /gnd\[0\].hard\[0\] = -1/],
    [[[0, 1]], { gnd: [{ easy: [0], junk: [] }] }, {}, /gnd\[0\].hard must be a list/],
    [
      [[0, 1]],
      { imlist: ['a', 'b'], gnd: [{ easy: [5], hard: [], junk: [] }] },
      {},
      /outside the database \(2 images\)/,
    ],
    [[[0, 1]], { gnd }, { kappas: [1] }, /unknown option 'kappas' \(valid: ks, databaseSize\)/],
    [[[0, 1]], { gnd }, { ks: [0] }, /options.ks must be a non-empty list of positive integers/],
  ])('%#', (ranks, truth, options, message) => {
    expect(() => revisitedMetrics(ranks as never, truth as never, options as never)).toThrow(message);
  });

  it('rejects query embeddings that do not match the ground truth or the database', async () => {
    await expect(evaluateRevisited([[1, 0]], [[1, 0, 0]], gnd, { index: 'exact' })).rejects.toThrow(
      /database rows have 3 values, queries 2/,
    );
    await expect(
      evaluateRevisited(
        [
          [1, 0],
          [0, 1],
        ],
        [
          [1, 0],
          [0, 1],
          [1, 1],
        ],
        gnd,
        { index: 'exact' },
      ),
    ).rejects.toThrow(/ground truth has 1 queries, the query embeddings 2 rows/);
    await expect(
      evaluateRevisited(
        [[1, 0]],
        [
          [1, 0],
          [0, 1],
        ],
        gnd,
        { index: 'exact' },
      ),
    ).rejects.toThrow(/gnd\[0\].junk\[0\] = 2 is outside the database \(2 images\)/);
  });
});
