import cliProgress from 'cli-progress';
import type { BenchEvent } from './bench';
import type { RunResult } from './results';

export function describeRun(result: RunResult): string {
  const r = result.metrics.recall;
  const speed = result.imagesPerSecond
    ? `, ${result.imagesPerSecond.toFixed(0)} img/s over ${result.trainSeconds.toFixed(0)} s`
    : '';
  const bad = result.badImages;
  const unreadable =
    bad && bad.skipped + bad.failedLoads > 0
      ? `, unreadable images: ${bad.skipped} skipped${bad.failedLoads > 0 ? `, ${bad.failedLoads} loaded as zeros` : ''}`
      : '';
  return `R@1 ${(r['1'] ?? Number.NaN).toFixed(4)} MAP@R ${result.metrics.mapAtR.toFixed(4)}${speed}${unreadable}`;
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
