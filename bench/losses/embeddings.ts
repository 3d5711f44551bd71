/**
 * The embedding batches the losses benchmark measures, each B rows with its labels:
 *
 * - `random`: B Gaussian directions in 512-d, 4 per class (the PyTorch peer's input).
 * - `clustered`: 512-d, 4 per class, each class around its own centre (a batch late in training).
 * - `cnn-untrained`: MNIST training images through `smallCnn({ seed: 0 })` as initialised (128-d);
 *   batch from `mPerClassSampler` (10 digits x B/10 images, seed 0), as the engine's chunked step
 *   feeds the loss. Cosine similarities bunch in about [0.3, 1].
 * - `cnn-trained`: the same network after a short training run (RS@k on 10 x 40 MNIST batches,
 *   Adam 1e-3, `TRAIN_STEPS` steps), then the same batch.
 * - `cnn-untrained-4`: the untrained network on B images, 4 per class, where a class is a group of
 *   4 images of one digit (B/4 groups; the peer's layout on real embeddings: other images of the
 *   same digit are negatives).
 * - `emoji-untrained`: the emoji benchmark's network (`smallCnn` on 32 x 32 RGB, seed 0, as
 *   `experiments/emoji-rsk.yaml` builds it) as initialised, 128-d, on B/4 training classes x the 4
 *   vendors' drawings (one `rskSampler` batch, seed 0: the benchmark's label structure, 4 per
 *   class, at B/4 classes instead of 100). Cosine similarities bunch near 1.
 * - `emoji-trained`: the same network after `EMOJI_EPOCHS` epochs of the `emoji-rsk` experiment's
 *   training (RS@k on 100 x 4 `rskSampler` batches, Adam 1e-3, 2-px translations), the same batch.
 *
 * Network embeddings are computed once and cached under the OS temp folder (keyed by kind and B),
 * so every timed process reads the same float32 rows.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@recallkit/core';
import { emoji, mnist, mPerClassSampler, rskSampler } from '@recallkit/datasets';
import { adam, applyGradients, fullBatchGradients } from '@recallkit/engine';
import { recallAtKSurrogate } from '@recallkit/losses';
import { smallCnn } from '@recallkit/models';

export const KINDS = [
  'random',
  'clustered',
  'cnn-untrained',
  'cnn-trained',
  'cnn-untrained-4',
  'emoji-untrained',
  'emoji-trained',
] as const;
export type Kind = (typeof KINDS)[number];
export const TRAIN_STEPS = 100;
export const EMOJI_EPOCHS = 10;

export interface Batch {
  e: tf.Tensor2D;
  labels: Int32Array;
}

function synthetic(kind: 'random' | 'clustered', rows: number, seed: number): Batch {
  const dim = 512;
  return tf.tidy(() => {
    const labels = Int32Array.from({ length: rows }, (_, i) => Math.floor(i / 4));
    let x = tf.randomNormal([rows, dim], 0, 1, 'float32', seed);
    if (kind === 'clustered') {
      const centres = tf.randomNormal([Math.ceil(rows / 4), dim], 0, 1, 'float32', seed + 1);
      x = tf.add(tf.gather(centres, tf.tensor1d(labels, 'int32')), tf.mul(x, 0.8));
    }
    return { e: tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D, labels };
  });
}

function embedAll(model: tf.LayersModel, data: { load(i: Int32Array): Promise<tf.Tensor4D> }) {
  return async (indices: Int32Array): Promise<Float32Array> => {
    const out = new Float32Array(indices.length * 128);
    for (let s = 0; s < indices.length; s += 500) {
      const x = await data.load(indices.subarray(s, s + 500));
      const y = model.predict(x) as tf.Tensor;
      out.set(y.dataSync() as Float32Array, s * 128);
      tf.dispose([x, y]);
    }
    return out;
  };
}

async function emojiNetwork(kind: 'emoji-untrained' | 'emoji-trained', rows: number) {
  const { train: data } = await emoji({ size: 32 });
  const model = smallCnn({ seed: 0, inputShape: [32, 32, 3] });
  if (kind === 'emoji-trained') {
    const train = rskSampler({ labels: data.labels, classesPerBatch: 100, samplesPerClass: 4, seed: 0 });
    const loss = recallAtKSurrogate();
    const optimizer = adam({ learningRate: 1e-3 });
    for (let epoch = 0; epoch < EMOJI_EPOCHS; epoch++) {
      let last = 0;
      for (const indices of train.batches(epoch)) {
        const inputs = await data.load(indices, { seed: 0, epoch });
        const labels = Int32Array.from(indices, (j) => data.labels[j]!);
        const g = fullBatchGradients({ model, loss, inputs, labels });
        applyGradients(optimizer, g.variables, g.gradients);
        tf.dispose([inputs, ...g.gradients]);
        last = g.loss;
      }
      process.stderr.write(`  training epoch ${epoch + 1}/${EMOJI_EPOCHS}: last loss ${last.toFixed(4)}\n`);
    }
  }
  const sampler = rskSampler({ labels: data.labels, classesPerBatch: rows / 4, samplesPerClass: 4, seed: 0 });
  const indices = sampler.batches(0)[0]!;
  const labels = Int32Array.from(indices, (j) => data.labels[j]!);
  const embeddings = await embedAll(model, data)(indices);
  model.dispose();
  return { embeddings, labels };
}

async function network(kind: Exclude<Kind, 'random' | 'clustered'>, rows: number) {
  if (kind === 'emoji-untrained' || kind === 'emoji-trained') return emojiNetwork(kind, rows);
  const data = await mnist({ split: 'train' });
  const model = smallCnn({ seed: 0 });
  if (kind === 'cnn-trained') {
    const train = mPerClassSampler({
      labels: data.labels,
      classesPerBatch: 10,
      samplesPerClass: 40,
      seed: 1,
    });
    const batches = train.batches(0);
    const loss = recallAtKSurrogate();
    const optimizer = adam({ learningRate: 1e-3 });
    for (let i = 0; i < TRAIN_STEPS; i++) {
      const indices = batches[i % batches.length]!;
      const inputs = await data.load(indices);
      const labels = Int32Array.from(indices, (j) => data.labels[j]!);
      const g = fullBatchGradients({ model, loss, inputs, labels });
      applyGradients(optimizer, g.variables, g.gradients);
      tf.dispose([inputs, ...g.gradients]);
      if (i % 25 === 0)
        process.stderr.write(`  training step ${i}/${TRAIN_STEPS}: loss ${g.loss.toFixed(4)}\n`);
    }
  }
  let indices: Int32Array;
  let labels: Int32Array;
  if (kind === 'cnn-untrained-4') {
    // Groups of 4 images of one digit: group g takes the next 4 unused images of digit g % 10.
    const byDigit: number[][] = Array.from({ length: 10 }, () => []);
    data.labels.forEach((y, i) => {
      byDigit[y]!.push(i);
    });
    indices = new Int32Array(rows);
    labels = new Int32Array(rows);
    const used = new Array(10).fill(0);
    for (let r = 0; r < rows; r++) {
      const g = Math.floor(r / 4);
      const digit = g % 10;
      indices[r] = byDigit[digit]![used[digit]++]!;
      labels[r] = g;
    }
  } else {
    const sampler = mPerClassSampler({
      labels: data.labels,
      classesPerBatch: 10,
      samplesPerClass: rows / 10,
      seed: 0,
    });
    indices = sampler.batches(0)[0]!;
    labels = Int32Array.from(indices, (j) => data.labels[j]!);
  }
  const embeddings = await embedAll(model, data)(indices);
  model.dispose();
  return { embeddings, labels };
}

const cacheDir = join(tmpdir(), 'recallkit-bench-losses');

/**
 * The batch of `kind` with B rows as a file (B int32 labels, then B x d float32 rows), what the
 * PyTorch peer reads (`peer_rsk.py`): network batches are cached, synthetic ones written anew.
 */
export async function batchFile(kind: Kind, rows: number): Promise<string> {
  if (kind !== 'random' && kind !== 'clustered') {
    (await batchOf(kind, rows)).e.dispose();
    return join(cacheDir, `${kind}-${rows}.bin`);
  }
  const { e, labels } = synthetic(kind, rows, 7);
  const file = join(cacheDir, `${kind}-${rows}.bin`);
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const rowsOut = e.dataSync() as Float32Array;
  writeFileSync(
    tmp,
    Buffer.concat([
      Buffer.from(labels.buffer),
      Buffer.from(rowsOut.buffer, rowsOut.byteOffset, rowsOut.byteLength),
    ]),
  );
  renameSync(tmp, file);
  e.dispose();
  return file;
}

/** The batch of `kind` with B rows (network embeddings read from the cache, made on first use). */
export async function batchOf(kind: Kind, rows: number): Promise<Batch> {
  if (kind === 'random' || kind === 'clustered') return synthetic(kind, rows, 7);
  const dir = cacheDir;
  const file = join(dir, `${kind}-${rows}.bin`);
  if (!existsSync(file)) {
    process.stderr.write(`making ${kind} embeddings for B = ${rows} (cached in ${file})\n`);
    const { embeddings, labels } = await network(kind, rows);
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([Buffer.from(labels.buffer), Buffer.from(embeddings.buffer)]));
    renameSync(tmp, file);
  }
  const bytes = readFileSync(file);
  const labels = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 4 * rows));
  const embeddings = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset + 4 * rows, bytes.byteOffset + bytes.length),
  );
  return { e: tf.tensor2d(embeddings, [rows, embeddings.length / rows]), labels };
}
