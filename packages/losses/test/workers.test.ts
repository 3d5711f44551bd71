// The fused kernel's worker threads when one of them dies: the call fails at once with
// WORKER_FAILED, leaks no tensor, and the next call replaces the worker and gives the usual loss.
import { createRng, isRecallkitError, tf, useBackend } from '@recallkit/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WorkerFault, workerFaults } from '../src/fused/pool';
import { recallAtKSurrogate, terminateWorkers } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => {
  workerFaults.inject = undefined;
  workerFaults.resourceLimits = undefined;
  workerFaults.silentMs = 10_000;
});
afterAll(terminateWorkers);

const B = 96;
const labels = Array.from({ length: B }, (_, i) => i % 12);
const rng = createRng(5);
const values = Float32Array.from({ length: B * 8 }, () => rng.normal());

// One worker besides the caller, and blocks of 8 rows: the worker gets the first tasks, the
// caller the others.
const loss = recallAtKSurrogate({
  implementation: 'fused',
  threads: 2,
  blockElements: 8 * B,
  normalize: true,
});

type Result = { loss: number; grad: number[] };

/** The loss and its gradient, on embeddings (`fusedOnEmbeddings`) or on a score block (`onScores`). */
function compute(route: 'embeddings' | 'scores'): Result {
  const e = tf.tensor2d(values, [B, 8]);
  try {
    const f =
      route === 'embeddings'
        ? (x: tf.Tensor) => loss(x as tf.Tensor2D, labels)
        : (x: tf.Tensor) =>
            loss.onScores!({
              scores: tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D, false, true),
              relevant: tf.tidy(() => {
                const y = tf.tensor1d(labels, 'int32');
                const same = tf.equal(y.expandDims(1), y.expandDims(0));
                return tf.logicalAnd(same, tf.logicalNot(tf.cast(tf.eye(B), 'bool'))) as tf.Tensor2D;
              }),
              self: Int32Array.from({ length: B }, (_, i) => i),
            });
    const { value, grad } = tf.valueAndGrad(f)(e);
    const out = { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
    tf.dispose([value, grad]);
    return out;
  } finally {
    e.dispose();
  }
}

/** What a fresh pool computes. */
async function fresh(route: 'embeddings' | 'scores'): Promise<Result> {
  await terminateWorkers();
  return compute(route);
}

function expectWorkerFailure(route: 'embeddings' | 'scores'): { ms: number; message: string } {
  const before = tf.memory().numTensors;
  const started = performance.now();
  let caught: unknown;
  try {
    compute(route);
  } catch (error) {
    caught = error;
  }
  const ms = performance.now() - started;
  expect(isRecallkitError(caught, 'WORKER_FAILED'), String(caught)).toBe(true);
  expect(tf.memory().numTensors).toBe(before);
  return { ms, message: (caught as Error).message };
}

describe('a ranking worker that dies', () => {
  for (const route of ['embeddings', 'scores'] as const) {
    const reasons: Record<Exclude<WorkerFault, 'supervisor'>, RegExp> = {
      terminate: /exited with code 1/,
      exit: /exited with code 70/,
      oom: /ERR_WORKER_OUT_OF_MEMORY/,
    };
    for (const fault of ['terminate', 'exit', 'oom'] as const) {
      it(`mid-task (${fault}, on ${route}): fails at once, leaks nothing, and the next call is normal`, async () => {
        const reference = await fresh(route);
        // A worker's heap limit only applies to workers started after it is set.
        if (fault === 'oom')
          workerFaults.resourceLimits = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 };
        await terminateWorkers();
        workerFaults.inject = fault;
        const started = workerFaults.started;
        const { ms, message } = expectWorkerFailure(route);
        expect(message).toMatch(/ranking worker 0 died while computing query rows 0\.\.7/);
        expect(message).toMatch(reasons[fault]);
        expect(ms).toBeLessThan(2000);
        expect(workerFaults.inject).toBeUndefined();
        // The next call replaces the dead worker and computes what a fresh pool computes.
        expect(compute(route)).toEqual(reference);
        expect(workerFaults.started).toBe(started + 2);
        expect(compute(route)).toEqual(reference);
        expect(workerFaults.started).toBe(started + 2);
      });
    }

    it(`between calls (on ${route}): the next call replaces the worker`, async () => {
      const reference = await fresh(route);
      const started = workerFaults.started;
      await workerFaults.stop(0);
      const t0 = performance.now();
      expect(compute(route)).toEqual(reference);
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(workerFaults.started).toBe(started + 1);
    });
  }

  it('a worker found dead when a call starts is replaced without failing that call', async () => {
    const reference = await fresh('embeddings');
    await workerFaults.stop(0);
    await workerFaults.stop(0); // already gone: returns at once
    const before = tf.memory().numTensors;
    expect(compute('embeddings')).toEqual(reference);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('when the supervisor itself dies, the call fails once its heartbeat stops; the next call starts afresh', async () => {
    const reference = await fresh('embeddings');
    workerFaults.silentMs = 500;
    workerFaults.inject = 'supervisor';
    const { ms, message } = expectWorkerFailure('embeddings');
    expect(message).toMatch(/stopped responding \(no heartbeat for/);
    expect(ms).toBeLessThan(3000);
    const started = workerFaults.started;
    expect(compute('embeddings')).toEqual(reference);
    expect(workerFaults.started).toBe(started + 1);
  });

  it('any error inside the fused forward pass leaves no tensor behind under tf.grad', () => {
    // Scores that overflow to Infinity fail inside the kernel's forward pass; embeddings whose
    // similarities would overflow fail the input check before it. Either way the ops before them
    // (a scaling that saves its inputs for the backward pass) are on the gradient tape.
    const plain = recallAtKSurrogate({ implementation: 'fused', threads: 1 });
    const x = tf.tensor2d(values, [B, 8]);
    const relevant = tf.tidy(() => {
      const y = tf.tensor1d(labels, 'int32');
      const same = tf.equal(y.expandDims(1), y.expandDims(0));
      return tf.logicalAnd(same, tf.logicalNot(tf.cast(tf.eye(B), 'bool'))) as tf.Tensor2D;
    });
    const self = Int32Array.from({ length: B }, (_, i) => i);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      expect(() =>
        tf.valueAndGrad((v: tf.Tensor) => {
          const big = tf.mul(v, tf.scalar(1e20)) as tf.Tensor2D;
          return plain.onScores!({ scores: tf.matMul(big, big, false, true), relevant, self });
        })(x),
      ).toThrow(/scores row 0 holds a non-finite value/);
      expect(() =>
        tf.valueAndGrad((v: tf.Tensor) => plain(tf.mul(v, tf.scalar(1e20)) as tf.Tensor2D, labels))(x),
      ).toThrow(/embeddings row 0 is too large for float32/);
    }
    expect(tf.memory().numTensors).toBe(before);
    relevant.dispose();
    // ... and the next gradient computes normally.
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => plain(v as tf.Tensor2D, labels))(x);
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    tf.dispose([x, value, grad]);
  });

  it('terminateWorkers ends the supervisor and its workers; a later call starts new ones', async () => {
    const reference = await fresh('scores');
    await terminateWorkers();
    await terminateWorkers();
    const started = workerFaults.started;
    expect(compute('scores')).toEqual(reference);
    expect(workerFaults.started).toBe(started + 1);
  });
});
