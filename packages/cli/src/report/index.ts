import { join } from 'node:path';
import { writeFileAtomic } from '@recallkit/core';
import sharp from 'sharp';
import { type RunResult, type Summary, summarise } from '../results';
import { htmlReport } from './html';
import { markdownTable } from './markdown';
import { batchSizeChart, curvesChart, evaluationsChart, recallChart } from './svg';

export { htmlReport } from './html';
export { markdownTable } from './markdown';
export { curvesChart, recallChart } from './svg';

export interface ReportPaths {
  readonly dir: string;
  readonly markdown: string;
  readonly json: string;
  readonly html: string;
  readonly plots: readonly string[];
}

export interface ReportInput {
  readonly title: string;
  /** Sentences describing the protocol and the budget, shown above the table. */
  readonly notes?: readonly string[];
  readonly runs: readonly RunResult[];
  /** Extra fields for the JSON (machine, timings...). */
  readonly meta?: Record<string, unknown>;
}

/** Renders an SVG to PNG with sharp (librsvg), at twice the nominal resolution. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}

/**
 * Writes the comparison: `results.md` (table), `results.json` (runs, summaries, meta), Recall@k /
 * MAP@R and training-curve plots as SVG and PNG, and `report.html` linking them. Every file is
 * written atomically.
 */
export async function writeReport(
  dir: string,
  input: ReportInput,
): Promise<{ paths: ReportPaths; summaries: Summary[]; table: string }> {
  const summaries = summarise(input.runs);
  const table = markdownTable(summaries);
  const notes = input.notes ?? [];
  const optional = [
    {
      name: 'batch-size',
      title: 'Recall@1 and MAP@R against the batch size',
      svg: batchSizeChart(summaries),
    },
    {
      name: 'evaluations',
      title: 'Recall@1 and MAP@R at each periodic evaluation',
      svg: evaluationsChart(summaries),
    },
  ].filter((c): c is { name: string; title: string; svg: string } => c.svg !== undefined);
  const charts = [
    { name: 'recall', title: 'Recall@k and MAP@R on the test classes', svg: recallChart(summaries) },
    ...optional,
    { name: 'training-curves', title: 'Training loss per step', svg: curvesChart(summaries) },
  ];
  const plots: string[] = [];
  for (const chart of charts) {
    await writeFileAtomic(join(dir, `${chart.name}.svg`), chart.svg);
    await writeFileAtomic(join(dir, `${chart.name}.png`), await svgToPng(chart.svg));
    plots.push(join(dir, `${chart.name}.svg`), join(dir, `${chart.name}.png`));
  }
  const markdown = `# ${input.title}\n\n${notes.map((n) => `${n}\n\n`).join('')}${table}\nValues are mean ± sample standard deviation over seeds.\n`;
  await writeFileAtomic(join(dir, 'results.md'), markdown);
  const json = { title: input.title, notes, meta: input.meta ?? {}, summaries, runs: input.runs };
  await writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify(json, null, 1)}\n`);
  const html = htmlReport({
    title: input.title,
    notes,
    summaries,
    charts: charts.map((c) => ({ title: c.title, svg: `${c.name}.svg`, png: `${c.name}.png` })),
    files: {
      'results.md (table)': 'results.md',
      'results.json (every run, summaries)': 'results.json',
      ...Object.fromEntries(
        charts.flatMap((c) => [
          [`${c.name}.svg`, `${c.name}.svg`],
          [`${c.name}.png`, `${c.name}.png`],
        ]),
      ),
    },
  });
  await writeFileAtomic(join(dir, 'report.html'), html);
  return {
    paths: {
      dir,
      markdown: join(dir, 'results.md'),
      json: join(dir, 'results.json'),
      html: join(dir, 'report.html'),
      plots,
    },
    summaries,
    table,
  };
}
