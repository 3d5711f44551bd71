import { chooseImplementation, type Implementation, tf } from '@recallkit/core';
import { extendColumns, extendColumnsBackward, extendRows, extendRowsBackward, type Mixes } from './kernels';
import type { MixPlan } from './plan';

/**
 * How the mixing runs (core's `Implementation`): 'fused' on typed arrays in JavaScript (fast on the
 * wasm and cpu backends, where tfjs's gather is slow), 'composite' as tfjs gathers (stays on a GPU
 * backend), 'auto' (default) picks 'fused' on wasm and cpu and 'composite' elsewhere.
 */
export type MixImplementation = Implementation | 'auto';

/** The first `count` virtual samples of a plan. */
function mixesOf(plan: MixPlan, count: number): Mixes {
  return {
    first: plan.first.subarray(0, count),
    second: plan.second.subarray(0, count),
    alpha: plan.alpha.subarray(0, count),
  };
}

/** Appends the virtual items along `axis` (0: rows, 1: columns); its gradient applies Mᵀ. */
function extend(x: tf.Tensor2D, mixes: Mixes, axis: 0 | 1, implementation: Implementation): tf.Tensor2D {
  const count = mixes.alpha.length;
  if (count === 0) return x;
  const [rows, cols] = x.shape;
  const outShape: [number, number] = axis === 0 ? [rows + count, cols] : [rows, cols + count];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    if (implementation === 'fused') {
      const forward = axis === 0 ? extendRows : extendColumns;
      const backward = axis === 0 ? extendRowsBackward : extendColumnsBackward;
      return {
        value: tf.tensor2d(forward(input.dataSync() as Float32Array, rows, cols, mixes), outShape),
        gradFunc: (dy: tf.Tensor2D) =>
          tf.tensor2d(backward(dy.dataSync() as Float32Array, rows, cols, mixes), [rows, cols]),
      };
    }
    const mixed = gatherMix(input, mixes, axis);
    const value = tf.concat([input, mixed], axis);
    mixed.dispose();
    return { value, gradFunc: (dy: tf.Tensor2D) => scatterMix(dy, mixes, axis, axis === 0 ? rows : cols) };
  });
  return op(x) as tf.Tensor2D;
}

/** alpha ⊙ x[first] + (1 - alpha) ⊙ x[second] along `axis`, as tfjs ops. */
function gatherMix(x: tf.Tensor2D, { first, second, alpha }: Mixes, axis: 0 | 1): tf.Tensor2D {
  return tf.tidy(() => {
    const shape: [number, number] = axis === 0 ? [alpha.length, 1] : [1, alpha.length];
    const weight = tf.tensor2d(alpha, shape);
    const a = tf.gather(x, tf.tensor1d(first, 'int32'), axis);
    const b = tf.gather(x, tf.tensor1d(second, 'int32'), axis);
    return tf.add(b, tf.mul(weight, tf.sub(a, b))) as tf.Tensor2D;
  });
}

/**
 * The gradient of the 'composite' extension: dy's original part plus Aᵀ applied to its virtual part,
 * written as gathers (for each original, the virtual items it enters, padded with zero weights)
 * because tfjs's scatter kernels are not available on every backend.
 */
function scatterMix(
  dy: tf.Tensor2D,
  { first, second, alpha }: Mixes,
  axis: 0 | 1,
  base: number,
): tf.Tensor2D {
  const incoming: Array<Array<[number, number]>> = Array.from({ length: base }, () => []);
  alpha.forEach((al, v) => {
    incoming[first[v] as number]?.push([v, al]);
    incoming[second[v] as number]?.push([v, 1 - al]);
  });
  const slots = Math.max(0, ...incoming.map((list) => list.length));
  return tf.tidy(() => {
    const [original, virtual] = tf.split(dy, [base, alpha.length], axis) as [tf.Tensor2D, tf.Tensor2D];
    let grad: tf.Tensor = original;
    const shape: [number, number] = axis === 0 ? [base, 1] : [1, base];
    for (let t = 0; t < slots; t++) {
      const index = tf.tensor1d(
        Int32Array.from(incoming, (list) => list[t]?.[0] ?? 0),
        'int32',
      );
      const weight = tf.tensor2d(
        Float32Array.from(incoming, (list) => list[t]?.[1] ?? 0),
        shape,
      );
      grad = tf.add(grad, tf.mul(tf.gather(virtual, index, axis), weight));
    }
    return grad as tf.Tensor2D;
  });
}

/**
 * SiMix on similarities: from the B x B similarities S of the originals, the Q x N similarities
 * of the extended batch, M_q S Mᵀ, where M (N x B) mixes the originals into the extended batch
 * and M_q is its first Q rows (the queries). O(Q·N) scalar operations; no mixed embedding is built.
 */
export function mixSimilarities(
  scores: tf.Tensor2D,
  plan: MixPlan,
  implementation: MixImplementation = 'auto',
): tf.Tensor2D {
  const how = chooseImplementation(implementation, 'implementation');
  return tf.tidy(() => {
    const rows = extend(scores, mixesOf(plan, plan.queries - plan.originals), 0, how);
    return extend(rows, mixesOf(plan, plan.alpha.length), 1, how);
  });
}

/** The naive route: the N x d embeddings of the extended batch, M E. */
export function mixEmbeddings(
  embeddings: tf.Tensor2D,
  plan: MixPlan,
  implementation: MixImplementation = 'auto',
): tf.Tensor2D {
  return extend(
    embeddings,
    mixesOf(plan, plan.alpha.length),
    0,
    chooseImplementation(implementation, 'implementation'),
  );
}

/**
 * Q x N 0/1, row-major on the host: 1 where the item has the query's class and is not the query
 * itself. Built from the labels, so it never has to come back from the backend.
 */
export function extendedRelevance(plan: MixPlan): Float32Array {
  const { labels, queries } = plan;
  const n = labels.length;
  const mask = new Float32Array(queries * n);
  for (let q = 0; q < queries; q++) {
    const label = labels[q];
    const row = q * n;
    for (let j = 0; j < n; j++) if (labels[j] === label) mask[row + j] = 1;
    mask[row + q] = 0;
  }
  return mask;
}

/** Each query's own column: query i is extended item i. */
export function selfColumns(plan: MixPlan): Int32Array {
  return Int32Array.from({ length: plan.queries }, (_, i) => i);
}
