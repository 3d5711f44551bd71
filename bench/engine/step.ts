// One benchmark configuration, run in its own process so its peak RSS is its own:
//   tsx --conditions=source engine/step.ts <chunked|plain|loss> <batch> <chunk> <timedSteps> [contrastive|rsk]
// Prints one JSON line: wall and CPU time per step, peak RSS (VmHWM) and peak tensor bytes (tf.profile).
// Mode 'loss' measures stage 2 alone: the loss and dL/dE on a batch of random unit embeddings.
import { readFileSync } from 'node:fs';
import { tf, useBackend } from '@recallkit/core';
import { mnist, mPerClassSampler } from '@recallkit/datasets';
import { adamW, applyGradients, chunkedGradients, fullBatchGradients } from '@recallkit/engine';
import { contrastive, recallAtKSurrogate } from '@recallkit/losses';
import { smallCnn } from '@recallkit/models';

const [mode = 'chunked', batchArg = '400', chunkArg = '200', stepsArg = '2', lossId = 'contrastive'] =
  process.argv.slice(2);
const batch = Number(batchArg);
const chunkSize = Number(chunkArg);
const timedSteps = Number(stepsArg);

const peakRssBytes = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;

try {
  await useBackend('wasm');
  const data = await mnist({ split: 'train' });
  const sampler = mPerClassSampler({
    labels: data.labels,
    classesPerBatch: 10,
    samplesPerClass: batch / 10,
    seed: 0,
  });
  const batches = sampler.batches(0);
  const model = smallCnn({ seed: 0 });
  // contrastive with its defaults, or RS@k (the paper's loss) with the authors' defaults.
  const losses = { contrastive, rsk: recallAtKSurrogate } as const;
  if (!(lossId in losses)) throw new Error(`unknown loss '${lossId}': contrastive or rsk`);
  const loss = losses[lossId as keyof typeof losses]();
  const optimizer = adamW({ learningRate: 1e-4 });

  const step = async (i: number) => {
    const indices = batches[i % batches.length] as Int32Array;
    const labels = Int32Array.from(indices, (j) => data.labels[j] as number);
    if (mode === 'chunked') {
      const inputs = (start: number, end: number) => data.load(indices.subarray(start, end));
      const g = await chunkedGradients({ model, loss, inputs, batchSize: batch, labels, chunkSize });
      applyGradients(optimizer, g.variables, g.gradients);
      tf.dispose(g.gradients);
    } else {
      const inputs = await data.load(indices);
      const g = fullBatchGradients({ model, loss, inputs, labels });
      applyGradients(optimizer, g.variables, g.gradients);
      tf.dispose([inputs, ...g.gradients]);
    }
  };

  if (mode === 'loss') {
    const labels = Int32Array.from(batches[0] as Int32Array, (j) => data.labels[j] as number);
    const e = tf.tidy(() => {
      const raw = tf.randomNormal([batch, 128], 0, 1, 'float32', 1);
      return tf.div(raw, tf.norm(raw, 'euclidean', 1, true)) as tf.Tensor2D;
    });
    const profile = await tf.profile(() => {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor2D) => loss(x, labels))(e);
      tf.dispose([value, grad]);
    });
    console.log(
      JSON.stringify({
        ok: true,
        mode,
        loss: lossId,
        batch,
        chunkSize,
        peakRssBytes: peakRssBytes(),
        peakTensorBytes: profile.peakBytes,
      }),
    );
    process.exit(0);
  }
  await step(0); // warm-up: kernels, wasm heap growth
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 1; i <= timedSteps; i++) await step(i);
  const secondsPerStep = (performance.now() - started) / 1000 / timedSteps;
  const { user, system } = process.cpuUsage(cpu);
  const cpuSecondsPerStep = (user + system) / 1e6 / timedSteps;
  const rss = peakRssBytes();
  // Tensor bytes last: tf.profile copies kernel outputs to JS, which would inflate RSS.
  const profile = await tf.profile(() => step(timedSteps + 1));
  console.log(
    JSON.stringify({
      ok: true,
      mode,
      loss: lossId,
      batch,
      chunkSize,
      secondsPerStep,
      cpuSecondsPerStep,
      peakRssBytes: rss,
      peakTensorBytes: profile.peakBytes,
    }),
  );
} catch (error) {
  console.log(
    JSON.stringify({
      ok: false,
      mode,
      loss: lossId,
      batch,
      chunkSize,
      error: String((error as Error).message ?? error).slice(0, 300),
      peakRssBytes: peakRssBytes(),
    }),
  );
}
