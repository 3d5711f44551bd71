// Small private stand-ins for the models, losses and datasets contracts, sized for fast tests.
import { createRng, type Labels, labelArray, type Rng, tf } from '@recallkit/core';
import type { TrainingDataset, TrainingSampler } from '../src/index';

export function mlp(inputDim = 8, embeddingDim = 6, seed = 1): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputDim],
        units: 16,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({
        units: embeddingDim,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
        biasInitializer: 'zeros',
      }),
    ],
  });
}

export function cnn(seed = 1): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({
        filters: 6,
        kernelSize: 2,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
    ],
  });
}

/**
 * A smooth pairwise loss over the whole batch (every embedding's gradient depends on all others):
 * positives pulled to similarity 1, negatives pushed below 0.2 through a softplus.
 */
export function pairLoss(embeddings: tf.Tensor2D, labels: Labels): tf.Scalar {
  return tf.tidy(() => {
    const y = tf.tensor1d(labelArray(labels), 'int32');
    const same = tf.cast(tf.equal(y.expandDims(1), y.expandDims(0)), 'float32');
    const n = embeddings.shape[0];
    const positives = tf.sub(same, tf.eye(n));
    const negatives = tf.sub(1, same);
    const s = tf.matMul(embeddings, embeddings, false, true);
    const pull = tf.mul(positives, tf.square(tf.sub(1, s)));
    const push = tf.mul(negatives, tf.softplus(tf.mul(tf.sub(s, 0.2), 5)));
    return tf.div(tf.add(tf.sum(pull), tf.sum(push)), n * n) as tf.Scalar;
  });
}

/** Deterministic pseudo-random float32 data. */
export function randomData(count: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: count }, () => rng.next() * 2 - 1);
}

/** An in-memory dataset; augmentation adds noise decided by (seed, epoch, index) alone. */
export function memoryDataset(
  length: number,
  sampleShape: number[],
  numClasses: number,
  seed = 7,
): TrainingDataset {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const data = randomData(length * size, seed);
  const labels = Int32Array.from({ length }, (_, i) => i % numClasses);
  return {
    length,
    labels,
    async load(indices, augment) {
      const out = new Float32Array(indices.length * size);
      for (let r = 0; r < indices.length; r++) {
        const index = indices[r] as number;
        const noise = augment ? createRng(`${augment.seed}/${augment.epoch}/${index}`) : undefined;
        for (let j = 0; j < size; j++) {
          out[r * size + j] = (data[index * size + j] as number) + (noise ? (noise.next() - 0.5) * 0.1 : 0);
        }
      }
      return tf.tensor(out, [indices.length, ...sampleShape]);
    },
  };
}

/** m samples of each of c classes per batch, a pure function of (seed, epoch). */
export function mPerClass(
  labels: Int32Array,
  classesPerBatch: number,
  samplesPerClass: number,
  seed: number,
): TrainingSampler {
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => {
    byClass.set(label, [...(byClass.get(label) ?? []), i]);
  });
  const classes = [...byClass.keys()];
  const batchSize = classesPerBatch * samplesPerClass;
  return {
    batchSize,
    batches(epoch) {
      const rng = createRng(`${seed}/${epoch}`);
      const shuffled = shuffle([...classes], rng);
      const out: Int32Array[] = [];
      for (let b = 0; b + classesPerBatch <= shuffled.length; b += classesPerBatch) {
        const batch: number[] = [];
        for (const c of shuffled.slice(b, b + classesPerBatch)) {
          batch.push(...shuffle([...(byClass.get(c) ?? [])], rng).slice(0, samplesPerClass));
        }
        out.push(Int32Array.from(batch));
      }
      return out;
    },
  };
}

function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Largest |a - b| / max(|b|_inf, tiny) over all entries. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i] as number));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst / Math.max(scale, 1e-30);
}
