import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RecallkitError } from '@recallkit/core';
import { type KernelTask, rankingKernel } from './kernel';

/**
 * Worker threads that run `rankingKernel` on blocks of query rows while the calling thread does
 * other work (the similarity matMul of the next block) or kernel blocks of its own.
 *
 * The loss is synchronous (it runs inside `tf.grad`), so the caller never awaits: workers count
 * finished tasks in a SharedArrayBuffer and the caller blocks on `Atomics.wait` until all are done.
 * Outputs (gradient rows, per-query losses) live in SharedArrayBuffers; a block's scores are either
 * shared too or transferred (moved, not copied) with the task.
 *
 * Workers are created on first use and kept (startup costs tens of milliseconds); they are
 * unref'ed so they never keep a process alive. A worker runs the kernel's own source text, so the
 * pool works the same from the built package and from TypeScript sources (vitest, tsx).
 */

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const rankingKernel = ${rankingKernel.toString()};
parentPort.on('message', ({ task, done, failed, slot }) => {
  try { rankingKernel(task); } catch (e) { Atomics.store(failed, 0, 1); console.error(e); }
  Atomics.add(done, slot, 1);
  Atomics.notify(done, slot);
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
  if (unavailable || count === 0) return [];
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

/** A typed array in shared memory (the same array when it already is). */
export function shared<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const Ctor = array.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(array.byteLength));
  out.set(array as never);
  return out;
}

/**
 * One parallel evaluation: `submit` kernel tasks (row blocks), then `finish` to wait for them.
 * With `threads` = 1 (or when workers cannot start) tasks run inline in `submit`. Otherwise a task
 * goes to the least busy worker, or runs inline when every worker already has one queued, so the
 * calling thread helps instead of idling. Tasks' output arrays must be shared.
 */
export class KernelRun {
  private readonly helpers: Worker[];
  private readonly done: Int32Array;
  private readonly failed = new Int32Array(new SharedArrayBuffer(4));
  private readonly sent: number[];

  constructor(threads: number) {
    this.helpers = pool(Math.max(0, threads - 1));
    this.done = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, this.helpers.length)));
    this.sent = this.helpers.map(() => 0);
  }

  get parallel(): boolean {
    return this.helpers.length > 0;
  }

  submit(task: KernelTask): void {
    let best = -1;
    let bestPending = 2; // a worker with two tasks queued is busy enough: run this one here
    this.helpers.forEach((_, i) => {
      const pending = this.sent[i]! - Atomics.load(this.done, i);
      if (pending < bestPending) {
        best = i;
        bestPending = pending;
      }
    });
    if (best < 0) {
      rankingKernel(task);
      return;
    }
    const transfer =
      task.scores.buffer instanceof SharedArrayBuffer ? [] : [task.scores.buffer as ArrayBuffer];
    this.helpers[best]!.postMessage({ task, done: this.done, failed: this.failed, slot: best }, transfer);
    this.sent[best]!++;
  }

  finish(): void {
    this.helpers.forEach((_, i) => {
      for (;;) {
        const finished = Atomics.load(this.done, i);
        if (finished >= this.sent[i]!) break;
        if (Atomics.wait(this.done, i, finished, WAIT_MS) === 'timed-out') {
          throw new RecallkitError('WORKER_FAILED', `ranking worker ${i} did not finish its rows`);
        }
      }
    });
    if (Atomics.load(this.failed, 0) !== 0) {
      throw new RecallkitError('WORKER_FAILED', 'a ranking worker failed (its error is printed above)');
    }
  }
}
