import { tf } from '@recallkit/core';
import type { AugmentContext, Dataset } from './dataset';
import type { LoadedBatch } from './image-dataset';

export interface PrefetchOptions {
  /** Random context for augmentation (training); omit for evaluation transforms. */
  augment?: AugmentContext;
  /** Batches loaded ahead of the consumer (bounded queue); default 2. */
  depth?: number;
}

type BatchLoader = Dataset & {
  loadBatch?: (indices: ArrayLike<number>, augment?: AugmentContext) => Promise<LoadedBatch>;
};

async function loadOne(
  dataset: BatchLoader,
  indices: Int32Array,
  augment?: AugmentContext,
): Promise<LoadedBatch> {
  if (dataset.loadBatch) return dataset.loadBatch(indices, augment);
  const images = await dataset.load(indices, augment);
  return { images, indices, labels: Int32Array.from(indices, (i) => dataset.labels[i]!), skipped: [] };
}

/**
 * Loads `batches` in order while the consumer works on earlier ones: at most `depth` batches are
 * loading or waiting at any time. The consumer owns (and disposes) each yielded batch's tensor;
 * batches loaded ahead are disposed if the loop stops early.
 */
export async function* prefetchBatches(
  dataset: Dataset,
  batches: readonly Int32Array[],
  options: PrefetchOptions = {},
): AsyncGenerator<LoadedBatch & { batch: number }> {
  const depth = Math.max(1, options.depth ?? 2);
  const queue: Promise<LoadedBatch>[] = [];
  let next = 0;
  const fill = () => {
    while (queue.length < depth && next < batches.length) {
      const p = loadOne(dataset as BatchLoader, batches[next++]!, options.augment);
      p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection while queued
      queue.push(p);
    }
  };
  let yielded = 0;
  try {
    fill();
    while (queue.length > 0) {
      const loaded = await queue.shift()!;
      fill();
      yield { ...loaded, batch: yielded++ };
    }
  } finally {
    for (const p of queue.splice(0)) {
      p.then((b) => tf.dispose(b.images)).catch(() => {});
    }
  }
}
