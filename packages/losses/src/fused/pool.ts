import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RecallkitError } from '@recallkit/core';
import { type KernelTask, rankingKernel } from './kernel';

/**
 * A small pool of worker threads that run `rankingKernel` on row ranges while the calling thread
 * computes its own range. The loss is synchronous (it runs inside `tf.grad`), so the caller blocks
 * on `Atomics.wait` until every worker has flagged its range done; the arrays are shared through
 * SharedArrayBuffers, so nothing is copied back.
 *
 * Workers are created on first use and kept (startup costs tens of milliseconds); they are
 * unref'ed so they never keep a process alive. The worker runs the kernel's own source text, so
 * the pool works the same from the built package and from TypeScript sources (vitest, tsx).
 */

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const rankingKernel = ${rankingKernel.toString()};
parentPort.on('message', ({ task, flag, slot }) => {
  let status = 1;
  try { rankingKernel(task); } catch (e) { status = 2; console.error(e); }
  Atomics.store(flag, slot, status);
  Atomics.notify(flag, slot);
});
`;

const WAIT_MS = 600_000;
let workers: Worker[] | undefined;
let unavailable = false;

/** Worker threads to use besides the calling thread: one per extra core, at most 7. */
export function defaultWorkerCount(): number {
  return Math.max(0, Math.min(7, availableParallelism() - 1));
}

function pool(count: number): Worker[] {
  if (unavailable) return [];
  workers ??= [];
  try {
    while (workers.length < count) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('error', () => {
        workers = workers?.filter((w) => w !== worker);
      });
      workers.push(worker);
    }
  } catch {
    unavailable = true;
    return [];
  }
  return workers.slice(0, count);
}

/** Stops the pool's worker threads (a later parallel call starts new ones). */
export async function terminateWorkers(): Promise<void> {
  const running = workers ?? [];
  workers = undefined;
  await Promise.all(running.map((w) => w.terminate()));
}

/** Moves a typed array into shared memory (no copy when it already is shared). */
export function shared<T extends Float32Array | Float64Array | Int32Array>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const Ctor = array.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(array.byteLength));
  out.set(array as never);
  return out;
}

/**
 * Runs the kernel over all rows of `task`, split into `threads` contiguous ranges of about equal
 * work (anchor count x columns). `task`'s arrays must be shared when `threads` > 1.
 */
export function runSplit(task: KernelTask, threads: number): void {
  const helpers = threads > 1 ? pool(threads - 1) : [];
  if (helpers.length === 0) {
    rankingKernel(task);
    return;
  }
  const parts = helpers.length + 1;
  const { rowStart, rowEnd, posPtr } = task;
  // Cut rows so each part gets about the same number of (anchor, column) pairs.
  const work = (r: number) => posPtr[r]! - posPtr[rowStart]! + (r - rowStart);
  const total = work(rowEnd);
  const cuts = [rowStart];
  let r = rowStart;
  for (let p = 1; p < parts; p++) {
    while (r < rowEnd && work(r) < (total * p) / parts) r++;
    cuts.push(r);
  }
  cuts.push(rowEnd);
  const flag = new Int32Array(new SharedArrayBuffer(4 * helpers.length));
  helpers.forEach((worker, i) => {
    worker.postMessage({ task: { ...task, rowStart: cuts[i + 1], rowEnd: cuts[i + 2] }, flag, slot: i });
  });
  rankingKernel({ ...task, rowStart: cuts[0]!, rowEnd: cuts[1]! });
  for (let i = 0; i < helpers.length; i++) {
    if (Atomics.wait(flag, i, 0, WAIT_MS) === 'timed-out' || Atomics.load(flag, i) !== 1) {
      throw new RecallkitError('WORKER_FAILED', `ranking worker ${i} did not finish its rows`);
    }
  }
}
