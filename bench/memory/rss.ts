// Resident memory over long loops: RS@k loss + gradient, evaluate() and a training run, each a
// loop of many calls, with the process's RSS and live tensors printed at its start and end.
//   cd bench && npx tsx --conditions=source memory/rss.ts [--loss 2000] [--evaluate 200] [--steps 1000]
// A loop that frees what each call makes ends near where it started; a leak grows with the count.
import { createRng, tf, useBackend } from '@recallkit/core';
import { mPerClassSampler } from '@recallkit/datasets';
import { train } from '@recallkit/engine';
import { evaluate } from '@recallkit/evaluator';
import { recallAtKSurrogate } from '@recallkit/losses';
import { option } from '../args';

const lossCalls = Number(option('--loss') ?? 2000);
const evaluations = Number(option('--evaluate') ?? 200);
const steps = Number(option('--steps') ?? 1000);

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const rss = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss;
};

/** RSS at the start, after each quarter and at the end of a loop, and the live tensors. */
function report(loop: string, readings: number[], tensors: [number, number]): void {
  const first = readings[0]!;
  const last = readings.at(-1)!;
  console.log(
    `${loop}: RSS ${readings.map(mb).join(' -> ')} MiB (${last >= first ? '+' : ''}${mb(last - first)}), tensors ${tensors[0]} -> ${tensors[1]}`,
  );
}

async function measure(loop: string, count: number, body: (i: number) => unknown): Promise<void> {
  // Two warm-up calls: first-call allocations (kernels, caches, the wasm heap's growth) are not a leak.
  for (let i = 0; i < 2; i++) await body(i);
  const readings = [rss()];
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < count; i++) {
    await body(i);
    if ((i + 1) % Math.ceil(count / 4) === 0 || i + 1 === count) readings.push(rss());
  }
  report(`${loop} x ${count}`, readings, [tensors, tf.memory().numTensors]);
}

function unitRows(n: number, dim: number, seed: number): tf.Tensor2D {
  const rng = createRng(seed);
  return tf.tidy(() => {
    const x = tf.tensor2d(
      Float32Array.from({ length: n * dim }, () => rng.normal()),
      [n, dim],
    );
    return tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
  });
}

await useBackend('wasm');
console.log(`node ${process.version}, wasm backend, gc ${globalThis.gc ? 'exposed' : 'not exposed'}`);

// 1. RS@k loss + gradient on a batch of 400 x 128.
{
  const e = unitRows(400, 128, 1);
  const labels = Array.from({ length: 400 }, (_, i) => i % 100);
  const loss = recallAtKSurrogate();
  await measure('RS@k loss + gradient (B = 400)', lossCalls, () => {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
    value.dataSync();
    tf.dispose([value, grad]);
  });
  e.dispose();
}

// 2. evaluate() of 2,000 x 128 embeddings (exact search).
{
  const e = unitRows(2000, 128, 2);
  const labels = Int32Array.from({ length: 2000 }, (_, i) => i % 100);
  await measure('evaluate() (2,000 x 128, exact)', evaluations, () =>
    evaluate(e, labels, { index: 'exact' }),
  );
  e.dispose();
}

// 3. A training run of `steps` steps: an MLP on in-memory data, RS@k, batches of 64 in chunks of 32.
{
  const rng = createRng(3);
  const length = 640;
  const data = Float32Array.from({ length: length * 32 }, () => rng.normal());
  const labels = Int32Array.from({ length }, (_, i) => i % 40);
  const dataset = {
    length,
    labels,
    load: async (indices: ArrayLike<number>) =>
      tf.tensor2d(
        Float32Array.from(
          { length: indices.length * 32 },
          (_, j) => data[indices[Math.floor(j / 32)]! * 32 + (j % 32)]!,
        ),
        [indices.length, 32],
      ),
  };
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [32], units: 64, activation: 'relu' }),
      tf.layers.dense({ units: 32 }),
    ],
  });
  const sampler = mPerClassSampler({ labels, classesPerBatch: 16, samplesPerClass: 4, seed: 0 });
  const tensors = tf.memory().numTensors;
  const readings: number[] = [];
  let live = 0;
  const quarter = Math.ceil(steps / 4);
  await train({
    model,
    loss: recallAtKSurrogate(),
    dataset,
    sampler,
    epochs: steps,
    iterations: steps,
    chunkSize: 32,
    optimizer: { type: 'adamw', learningRate: 1e-3 },
    progress: false,
    onStep: ({ step }) => {
      // From step 2 on: the first step makes the optimiser's moments.
      if (step === 2) live = tf.memory().numTensors;
      if (step === 2 || step % quarter === 0) readings.push(rss());
      if (tf.memory().numTensors !== live && step > 2)
        throw new Error(`step ${step}: ${tf.memory().numTensors} tensors, ${live} at step 2`);
    },
  });
  report(`training run x ${steps} steps (B = 64, chunks of 32), from step 2`, readings, [
    tensors,
    tf.memory().numTensors,
  ]);
  model.dispose();
}
