import { isRecallkitError, type RecallkitErrorCode } from '@recallkit/core';
import { registerBuiltins } from './builtins';
import { type Job, runJob } from './jobs';

/** Messages between the bench (parent) and a worker process. */
export type ToWorker = { type: 'job'; id: number; job: Job } | { type: 'exit' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: number; step: number; total: number; loss: number }
  | { type: 'result'; id: number; result: import('./results').RunResult }
  | { type: 'error'; id: number; message: string; code?: RecallkitErrorCode };

/**
 * The body of a bench worker process: runs the jobs the parent sends, one at a time, on its own
 * TensorFlow.js backend (one core each, since wasm is single-threaded).
 */
export function serveJobs(): void {
  const send = (message: FromWorker) => process.send?.(message);
  const registry = registerBuiltins();
  let lastReport = 0;
  // A worker outlives no parent: when the bench dies, so do its workers.
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (message: ToWorker) => {
    if (message.type === 'exit') process.exit(0);
    const { id, job } = message;
    try {
      const result = await runJob(job, registry, ({ step, total, loss }) => {
        const now = Date.now();
        if (now - lastReport > 500 || step === total) {
          lastReport = now;
          send({ type: 'progress', id, step, total, loss });
        }
      });
      send({ type: 'result', id, result });
    } catch (error) {
      send({
        type: 'error',
        id,
        message: error instanceof Error ? error.message : String(error),
        ...(isRecallkitError(error) ? { code: error.code } : {}),
      });
    }
  });
  send({ type: 'ready' });
}
