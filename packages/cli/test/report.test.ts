import { describe, expect, it } from 'vitest';
import { markdownTable, type RunResult, stat, summarise } from '../src/index';
import { batchSizeChart } from '../src/report/svg';

function runOf(experiment: string, seed: number, r1: number, map: number, trained = true): RunResult {
  return {
    experiment,
    seed,
    trained,
    components: trained ? { loss: 'loss:rsk', mixup: 'mixup:simix' } : {},
    batchSize: trained ? 50 : 0,
    metrics: { recall: { '1': r1, '2': 1 }, mapAtR: map },
    evaluations: trained
      ? [
          { epoch: 1, step: 1, metrics: { recall: { '1': r1 + 0.1, '2': 1 }, mapAtR: map - 0.1 } },
          { epoch: 2, step: 2, metrics: { recall: { '1': r1, '2': 1 }, mapAtR: map } },
        ]
      : [],
    ...(trained
      ? { best: { epoch: 1, step: 1, metrics: { recall: { '1': r1 + 0.1, '2': 1 }, mapAtR: map - 0.1 } } }
      : {}),
    curve: trained
      ? [
          { step: 1, epoch: 0, loss: seed + 1 },
          { step: 2, epoch: 0, loss: seed },
        ]
      : [],
    steps: trained ? 2 : 0,
    trainImages: trained ? 100 : 0,
    trainSeconds: trained ? 2 : 0,
    trainCpuSeconds: trained ? 2 : 0,
    imagesPerSecond: trained ? 50 : null,
    evalSeconds: 1,
    backend: 'cpu',
  };
}

describe('stat / summarise', () => {
  it('computes mean and sample standard deviation (hand-worked)', () => {
    expect(stat([1, 2, 3, 4])).toEqual({ n: 4, mean: 2.5, std: Math.sqrt(5 / 3), min: 1, max: 4 });
    expect(stat([0.5])).toEqual({ n: 1, mean: 0.5, std: 0, min: 0.5, max: 0.5 });
  });

  it('groups runs by experiment and averages the curves over seeds', () => {
    const summaries = summarise([
      runOf('floor', 0, 0.9, 0.3, false),
      runOf('a', 1, 0.96, 0.5),
      runOf('a', 0, 0.94, 0.4),
    ]);
    expect(summaries.map((s) => s.experiment)).toEqual(['floor', 'a']);
    expect(summaries[1]!.seeds).toEqual([0, 1]);
    expect(summaries[1]!.recall['1']!.mean).toBeCloseTo(0.95, 12);
    expect(summaries[1]!.loss).toBe('rsk + simix');
    expect(summaries[0]!.loss).toBe('none');
    expect(summaries[1]!.curve).toEqual([
      { step: 1, loss: 1.5 },
      { step: 2, loss: 0.5 },
    ]);
    const table = markdownTable(summaries);
    expect(table.split('\n')[0]).toBe(
      '| experiment | loss | seeds | batch | R@1 | R@2 | MAP@R | best R@1 | best MAP@R | train img/s | train s |',
    );
    expect(table).toContain(
      '| a | rsk + simix | 2 | 50 | 0.9500 ± 0.0141 | 1.0000 ± 0.0000 | 0.4500 ± 0.0707 | 1.0500 ± 0.0141 | 0.3500 ± 0.0707 | 50 | 2.0 |',
    );
    expect(table).toContain('| floor | none | 1 | - | 0.9000 | 1.0000 | 0.3000 | - | - | - | - |');
    // Periodic evaluations: averaged over seeds per epoch; the best is each seed's own best.
    expect(summaries[1]!.evaluations.map((e) => e.epoch)).toEqual([1, 2]);
    expect(summaries[1]!.evaluations[0]!.recall['1']).toBeCloseTo(1.05, 12);
    expect(summaries[1]!.evaluations[1]!.mapAtR).toBeCloseTo(0.45, 12);
    expect(summaries[1]!.best!.epoch.mean).toBe(1);
    expect(summaries[0]!.best).toBeUndefined();
    expect(summaries[0]!.evaluations).toEqual([]);
  });
});

describe('chart geometry', () => {
  const numbers = (svg: string, pattern: RegExp) => [...svg.matchAll(pattern)].map((m) => Number(m[1]));
  it('batch sizes on a log2 axis, values on a linear one, round ticks inside the frame', () => {
    const runs = [25, 100, 400].map((batchSize, i) => ({
      ...runOf(`b${batchSize}`, 0, 0.2 + 0.05 * i, 0.3),
      batchSize,
    }));
    const svg = batchSizeChart(summarise(runs)) as string;
    // The left panel (Recall@1) spans x 75..375 and y 45..285; log2(25) .. log2(400) fill it.
    const cx = numbers(svg, /<circle cx="([\d.]+)"/g).slice(0, 3);
    expect(cx).toEqual([75, 75 + (300 * Math.log2(4)) / Math.log2(16), 375]);
    // y range: the values padded by 8% of their spread, 0.192 .. 0.308.
    const y = (v: number) => 285 - ((v - 0.192) / (0.308 - 0.192)) * 240;
    const cy = numbers(svg, /<circle cx="[\d.]+" cy="([\d.]+)"/g).slice(0, 3);
    for (const [i, c] of cy.entries()) expect(c).toBeCloseTo(y(0.2 + 0.05 * i), 1);
    const ticks = [...svg.matchAll(/<text x="69" y="([\d.]+)"[^>]*>([\d.]+)</g)];
    expect(ticks.map((t) => t[2])).toEqual(['0.200', '0.220', '0.240', '0.260', '0.280', '0.300']);
    for (const [, ty, label] of ticks) expect(Number(ty)).toBeCloseTo(y(Number(label)), 0);
    // Lines pass through the points.
    expect(svg).toContain(`d="M75,${y(0.2).toFixed(1).replace(/\.0$/, '')}L225`);
  });
});
