import { RecallkitError, tf } from '@recallkit/core';
import { positiveInt } from './validate';

/** Anything that hands out samples by index, e.g. a `@recallkit/datasets` Dataset. */
export interface IndexedSource {
  readonly length: number;
  load(indices: Int32Array): Promise<tf.Tensor>;
}

export type BatchSource = IndexedSource | AsyncIterable<tf.Tensor> | Iterable<tf.Tensor>;

export interface EmbedOptions {
  /** Samples per forward pass when reading an IndexedSource (default 256). */
  batchSize?: number;
  /** Dispose each input batch once embedded (default true: the batches are usually made for this call). */
  disposeInputs?: boolean;
  /** Called after each batch with the number of samples embedded so far (and the total, when known). */
  onProgress?: (done: number, total: number | undefined) => void;
}

export interface Embeddings {
  /** Row-major count x dim. */
  data: Float32Array;
  count: number;
  dim: number;
}

function isIndexed(source: BatchSource): source is IndexedSource {
  return (
    typeof (source as IndexedSource).load === 'function' &&
    typeof (source as IndexedSource).length === 'number'
  );
}

/** Input batches, with the number of rows asked of an indexed source (unknown for iterables). */
async function* batchesOf(
  source: BatchSource,
  batchSize: number,
): AsyncGenerator<{ batch: tf.Tensor; rows?: number }> {
  if (!isIndexed(source)) {
    for await (const batch of source as AsyncIterable<tf.Tensor>) yield { batch };
    return;
  }
  for (let start = 0; start < source.length; start += batchSize) {
    const end = Math.min(start + batchSize, source.length);
    const batch = await source.load(Int32Array.from({ length: end - start }, (_, i) => start + i));
    yield { batch, rows: end - start };
  }
}

/** Throws INVALID_INPUT unless the batch has the rows asked for and fits the model's input shape. */
function checkBatch(model: tf.LayersModel, batch: tf.Tensor, asked: number | undefined, done: number): void {
  if (asked !== undefined && batch.shape[0] !== asked) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `embedDataset: the source returned ${batch.shape[0]} rows for the ${asked} samples ${done}..${done + asked - 1}`,
    );
  }
  const expected = model.inputs.length === 1 ? model.inputs[0]!.shape : undefined;
  if (
    expected &&
    (expected.length !== batch.rank || expected.some((d, i) => i > 0 && d !== null && d !== batch.shape[i]))
  ) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `embedDataset: a batch of shape [${batch.shape}] (samples from ${done}) does not fit the model's input [${expected.map((d) => d ?? 'batch')}]`,
    );
  }
}

/** Throws NON_FINITE_INPUT naming the first sample of the batch whose input holds a NaN or an infinity. */
async function checkFiniteInput(batch: tf.Tensor, done: number): Promise<void> {
  const finite = tf.tidy(() => tf.all(tf.isFinite(batch)));
  const ok = (await finite.data())[0];
  finite.dispose();
  if (ok) return;
  const rows = tf.tidy(() => tf.all(tf.isFinite(tf.reshape(batch, [batch.shape[0]!, -1])), 1));
  const first = (await rows.data()).findIndex((v) => !v);
  rows.dispose();
  throw new RecallkitError(
    'NON_FINITE_INPUT',
    `embedDataset: the input of sample ${done + first} holds a non-finite value (NaN or infinity)`,
  );
}

/**
 * Embeds a whole dataset in inference mode, batch by batch, into one Float32Array (count x dim).
 * `source` is an indexed source (`{ length, load(indices) }`, such as a Dataset) or any (async) iterable
 * of input batches. Keeps only the embeddings in memory, never the activations of more than one batch.
 */
export async function embedDataset(
  model: tf.LayersModel,
  source: BatchSource,
  options: EmbedOptions = {},
): Promise<Embeddings> {
  const batchSize = positiveInt(options.batchSize ?? 256, 'embedDataset: batchSize');
  const total = isIndexed(source) ? source.length : undefined;
  const chunks: Float32Array[] = [];
  let count = 0;
  let dim: number | undefined;
  for await (const { batch, rows: asked } of batchesOf(source, batchSize)) {
    try {
      checkBatch(model, batch, asked, count);
      if (batch.shape[0] === 0) continue; // an empty batch adds nothing
      await checkFiniteInput(batch, count);
      const values = tf.tidy(() => {
        // apply, not predict: predict cuts the batch into slices of 32, and on wasm each slice
        // copies the whole batch out of the heap; inference mode all the same.
        const out = model.apply(batch, { training: false }) as tf.Tensor | tf.Tensor[];
        if (Array.isArray(out) || out.rank !== 2) {
          throw new RecallkitError(
            'MODEL_OUTPUT',
            'embedDataset: the model must have one rank-2 output (batch x dim)',
          );
        }
        return out;
      });
      const data = (await values.data()) as Float32Array;
      const [rows, cols] = values.shape as [number, number];
      values.dispose();
      if (rows !== batch.shape[0]) {
        throw new RecallkitError(
          'MODEL_OUTPUT',
          `embedDataset: ${batch.shape[0]} inputs gave ${rows} embeddings`,
        );
      }
      if (dim !== undefined && cols !== dim) {
        throw new RecallkitError(
          'MODEL_OUTPUT',
          `embedDataset: embedding size changed from ${dim} to ${cols}`,
        );
      }
      dim = cols;
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) {
          throw new RecallkitError(
            'NON_FINITE_INPUT',
            `embedDataset: non-finite embedding for sample ${count + Math.floor(i / cols)}`,
          );
        }
      }
      chunks.push(data);
      count += rows;
      options.onProgress?.(count, total);
    } finally {
      if (options.disposeInputs ?? true) batch.dispose();
    }
  }
  if (dim === undefined)
    throw new RecallkitError('EMBED_EMPTY', 'embedDataset: the source yielded no samples');
  const result = new Float32Array(count * dim);
  let offset = 0;
  for (const chunk of chunks) {
    result.set(chunk, offset);
    offset += chunk.length;
  }
  return { data: result, count, dim };
}
