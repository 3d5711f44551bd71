import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
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
 * A blocked caller cannot see a worker die: a thread's exit is an event on its parent's event loop,
 * and the caller's loop is stopped. So the kernel workers are children of a supervisor thread that
 * does nothing but watch them: when one exits (killed, `process.exit`, out of memory, uncaught
 * error) it flags the worker dead and wakes the caller, which fails at once with WORKER_FAILED. The
 * next call replaces the dead worker. The caller talks to each kernel worker directly (a
 * MessageChannel per worker), so tasks never pass through the supervisor; the supervisor also beats
 * a heartbeat, so that the caller notices when the supervisor itself is gone.
 *
 * Workers are created on first use and kept (startup costs tens of milliseconds); the supervisor is
 * unref'ed, so the pool never keeps a process alive. A worker runs the kernel's own source text, so
 * the pool works the same from the built package and from TypeScript sources (vitest, tsx).
 */

/** Faults a test can inject into the next task sent to a worker (see `workerFaults`). */
export type WorkerFault = 'terminate' | 'exit' | 'oom' | 'supervisor';

// `__name`: transpilers that keep function names (esbuild's keepNames, under tsx) call it after
// nested function declarations; the shipped source has no module to find it in.
const KERNEL_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const __name = (f) => f;
const rankingKernel = ${rankingKernel.toString()};
const { port, signal } = workerData;
function fault(kind) {
  if (kind === 'exit') process.exit(70);
  if (kind === 'oom') { const keep = []; for (;;) keep.push(new Array(1 << 16).fill(0.5)); }
  parentPort.postMessage(kind);
  for (;;) Atomics.wait(signal, 2, 0, 1000);
}
port.on('message', ({ task, done, failed, cancel, slot, inject }) => {
  if (inject) fault(inject);
  if (Atomics.load(cancel, 0) === 0) {
    try {
      rankingKernel(task);
    } catch (e) {
      port.postMessage({ error: String((e && e.stack) || e) });
      Atomics.store(failed, 0, 1);
    }
  }
  Atomics.add(done, slot, 1);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

const SUPERVISOR_SOURCE = `
const { parentPort, workerData, Worker } = require('node:worker_threads');
const { control, reports, kernelSource } = workerData;
const children = new Map();
parentPort.on('message', (m) => {
  if (m.spawn !== undefined) spawn(m);
  if (m.stop !== undefined) children.get(m.stop)?.terminate();
});
function spawn({ spawn: slot, port, status, resourceLimits }) {
  let worker;
  let reason;
  const died = (why) => {
    if (children.get(slot) !== worker) return;
    children.delete(slot);
    reports.postMessage({ slot, reason: why });
    Atomics.store(status, 0, 1);
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
  };
  try {
    worker = new Worker(kernelSource, {
      eval: true,
      workerData: { port, signal: control },
      transferList: [port],
      ...(resourceLimits ? { resourceLimits } : {}),
    });
  } catch (e) {
    worker = {};
    children.set(slot, worker);
    died('could not start: ' + ((e && e.message) || e));
    return;
  }
  children.set(slot, worker);
  worker.on('message', (m) => {
    if (m === 'terminate') worker.terminate();
    if (m === 'supervisor') process.exit(71);
  });
  worker.on('error', (e) => { reason = (e && e.code ? e.code + ': ' : '') + ((e && e.message) || e); });
  worker.on('exit', (code) => died(reason ?? 'exited with code ' + code));
}
Atomics.add(control, 1, 1);
setInterval(() => Atomics.add(control, 1, 1), 100);
`;

/** Indices into the pool's control array. */
const SIGNAL = 0; // bumped (and notified) by every finished task and every worker death
const BEAT = 1; // the supervisor's heartbeat: 0 until it has started, then bumped every 100 ms
/** The caller's wait is cut into slices this long, to look at the heartbeat. */
const SLICE_MS = 250;
/** A supervisor silent this long is taken for dead (before its first beat: while it starts). */
const STARTING_MS = 60_000;

interface Helper {
  slot: number;
  /** Our end of the worker's MessageChannel. */
  port: MessagePort;
  /** [0] = 1 once the worker has exited (set by the supervisor). */
  status: Int32Array;
}

interface Pool {
  supervisor: Worker;
  control: Int32Array;
  /** Why workers died: {slot, reason}, posted by the supervisor before it flags the death. */
  reports: MessagePort;
  reasons: Map<number, string>;
  helpers: Helper[];
}

let current: Pool | undefined;
let unavailable = false;

/**
 * Internal hooks for tests: `inject` makes the next task sent to a worker fail that way mid-task
 * ('terminate': the supervisor terminates the worker while it runs; 'exit': the worker calls
 * `process.exit`; 'oom': it allocates until its heap limit, which `resourceLimits` sets for workers
 * started afterwards; 'supervisor': the supervisor exits, taking every worker with it, which the
 * caller notices after `silentMs` without a heartbeat); `stop(slot)` terminates an idle worker and
 * resolves once it is gone.
 */
export const workerFaults: {
  inject: WorkerFault | undefined;
  resourceLimits: ResourceLimits | undefined;
  silentMs: number;
  stop(slot: number): Promise<void>;
  /** Workers started so far in this process (replacements included). */
  started: number;
} = {
  inject: undefined,
  resourceLimits: undefined,
  silentMs: 10_000,
  started: 0,
  async stop(slot: number): Promise<void> {
    const helper = current?.helpers[slot];
    if (!current || !helper) throw new Error(`no ranking worker ${slot} to stop`);
    current.supervisor.postMessage({ stop: slot });
    const until = Date.now() + 10_000;
    while (Atomics.load(helper.status, 0) === 0) {
      if (Date.now() > until) throw new Error(`ranking worker ${slot} did not stop`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  },
};

/** Worker threads to use besides the calling thread: one per extra core, at most 7. */
export function defaultWorkerCount(): number {
  return Math.max(0, Math.min(7, availableParallelism() - 1));
}

function startPool(): Pool | undefined {
  const control = new Int32Array(new SharedArrayBuffer(12));
  const { port1, port2 } = new MessageChannel();
  let supervisor: Worker;
  try {
    supervisor = new Worker(SUPERVISOR_SOURCE, {
      eval: true,
      workerData: { control, reports: port2, kernelSource: KERNEL_SOURCE },
      transferList: [port2],
    });
  } catch {
    port1.close();
    unavailable = true;
    return undefined;
  }
  supervisor.unref();
  port1.unref();
  const pool: Pool = { supervisor, control, reports: port1, reasons: new Map(), helpers: [] };
  const forget = () => {
    if (current === pool) current = undefined;
    for (const h of pool.helpers) h.port.close();
    port1.close();
  };
  supervisor.on('error', forget);
  supervisor.on('exit', forget);
  return pool;
}

/** `count` live workers (starting or replacing what is missing), or none when threads are unavailable. */
function pool(count: number): { pool: Pool; helpers: Helper[] } | undefined {
  if (unavailable || count === 0) return undefined;
  current ??= startPool();
  const p = current;
  if (!p) return undefined;
  for (let slot = 0; slot < count; slot++) {
    const old = p.helpers[slot];
    if (old && Atomics.load(old.status, 0) === 0) continue;
    old?.port.close();
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    const status = new Int32Array(new SharedArrayBuffer(4));
    p.reasons.delete(slot);
    p.supervisor.postMessage(
      { spawn: slot, port: port2, status, resourceLimits: workerFaults.resourceLimits },
      [port2],
    );
    workerFaults.started++;
    p.helpers[slot] = { slot, port: port1, status };
  }
  return { pool: p, helpers: p.helpers.slice(0, count) };
}

/** Stops the pool's worker threads (a later parallel call starts new ones). */
export async function terminateWorkers(): Promise<void> {
  const p = current;
  current = undefined;
  if (!p) return;
  for (const h of p.helpers) h.port.close();
  p.reports.close();
  await p.supervisor.terminate();
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
  private readonly pool: Pool | undefined;
  private readonly helpers: Helper[];
  private readonly done: Int32Array;
  private readonly failed = new Int32Array(new SharedArrayBuffer(4));
  /** Set when the run is abandoned: workers skip its remaining tasks. */
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private readonly sent: number[];
  /** Row ranges sent to each worker, for the error message. */
  private readonly rows: [number, number][][];

  constructor(threads: number) {
    const got = pool(Math.max(0, threads - 1));
    this.pool = got?.pool;
    this.helpers = got?.helpers ?? [];
    this.done = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, this.helpers.length)));
    this.sent = this.helpers.map(() => 0);
    this.rows = this.helpers.map(() => []);
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
    const inject = workerFaults.inject;
    workerFaults.inject = undefined;
    const message = { task, done: this.done, failed: this.failed, cancel: this.cancel, slot: best, inject };
    this.helpers[best]!.port.postMessage(message, transfer);
    this.sent[best]!++;
    this.rows[best]!.push([task.rowStart, task.rowEnd]);
  }

  /** Waits for every submitted task; throws WORKER_FAILED at once when a worker dies or fails. */
  finish(): void {
    if (!this.pool) return;
    const { control } = this.pool;
    let beat = Atomics.load(control, BEAT);
    let beatAt = Date.now();
    for (;;) {
      const seen = Atomics.load(control, SIGNAL);
      let pending = false;
      for (let i = 0; i < this.helpers.length; i++) {
        if (Atomics.load(this.done, i) >= this.sent[i]!) continue;
        if (Atomics.load(this.helpers[i]!.status, 0) !== 0) throw this.abandon(this.lost(i));
        pending = true;
      }
      if (!pending) break;
      if (Atomics.wait(control, SIGNAL, seen, SLICE_MS) !== 'timed-out') continue;
      const now = Atomics.load(control, BEAT);
      if (now !== beat) {
        beat = now;
        beatAt = Date.now();
      } else if (Date.now() - beatAt > (beat === 0 ? STARTING_MS : workerFaults.silentMs)) {
        // The supervisor (and with it every worker) is gone: start afresh on the next call.
        if (current === this.pool) current = undefined;
        void this.pool.supervisor.terminate();
        throw this.abandon(
          new RecallkitError(
            'WORKER_FAILED',
            `the ranking worker threads stopped responding (no heartbeat for ${((Date.now() - beatAt) / 1000).toFixed(1)} s); the loss was not computed and the next call starts new workers`,
          ),
        );
      }
    }
    if (Atomics.load(this.failed, 0) !== 0) {
      const errors = this.helpers.flatMap((h) => {
        const out: string[] = [];
        for (let m = receiveMessageOnPort(h.port); m; m = receiveMessageOnPort(h.port)) {
          out.push(String((m.message as { error?: unknown }).error));
        }
        return out;
      });
      throw new RecallkitError(
        'WORKER_FAILED',
        `a ranking worker failed: ${errors[0] ?? 'unknown error'}`,
        errors.length > 0 ? { errors } : undefined,
      );
    }
  }

  private abandon(error: RecallkitError): RecallkitError {
    Atomics.store(this.cancel, 0, 1);
    return error;
  }

  private lost(i: number): RecallkitError {
    const p = this.pool!;
    for (let m = receiveMessageOnPort(p.reports); m; m = receiveMessageOnPort(p.reports)) {
      const { slot, reason } = m.message as { slot: number; reason: string };
      p.reasons.set(slot, reason);
    }
    const reason = p.reasons.get(i) ?? 'it exited';
    const ranges = this.rows[i]!.map(([a, b]) => `${a}..${b - 1}`).join(', ');
    return new RecallkitError(
      'WORKER_FAILED',
      `ranking worker ${i} died while computing query rows ${ranges} (${reason}); the loss was not computed and the next call replaces the worker`,
      { worker: i, reason },
    );
  }
}
