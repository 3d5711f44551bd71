import type { Stat, Summary } from '../results';

function formatStat(s: Stat, digits = 4): string {
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}

/**
 * The comparison as header and cells: the batch size, final Recall@k and MAP@R as mean ± sample std
 * over seeds, the best periodic evaluation's Recall@1 and MAP@R when there were periodic
 * evaluations, and training speed. The markdown table and the HTML report both show this.
 */
export function comparisonTable(summaries: readonly Summary[]): { header: string[]; rows: string[][] } {
  const ks = Object.keys(summaries[0]?.recall ?? {});
  const withBest = summaries.some((s) => s.best);
  const firstK = ks[0] ?? '1';
  const header = [
    'experiment',
    'loss',
    'seeds',
    'batch',
    ...ks.map((k) => `R@${k}`),
    'MAP@R',
    ...(withBest ? [`best R@${firstK}`, 'best MAP@R'] : []),
    'train img/s',
    'train s',
  ];
  const rows = summaries.map((s) => [
    s.experiment,
    s.loss,
    String(s.seeds.length),
    s.trained ? String(s.batchSize) : '-',
    ...ks.map((k) => formatStat(s.recall[k]!)),
    formatStat(s.mapAtR),
    ...(withBest
      ? s.best
        ? [formatStat(s.best.recall[firstK]!), formatStat(s.best.mapAtR)]
        : ['-', '-']
      : []),
    s.imagesPerSecond ? s.imagesPerSecond.mean.toFixed(0) : '-',
    s.trained ? s.trainSeconds.mean.toFixed(1) : '-',
  ]);
  return { header, rows };
}

/** `comparisonTable` as markdown; the text columns are left-aligned, the numbers right-aligned. */
export function markdownTable(summaries: readonly Summary[]): string {
  const { header, rows } = comparisonTable(summaries);
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}
