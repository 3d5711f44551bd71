import cliProgress from 'cli-progress';

/** A progress line with loss, images per second and ETA; silent when disabled. */
export interface Progress {
  update(step: number, payload: { epoch: number; loss: number; imagesPerSecond: number }): void;
  stop(): void;
}

export function createProgress(
  enabled: boolean,
  total: number,
  start: number,
  stream: NodeJS.WritableStream = process.stderr,
): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch} |{bar}| {value}/{total} steps | loss {loss} | {ips} img/s | ETA {eta_formatted}',
      stream,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { epoch: '-', loss: '-', ips: '-' });
  return {
    update(step, { epoch, loss, imagesPerSecond }) {
      bar.update(step, { epoch, loss: loss.toFixed(4), ips: imagesPerSecond.toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}
