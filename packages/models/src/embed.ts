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

async function* batchesOf(source: BatchSource, batchSize: number): AsyncGenerator<tf.Tensor> {
  if (!isIndexed(source)) {
    yield* source as AsyncIterable<tf.Tensor>;
    return;
  }
  for (let start = 0; start < source.length; start += batchSize) {
    const end = Math.min(start + batchSize, source.length);
    yield await source.load(Int32Array.from({ length: end - start }, (_, i) => start + i));
  }
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
  for await (const batch of batchesOf(source, batchSize)) {
    try {
      const values = tf.tidy(() => {
        const out = model.predict(batch);
        if (Array.isArray(out) || out.rank !== 2) {
          throw new RecallkitError(
            'EMBED_OUTPUT',
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
          'EMBED_OUTPUT',
          `embedDataset: ${batch.shape[0]} inputs gave ${rows} embeddings`,
        );
      }
      if (dim !== undefined && cols !== dim) {
        throw new RecallkitError(
          'EMBED_OUTPUT',
          `embedDataset: embedding size changed from ${dim} to ${cols}`,
        );
      }
      dim = cols;
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) {
          throw new RecallkitError(
            'EMBED_NONFINITE',
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
    throw new RecallkitError('EMBED_EMPTY', 'embedDataset: the source yielded no batches');
  const result = new Float32Array(count * dim);
  let offset = 0;
  for (const chunk of chunks) {
    result.set(chunk, offset);
    offset += chunk.length;
  }
  return { data: result, count, dim };
}
