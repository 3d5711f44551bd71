import type { Summary } from '../results';
import { comparisonTable } from './markdown';

function escapeHtml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

export interface HtmlReportInput {
  readonly title: string;
  readonly notes: readonly string[];
  readonly summaries: readonly Summary[];
  /** Relative links, by label: the table, the JSON, each plot. */
  readonly files: Readonly<Record<string, string>>;
  readonly charts: readonly { readonly title: string; readonly svg: string; readonly png: string }[];
}

/** One self-contained page: the table, the plots (SVG, with PNG links) and links to every artefact. */
export function htmlReport(input: HtmlReportInput): string {
  const { header: head, rows: cells } = comparisonTable(input.summaries);
  const rows = cells.map(
    (row) =>
      `<tr>${row.map((c, i) => `<td${i > 2 ? ' class="n"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`,
  );
  const links = Object.entries(input.files).map(
    ([label, href]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(label)}</a></li>`,
  );
  const charts = input.charts.map(
    (c) =>
      `<figure><img src="${escapeHtml(c.svg)}" alt="${escapeHtml(c.title)}"><figcaption>${escapeHtml(c.title)} (<a href="${escapeHtml(c.svg)}">SVG</a>, <a href="${escapeHtml(c.png)}">PNG</a>)</figcaption></figure>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(input.title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; } img { max-width: 100%; }
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
${input.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('\n')}
<table>
<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<p>Values are mean ± sample standard deviation over seeds.</p>
${charts.join('\n')}
<h2>Files</h2>
<ul>
${links.join('\n')}
</ul>
</body>
</html>
`;
}
