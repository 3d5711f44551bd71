import cliProgress from 'cli-progress';
import type { BenchEvent } from './bench';
import type { Evaluation, RunResult } from './results';
import type { RevisitedMetrics } from './types';

/** 'Easy mAP 0.6012 mP@1 0.8571 ...; Medium ...; Hard ...' (fractions, as in metrics.json). */
function describeRevisited(revisited: RevisitedMetrics): string {
  return (['easy', 'medium', 'hard'] as const)
    .map((setup) => {
      const { map, mpAtK } = revisited[setup];
      const name = setup[0]!.toUpperCase() + setup.slice(1);
      const mp = Object.entries(mpAtK).map(([k, v]) => ` mP@${k} ${(v ?? Number.NaN).toFixed(4)}`);
      return `${name} mAP ${(map ?? Number.NaN).toFixed(4)}${mp.join('')}`;
    })
    .join('; ');
}

/** The headline metrics of one evaluation: R@k and MAP@R, or the revisited setups. */
export function describeMetrics(metrics: Evaluation['metrics'], ks?: readonly string[]): string {
  if (metrics.revisited) return describeRevisited(metrics.revisited);
  const recall = metrics.recall ?? {};
  return `${(ks ?? Object.keys(recall))
    .map((k) => `R@${k} ${(recall[k] ?? Number.NaN).toFixed(4)}`)
    .join(' ')} MAP@R ${(metrics.mapAtR ?? Number.NaN).toFixed(4)}`;
}

export function describeRun(result: RunResult): string {
  const speed = result.imagesPerSecond
    ? `, ${result.imagesPerSecond.toFixed(0)} img/s over ${result.trainSeconds.toFixed(0)} s`
    : '';
  const bad = result.badImages;
  const unreadable =
    bad && bad.skipped + bad.failedLoads > 0
      ? `, unreadable images: ${bad.skipped} skipped${bad.failedLoads > 0 ? `, ${bad.failedLoads} loaded as zeros` : ''}`
      : '';
  return `${describeMetrics(result.metrics, ['1'])}${speed}${unreadable}`;
}

/**
 * Progress of embedding `total` images on stderr: a bar on a terminal, otherwise (logs, CI) a line
 * at most every 10 seconds. `update(done)` after each batch; `stop()` at the end.
 */
export function imageProgress(
  stream: NodeJS.WriteStream,
  total: number,
  label: string,
): { update: (done: number) => void; stop: () => void } {
  if (!stream.isTTY) {
    let last = performance.now();
    return {
      update(done) {
        const now = performance.now();
        if (now - last >= 10_000 && done < total) {
          last = now;
          stream.write(`${label}: ${done}/${total} images\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} |{bar}| {value}/{total} images | {eta_formatted} left`, stream, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}

/**
 * Shows bench progress on stderr: on a terminal, one bar over all runs with each worker's current
 * run and step; otherwise (logs, CI) one line per finished run.
 */
export function benchProgress(stream: NodeJS.WriteStream = process.stderr): {
  onEvent: (e: BenchEvent) => void;
  stop: () => void;
} {
  if (!stream.isTTY) {
    return {
      onEvent(event) {
        if (event.type === 'start') stream.write(`bench: ${event.jobs} runs on ${event.workers} worker(s)\n`);
        if (event.type === 'job-done') {
          stream.write(`[${event.done}/${event.total}] ${event.label}: ${describeRun(event.result)}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: '|{bar}| {runs} runs | {workers}', stream, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const current = new Map<number, { label: string; fraction: number; text: string }>();
  let done = 0;
  let jobs = 0;
  const redraw = () => {
    const partial = [...current.values()].reduce((a, c) => a + c.fraction, 0);
    bar.update(Math.round((done + partial) * 100), {
      runs: `${done}/${jobs}`,
      workers: [...current.values()].map((c) => `${c.label} ${c.text}`).join(' · '),
    });
  };
  return {
    onEvent(event) {
      if (event.type === 'start') {
        jobs = event.jobs;
        bar.start(jobs * 100, 0, { runs: `0/${jobs}`, workers: '' });
      } else if (event.type === 'job-start') {
        current.set(event.worker, { label: event.label, fraction: 0, text: 'loading' });
      } else if (event.type === 'job-progress') {
        const c = current.get(event.worker);
        if (c) {
          c.fraction = event.progress.step / event.progress.total;
          c.text = `${event.progress.step}/${event.progress.total}`;
        }
      } else if (event.type === 'job-done') {
        done = event.done;
        current.delete(event.worker);
      }
      redraw();
    },
    stop() {
      bar.stop();
    },
  };
}
