import type { Stat, Summary } from '../results';

export function formatStat(s: Stat, digits = 4): string {
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}

/** The comparison table: Recall@k and MAP@R as mean ± sample std over seeds, and training speed. */
export function markdownTable(summaries: readonly Summary[]): string {
  const ks = Object.keys(summaries[0]?.recall ?? {});
  const header = [
    'experiment',
    'loss',
    'seeds',
    ...ks.map((k) => `R@${k}`),
    'MAP@R',
    'train img/s',
    'train s',
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`,
  ];
  for (const s of summaries) {
    const cells = [
      s.experiment,
      s.loss,
      String(s.seeds.length),
      ...ks.map((k) => formatStat(s.recall[k]!)),
      formatStat(s.mapAtR),
      s.imagesPerSecond ? s.imagesPerSecond.mean.toFixed(0) : '-',
      s.trained ? s.trainSeconds.mean.toFixed(1) : '-',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
