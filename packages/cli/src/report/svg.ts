import { scaleLinear, scaleLog } from 'd3-scale';
import { line } from 'd3-shape';
import type { Stat, Summary } from '../results';

/**
 * SVG charts written as text, with d3-scale for the axes (domains, nice ticks) and d3-shape for
 * the lines; the same file renders to PNG with sharp.
 */

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FLOOR_COLOUR = '#7f7f7f';
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function colourOf(index: number, summary: Summary): string {
  return summary.trained ? PALETTE[index % PALETTE.length]! : FLOOR_COLOUR;
}

type Point = [number, number];

/** An SVG path through `points`, coordinates rounded to 0.1 px. */
const path = line<Point>().digits(1);

interface Frame {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function axes(
  frame: Frame,
  yLo: number,
  yHi: number,
  yLabel: string,
  digits: number,
): { svg: string; sy: (v: number) => number } {
  const scale = scaleLinear()
    .domain(yHi > yLo ? [yLo, yHi] : [yLo - 0.5, yLo + 0.5])
    .range([frame.y + frame.height, frame.y]);
  const sy = (v: number) => scale(v);
  const parts = [
    `<rect x="${frame.x}" y="${frame.y}" width="${frame.width}" height="${frame.height}" fill="none" stroke="#444"/>`,
  ];
  for (const t of scale.ticks(5)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${frame.x}" x2="${frame.x + frame.width}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${frame.x - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle" ${FONT}>${t.toFixed(digits)}</text>`,
    );
  }
  const cx = frame.x - 48;
  const cy = frame.y + frame.height / 2;
  parts.push(
    `<text x="${cx}" y="${cy}" font-size="12" text-anchor="middle" transform="rotate(-90 ${cx} ${cy})" ${FONT}>${escapeXml(yLabel)}</text>`,
  );
  return { svg: parts.join('\n'), sy };
}

function legend(summaries: readonly Summary[], x: number, y: number): string {
  return summaries
    .map((s, i) => {
      const yy = y + i * 18;
      const name = s.experiment;
      return `<rect x="${x}" y="${yy - 9}" width="14" height="10" fill="${colourOf(i, s)}"/><text x="${x + 20}" y="${yy}" font-size="12" ${FONT}>${escapeXml(name)}</text>`;
    })
    .join('\n');
}

function document(width: number, height: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="22" font-size="15" font-weight="bold" text-anchor="middle" ${FONT}>${escapeXml(title)}</text>
${body}
</svg>
`;
}

/**
 * Recall@k against k (one line per experiment, error bars ± one std over seeds) beside MAP@R
 * as bars: Recall@1 saturates on easy protocols, MAP@R does not.
 */
export function recallChart(summaries: readonly Summary[], title = 'Retrieval on the test classes'): string {
  const ks = Object.keys(summaries[0]?.recall ?? {});
  const left: Frame = { x: 70, y: 45, width: 360, height: 280 };
  const right: Frame = { x: 520, y: 45, width: 220, height: 280 };
  const lows = summaries.flatMap((s) => ks.map((k) => s.recall[k]!.mean - s.recall[k]!.std));
  const highs = summaries.flatMap((s) => ks.map((k) => s.recall[k]!.mean + s.recall[k]!.std));
  const yLo = Math.max(0, Math.min(...lows) - 0.005);
  const yHi = Math.min(1, Math.max(...highs) + 0.005);
  const recallAxes = axes(left, yLo, yHi, 'Recall@k', yHi - yLo < 0.05 ? 3 : 2);
  const sx = (i: number) => left.x + ((i + 0.5) / ks.length) * left.width;
  const parts = [recallAxes.svg];
  ks.forEach((k, i) => {
    parts.push(
      `<text x="${sx(i)}" y="${left.y + left.height + 16}" font-size="11" text-anchor="middle" ${FONT}>${k}</text>`,
    );
  });
  parts.push(
    `<text x="${left.x + left.width / 2}" y="${left.y + left.height + 34}" font-size="12" text-anchor="middle" ${FONT}>k</text>`,
  );
  summaries.forEach((s, si) => {
    const colour = colourOf(si, s);
    const offset = (si - (summaries.length - 1) / 2) * 3;
    const points = ks.map((k, i): Point => [sx(i) + offset, recallAxes.sy(s.recall[k]!.mean)]);
    const dash = s.trained ? '' : ' stroke-dasharray="5 4"';
    parts.push(`<path d="${path(points) ?? ''}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    ks.forEach((k, i) => {
      const { mean, std } = s.recall[k]!;
      const x = (sx(i) + offset).toFixed(1);
      if (std > 0) {
        parts.push(
          `<line x1="${x}" x2="${x}" y1="${recallAxes.sy(mean - std).toFixed(1)}" y2="${recallAxes.sy(mean + std).toFixed(1)}" stroke="${colour}"/>`,
        );
      }
      parts.push(`<circle cx="${x}" cy="${recallAxes.sy(mean).toFixed(1)}" r="3" fill="${colour}"/>`);
    });
  });

  const mapHi = Math.min(1, Math.max(...summaries.map((s) => s.mapAtR.mean + s.mapAtR.std)) * 1.1);
  const mapAxes = axes(right, 0, mapHi, 'MAP@R', 2);
  parts.push(mapAxes.svg);
  const slot = right.width / Math.max(1, summaries.length);
  summaries.forEach((s, si) => {
    const colour = colourOf(si, s);
    const x = right.x + si * slot + slot * 0.15;
    const top = mapAxes.sy(s.mapAtR.mean);
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(right.y + right.height - top).toFixed(1)}" fill="${colour}"/>`,
    );
    if (s.mapAtR.std > 0) {
      const cx = (x + slot * 0.35).toFixed(1);
      parts.push(
        `<line x1="${cx}" x2="${cx}" y1="${mapAxes.sy(s.mapAtR.mean - s.mapAtR.std).toFixed(1)}" y2="${mapAxes.sy(s.mapAtR.mean + s.mapAtR.std).toFixed(1)}" stroke="black"/>`,
      );
    }
  });
  const legendY = left.y + left.height + 60;
  parts.push(legend(summaries, left.x, legendY));
  return document(780, legendY + summaries.length * 18 + 10, title, parts.join('\n'));
}

/** Training loss against step, one panel per trained experiment (losses live on different scales). */
export function curvesChart(
  summaries: readonly Summary[],
  title = 'Training loss (mean over seeds)',
): string {
  const trained = summaries
    .map((s, i) => ({ s, colour: colourOf(i, s) }))
    .filter(({ s }) => s.trained && s.curve.length);
  const columns = 2;
  const panelW = 330;
  const panelH = 200;
  const parts: string[] = [];
  trained.forEach(({ s, colour }, i) => {
    const frame: Frame = {
      x: 75 + (i % columns) * (panelW + 90),
      y: 60 + Math.floor(i / columns) * (panelH + 70),
      width: panelW,
      height: panelH,
    };
    const values = s.curve.map((p) => p.loss);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 0.01;
    const { svg, sy } = axes(frame, lo - pad, hi + pad, 'loss', hi - lo < 0.05 ? 3 : 2);
    parts.push(svg);
    const steps = scaleLinear()
      .domain([0, s.curve[s.curve.length - 1]!.step || 1])
      .range([frame.x, frame.x + frame.width]);
    const sx = (step: number) => steps(step);
    const points = s.curve.map((p): Point => [sx(p.step), sy(p.loss)]);
    parts.push(`<path d="${path(points) ?? ''}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    parts.push(
      `<text x="${frame.x + frame.width / 2}" y="${frame.y - 8}" font-size="13" text-anchor="middle" ${FONT}>${escapeXml(`${s.experiment} (${s.loss})`)}</text>`,
    );
    for (const t of steps.ticks(4)) {
      parts.push(
        `<text x="${sx(t).toFixed(1)}" y="${frame.y + frame.height + 15}" font-size="11" text-anchor="middle" ${FONT}>${t}</text>`,
      );
    }
    parts.push(
      `<text x="${frame.x + frame.width / 2}" y="${frame.y + frame.height + 32}" font-size="12" text-anchor="middle" ${FONT}>step</text>`,
    );
  });
  const rows = Math.max(1, Math.ceil(trained.length / columns));
  const body = trained.length
    ? parts.join('\n')
    : `<text x="20" y="60" font-size="13" ${FONT}>no training curves</text>`;
  return document(75 + columns * (panelW + 90), 60 + rows * (panelH + 70), title, body);
}

interface Series {
  readonly label: string;
  readonly colour: string;
  readonly points: readonly { readonly x: number; readonly y: number; readonly err?: number }[];
}

/** One panel of lines over a numeric x axis (log2 scale when `log2`), shared by the two charts below. */
function linePanel(
  frame: Frame,
  series: readonly Series[],
  yLabel: string,
  xLabel: string,
  log2 = false,
): string {
  const xsRaw = series.flatMap((s) => s.points.map((p) => p.x));
  const xLo = Math.min(...xsRaw);
  const xHi = Math.max(...xsRaw);
  const scale = (log2 ? scaleLog().base(2) : scaleLinear())
    .domain([xLo, xHi])
    .range([frame.x, frame.x + frame.width]);
  const sx = (x: number) => (xHi === xLo ? frame.x + frame.width / 2 : scale(x));
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y - (p.err ?? 0), p.y + (p.err ?? 0)]));
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const pad = (hi - lo) * 0.08 || 0.01;
  const { svg, sy } = axes(frame, Math.max(0, lo - pad), Math.min(1, hi + pad), yLabel, 3);
  const parts = [svg];
  for (const x of [...new Set(xsRaw)].sort((a, b) => a - b)) {
    parts.push(
      `<text x="${sx(x).toFixed(1)}" y="${frame.y + frame.height + 15}" font-size="11" text-anchor="middle" ${FONT}>${x}</text>`,
    );
  }
  parts.push(
    `<text x="${frame.x + frame.width / 2}" y="${frame.y + frame.height + 32}" font-size="12" text-anchor="middle" ${FONT}>${escapeXml(xLabel)}</text>`,
  );
  for (const s of series) {
    const points = s.points.map((p): Point => [sx(p.x), sy(p.y)]);
    parts.push(`<path d="${path(points) ?? ''}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
    for (const p of s.points) {
      const x = sx(p.x).toFixed(1);
      if (p.err) {
        parts.push(
          `<line x1="${x}" x2="${x}" y1="${sy(p.y - p.err).toFixed(1)}" y2="${sy(p.y + p.err).toFixed(1)}" stroke="${s.colour}"/>`,
        );
      }
      parts.push(`<circle cx="${x}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    }
  }
  return parts.join('\n');
}

function twoPanels(title: string, left: Series[], right: Series[], xLabel: string, log2: boolean): string {
  const a: Frame = { x: 75, y: 45, width: 300, height: 240 };
  const b: Frame = { x: 470, y: 45, width: 300, height: 240 };
  const legendY = a.y + a.height + 60;
  const body = [
    linePanel(a, left, 'Recall@1', xLabel, log2),
    linePanel(b, right, 'MAP@R', xLabel, log2),
    left
      .map((s, i) => {
        const y = legendY + i * 18;
        return `<rect x="${a.x}" y="${y - 9}" width="14" height="10" fill="${s.colour}"/><text x="${a.x + 20}" y="${y}" font-size="12" ${FONT}>${escapeXml(s.label)}</text>`;
      })
      .join('\n'),
  ].join('\n');
  return document(800, legendY + left.length * 18 + 10, title, body);
}

/** Recall@1 and MAP@R at each periodic evaluation (mean over seeds), or undefined when there were none. */
export function evaluationsChart(
  summaries: readonly Summary[],
  title = 'Test retrieval during training (mean over seeds)',
): string | undefined {
  const withCurves = summaries
    .map((s, i) => ({ s, colour: colourOf(i, s) }))
    .filter(({ s }) => s.evaluations.length > 0);
  if (!withCurves.length) return undefined;
  const k = Object.keys(withCurves[0]!.s.recall)[0] ?? '1';
  const series = (pick: (e: Summary['evaluations'][number]) => number): Series[] =>
    withCurves.map(({ s, colour }) => ({
      label: s.experiment,
      colour,
      points: s.evaluations.map((e) => ({ x: e.epoch, y: pick(e) })),
    }));
  return twoPanels(
    title,
    series((e) => e.recall[k] ?? Number.NaN),
    series((e) => e.mapAtR),
    'epoch',
    false,
  );
}

/**
 * Final Recall@1 and MAP@R against the batch size, one line per loss, for losses trained at two or
 * more batch sizes (the paper's claim: a recall surrogate gains from large batches); undefined when
 * no loss was.
 */
export function batchSizeChart(
  summaries: readonly Summary[],
  title = 'Batch size (mean ± std over seeds)',
): string | undefined {
  const byLoss = new Map<string, Summary[]>();
  for (const s of summaries.filter((s) => s.trained)) byLoss.set(s.loss, [...(byLoss.get(s.loss) ?? []), s]);
  const swept = [...byLoss.entries()].filter(([, group]) => new Set(group.map((s) => s.batchSize)).size > 1);
  if (!swept.length) return undefined;
  const k = Object.keys(summaries[0]?.recall ?? {})[0] ?? '1';
  const series = (pick: (s: Summary) => Stat): Series[] =>
    swept.map(([loss, group], i) => ({
      label: loss,
      colour: PALETTE[i % PALETTE.length]!,
      points: [...group]
        .sort((a, b) => a.batchSize - b.batchSize)
        .map((s) => ({ x: s.batchSize, y: pick(s).mean, err: pick(s).std })),
    }));
  return twoPanels(
    title,
    series((s) => s.recall[k]!),
    series((s) => s.mapAtR),
    'images per batch',
    true,
  );
}
