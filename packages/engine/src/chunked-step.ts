import { type Labels, labelArray, RecallkitError, releaseActiveTape, tf } from '@recallkit/core';
import { assertChunkSafe } from './chunk-safety';
import type { Optimizer } from './optimizers';

/** Any loss on a batch of embeddings; every `EmbeddingLoss` of `@recallkit/losses` is one. */
export type StepLoss = (embeddings: tf.Tensor2D, labels: Labels) => tf.Scalar;

/**
 * Returns the model input for batch rows [start, end) as a fresh tensor (the step disposes it).
 * It is called once per chunk in stage 1 and again in stage 3 and must return the same values
 * both times: decide augmentation from (seed, epoch, sample index), not from a running generator.
 */
export type ChunkLoader = (start: number, end: number) => tf.Tensor | Promise<tf.Tensor>;

export interface GradientOptions {
  model: tf.LayersModel;
  loss: StepLoss;
  /** The whole batch as one tensor, or a loader that produces it chunk by chunk. */
  inputs: tf.Tensor | ChunkLoader;
  labels: Labels;
  /** Rows in the batch; required with a loader, read from the tensor otherwise. */
  batchSize?: number;
  /** Rows embedded at once in stages 1 and 3; memory grows with it, not with the batch. */
  chunkSize: number;
  /** Layer mode used in both passes (default true). */
  training?: boolean;
  /** Variables to differentiate (default: the model's trainable weights). */
  variables?: tf.Variable[];
  /** Check that stage 3 recomputes stage 1's embeddings (max abs difference <= tolerance, default 1e-6). */
  debug?: boolean | { tolerance: number };
}

export interface GradientResult {
  /** The batch loss. */
  loss: number;
  variables: tf.Variable[];
  /** d loss / d variable, aligned with `variables`; the caller owns (and disposes) them. */
  gradients: tf.Tensor[];
}

/**
 * Multistage backpropagation. Stage 1 embeds the batch chunk by chunk without a tape; stage 2
 * computes the loss and dL/dE on the full batch of embeddings; stage 3 re-runs each chunk under
 * the tape with the objective sum(E_chunk * G_chunk), whose parameter gradient is that chunk's
 * share of dL/dparams, and accumulates. Peak activation memory is that of one chunk. A batch that
 * fits in one chunk takes the plain step (`fullBatchGradients`): the same gradient, one pass fewer.
 */
export async function chunkedGradients(options: GradientOptions): Promise<GradientResult> {
  const { model, loss, labels } = options;
  const training = options.training ?? true;
  const batchSize = resolveBatchSize(options);
  const chunkSize = checkChunkSize(options.chunkSize);
  const variables = options.variables ?? trainableVariables(model);
  const tolerance = options.debug === true ? 1e-6 : options.debug ? options.debug.tolerance : -1;
  assertChunkSafe(model, training);
  checkLabels(labels, batchSize);
  const load = chunkLoader(options.inputs);
  const ranges = chunkRanges(batchSize, chunkSize);
  if (ranges.length === 1) {
    // One chunk: one tape over network and loss gives the same gradient without stage 1's extra
    // forward pass, and the layers see the batch once, as in a plain step.
    const x = await load(0, batchSize);
    try {
      return fullBatchGradients({ model, loss, labels, inputs: x, training, variables });
    } finally {
      x.dispose();
    }
  }

  // Stage 1: embeddings of the whole batch, no activations kept.
  const parts: tf.Tensor2D[] = [];
  let embeddings: tf.Tensor2D;
  try {
    for (const [start, end] of ranges) {
      const x = await load(start, end);
      try {
        parts.push(tf.tidy(() => embed(model, x, training, end - start)));
      } finally {
        x.dispose();
      }
    }
    embeddings = parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.concat(parts, 0);
  } catch (error) {
    tf.dispose(parts);
    throw error;
  }
  if (parts.length > 1) tf.dispose(parts);

  // Stage 2: loss and its gradient with respect to the embeddings, on the full batch.
  let lossValue: number;
  let upstream: tf.Tensor2D;
  try {
    const { value, grad } = tf.valueAndGrad((e: tf.Tensor2D) => loss(e, labels))(embeddings);
    lossValue = (await value.data())[0] as number;
    value.dispose();
    upstream = grad as tf.Tensor2D;
  } catch (error) {
    embeddings.dispose();
    releaseActiveTape(0); // the loss threw: free what its ops saved for the backward pass
    throw error;
  }
  if (!Number.isFinite(lossValue)) {
    tf.dispose([embeddings, upstream]);
    throw nonFiniteLoss(lossValue);
  }

  // Stage 3: recompute each chunk with the tape and back-propagate its slice of dL/dE.
  let sums: tf.Tensor[] | undefined;
  try {
    for (const [start, end] of ranges) {
      const x = await load(start, end);
      let recomputed: tf.Tensor2D | undefined;
      const slice = tf.slice(upstream, [start, 0], [end - start, -1]);
      try {
        const { value, grads } = tf.variableGrads(() => {
          const e = embed(model, x, training, end - start);
          if (tolerance >= 0) recomputed = tf.keep(e.clone());
          return tf.sum(tf.mul(e, slice));
        }, variables);
        value.dispose();
        const chunkGrads = variables.map((v) => grads[v.name] as tf.Tensor);
        if (sums === undefined) {
          sums = chunkGrads;
        } else {
          const previous: tf.Tensor[] = sums;
          sums = previous.map((s, i) => tf.add(s, chunkGrads[i] as tf.Tensor));
          tf.dispose([...previous, ...chunkGrads]);
        }
        if (recomputed) checkRecomputed(recomputed, embeddings, start, tolerance);
      } finally {
        tf.dispose([x, slice]);
        recomputed?.dispose();
      }
    }
  } catch (error) {
    if (sums) tf.dispose(sums);
    throw error;
  } finally {
    tf.dispose([embeddings, upstream]);
  }
  return { loss: lossValue, variables, gradients: sums ?? [] };
}

/** The plain step's gradients: the whole batch under one tape (the reference for chunking). */
export function fullBatchGradients(
  options: Omit<GradientOptions, 'chunkSize' | 'debug' | 'inputs' | 'batchSize'> & {
    inputs: tf.Tensor;
  },
): GradientResult {
  const { model, loss, labels, inputs } = options;
  const training = options.training ?? true;
  const variables = options.variables ?? trainableVariables(model);
  checkLabels(labels, inputs.shape[0] ?? 0);
  let value: tf.Scalar;
  let grads: tf.NamedTensorMap;
  try {
    ({ value, grads } = tf.variableGrads(
      () => loss(embed(model, inputs, training, inputs.shape[0] ?? 0), labels),
      variables,
    ));
  } catch (error) {
    releaseActiveTape(0); // the network or the loss threw: free what its ops saved for the backward pass
    throw error;
  }
  const gradients = variables.map((v) => grads[v.name] as tf.Tensor);
  const lossValue = value.dataSync()[0] as number;
  value.dispose();
  if (!Number.isFinite(lossValue)) {
    tf.dispose(gradients);
    throw nonFiniteLoss(lossValue);
  }
  return { loss: lossValue, variables, gradients };
}

function nonFiniteLoss(value: number): RecallkitError {
  return new RecallkitError(
    'NON_FINITE_LOSS',
    `the loss of the batch is ${value}; check the learning rate and the inputs`,
  );
}

export interface StepOptions extends GradientOptions {
  /** An engine optimiser (`adam`, `adamW`) or any `tf.Optimizer`. */
  optimizer: Optimizer | tf.Optimizer;
  /** Learning rate per variable for engine optimisers (e.g. a separate rate for the head). */
  learningRate?: number | ((variable: tf.Variable, index: number) => number);
}

/** One optimiser step on one batch through multistage backpropagation; returns the loss. */
export async function chunkedStep(options: StepOptions): Promise<number> {
  const { loss, variables, gradients } = await chunkedGradients(options);
  try {
    applyGradients(options.optimizer, variables, gradients, options.learningRate);
  } finally {
    tf.dispose(gradients);
  }
  return loss;
}

/** Applies gradients with either kind of optimiser. */
export function applyGradients(
  optimizer: Optimizer | tf.Optimizer,
  variables: tf.Variable[],
  gradients: tf.Tensor[],
  learningRate?: number | ((variable: tf.Variable, index: number) => number),
): void {
  if (optimizer instanceof tf.Optimizer) {
    const named: tf.NamedTensorMap = {};
    variables.forEach((v, i) => {
      named[v.name] = gradients[i] as tf.Tensor;
    });
    optimizer.applyGradients(named);
    return;
  }
  optimizer.step(variables, gradients, learningRate);
}

/** The model's trainable weights as the tf.Variables the tape differentiates. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

function embed(model: tf.LayersModel, x: tf.Tensor, training: boolean, rows: number): tf.Tensor2D {
  const out = model.apply(x, { training });
  if (!(out instanceof tf.Tensor) || out.rank !== 2 || out.shape[0] !== rows) {
    throw new RecallkitError(
      'MODEL_OUTPUT',
      `the model must map a batch of ${rows} inputs to one ${rows} x D embedding tensor; got ${describe(out)}`,
    );
  }
  return out as tf.Tensor2D;
}

function checkRecomputed(
  recomputed: tf.Tensor2D,
  embeddings: tf.Tensor2D,
  start: number,
  tolerance: number,
): void {
  const diff = tf.tidy(() => {
    const original = tf.slice(embeddings, [start, 0], recomputed.shape);
    return tf.max(tf.abs(tf.sub(recomputed, original)));
  });
  const worst = diff.dataSync()[0] as number;
  diff.dispose();
  if (!(worst <= tolerance)) {
    throw new RecallkitError(
      'CHUNK_RECOMPUTE_MISMATCH',
      `stage 3 recomputed embeddings of rows ${start}..${start + recomputed.shape[0] - 1} that differ from stage 1's by ${worst} (tolerance ${tolerance}); the inputs or the model are not deterministic between the two passes`,
      { start, difference: worst },
    );
  }
}

/** The chunks [start, end) of a batch of `rows`, in the order both stages visit them. */
export function chunkRanges(rows: number, chunkSize: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < rows; start += chunkSize)
    ranges.push([start, Math.min(rows, start + chunkSize)]);
  return ranges;
}

function chunkLoader(inputs: tf.Tensor | ChunkLoader): ChunkLoader {
  if (typeof inputs === 'function') return inputs;
  return (start, end) => tf.slice(inputs, start, end - start);
}

function resolveBatchSize(options: GradientOptions): number {
  const n = typeof options.inputs === 'function' ? options.batchSize : options.inputs.shape[0];
  if (n === undefined || !Number.isInteger(n) || n < 1) {
    throw new RecallkitError(
      'INVALID_OPTION',
      typeof options.inputs === 'function'
        ? `batchSize must be a positive integer when inputs is a loader; got ${options.batchSize}`
        : 'inputs must hold at least one row',
    );
  }
  if (typeof options.inputs !== 'function' && options.batchSize !== undefined && options.batchSize !== n) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `batchSize ${options.batchSize} disagrees with the ${n} rows of inputs`,
    );
  }
  return n;
}

function checkChunkSize(chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RecallkitError('INVALID_OPTION', `chunkSize must be a positive integer; got ${chunkSize}`);
  }
  return chunkSize;
}

function checkLabels(labels: Labels, batchSize: number): void {
  labelArray(labels, 'labels', batchSize);
}

function describe(out: unknown): string {
  if (Array.isArray(out)) return `${out.length} tensors`;
  if (out instanceof tf.Tensor) return `a tensor of shape [${out.shape.join(', ')}]`;
  return 'a symbolic tensor (pass a concrete tensor)';
}
