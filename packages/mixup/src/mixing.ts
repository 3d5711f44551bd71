import { tf } from '@recallkit/core';
import type { MixPlan } from './plan';

/** out_r = sum over slots t of weight_t[r] * in[index_t[r]]: a sparse linear map held as gathers. */
interface SparseRows {
  readonly index: Int32Array[];
  readonly weight: Float32Array[];
}

/**
 * Appending `count` virtual samples to a batch of `base` items: the mixing matrix M = [I; A] with
 * A holding two non-zeros per row. `mix` applies A, `transposed` applies Aᵀ (for the gradient).
 */
interface Extension {
  readonly base: number;
  readonly count: number;
  readonly mix: SparseRows;
  readonly transposed: SparseRows;
}

/** The extension by the first `count` virtual samples of a plan. */
function extension(plan: MixPlan, count: number): Extension {
  const first = plan.first.subarray(0, count);
  const second = plan.second.subarray(0, count);
  const alpha = plan.alpha.subarray(0, count);
  const beta = alpha.map((a) => 1 - a);
  // Aᵀ: for each original, the virtual samples it enters and with what weight, padded with
  // zero-weight slots to the largest count so that it stays a fixed number of gathers
  const incoming: Array<Array<[number, number]>> = Array.from({ length: plan.originals }, () => []);
  for (let v = 0; v < count; v++) {
    incoming[first[v] as number]?.push([v, alpha[v] as number]);
    incoming[second[v] as number]?.push([v, beta[v] as number]);
  }
  const slots = Math.max(0, ...incoming.map((list) => list.length));
  const transposed: SparseRows = { index: [], weight: [] };
  for (let t = 0; t < slots; t++) {
    transposed.index.push(Int32Array.from(incoming, (list) => list[t]?.[0] ?? 0));
    transposed.weight.push(Float32Array.from(incoming, (list) => list[t]?.[1] ?? 0));
  }
  return {
    base: plan.originals,
    count,
    mix: { index: [first, second], weight: [alpha, beta] },
    transposed,
  };
}

function applySparse(x: tf.Tensor2D, map: SparseRows, axis: 0 | 1): tf.Tensor2D {
  let out: tf.Tensor | undefined;
  map.index.forEach((index, t) => {
    const weight = map.weight[t] as Float32Array;
    const shape: [number, number] = axis === 0 ? [weight.length, 1] : [1, weight.length];
    const term = tf.mul(tf.gather(x, tf.tensor1d(index, 'int32'), axis), tf.tensor2d(weight, shape));
    out = out ? tf.add(out, term) : term;
  });
  return out as tf.Tensor2D;
}

/** Appends the virtual items along `axis` (0: rows, 1: columns); the gradient applies Mᵀ by gathers too. */
function extend(x: tf.Tensor2D, ext: Extension, axis: 0 | 1): tf.Tensor2D {
  if (ext.count === 0) return x;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    const value = tf.concat([input, applySparse(input, ext.mix, axis)], axis);
    const gradFunc = (dy: tf.Tensor2D) => {
      const [base, virtual] = tf.split(dy, [ext.base, ext.count], axis) as [tf.Tensor2D, tf.Tensor2D];
      return ext.transposed.index.length === 0
        ? base
        : tf.add(base, applySparse(virtual, ext.transposed, axis));
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * SiMix on similarities: from the B x B similarities S of the originals, the Q x N similarities
 * of the extended batch, M_q S Mᵀ, where M (N x B) mixes the originals into the extended batch
 * and M_q is its first Q rows (the queries). Costs O(Q·N) scalar operations; no mixed embedding
 * is built.
 */
export function mixSimilarities(scores: tf.Tensor2D, plan: MixPlan): tf.Tensor2D {
  const virtualQueries = plan.queries - plan.originals;
  const rows = extend(scores, extension(plan, virtualQueries), 0);
  return extend(rows, extension(plan, plan.alpha.length), 1);
}

/** The naive route: the N x d embeddings of the extended batch, M E. */
export function mixEmbeddings(embeddings: tf.Tensor2D, plan: MixPlan): tf.Tensor2D {
  return extend(embeddings, extension(plan, plan.alpha.length), 0);
}

/** Q x N float 0/1: 1 where the item has the query's class and is not the query itself. */
export function extendedRelevance(plan: MixPlan): tf.Tensor2D {
  return tf.tidy(() => {
    const n = plan.labels.length;
    const all = tf.tensor1d(plan.labels, 'int32');
    const queries = tf.slice(all, 0, plan.queries);
    const same = tf.cast(
      tf.equal(tf.reshape(queries, [plan.queries, 1]), tf.reshape(all, [1, n])),
      'float32',
    );
    return tf.sub(same, tf.eye(plan.queries, n)) as tf.Tensor2D;
  });
}

/** Each query's own column: query i is extended item i. */
export function selfColumns(plan: MixPlan): Int32Array {
  return Int32Array.from({ length: plan.queries }, (_, i) => i);
}
