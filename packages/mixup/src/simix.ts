import {
  chooseImplementation,
  createRng,
  type Labels,
  labelArray,
  RecallkitError,
  type RngState,
  releasingTapeOnError,
  restoreRng,
  tf,
} from '@recallkit/core';
import type { EmbeddingLoss, ScoreBlock } from '@recallkit/losses';
import { extendedRelevance, type MixImplementation, mixSimilarities, selfColumns } from './mixing';
import { checkMixupOptions, type MixPlan, type MixupOptions, planMixup } from './plan';
import type { RandomSource } from './rng';

export interface SimixOptions extends MixupOptions {
  /** Seed of the generator (`createRng` of @recallkit/core) that draws pairs and coefficients (default 0). */
  seed?: number | string;
  /** A generator to draw from instead (e.g. `createRng(seed).split('mixup')`; anything with `next()` in [0, 1)). */
  rng?: RandomSource;
  /** Fixed coefficients, in draw order, used on every call instead of random ones. */
  alphas?: ArrayLike<number>;
  /** Where the mixing runs (default 'auto': 'fused' typed arrays on wasm and cpu, 'composite' tfjs ops elsewhere). */
  implementation?: MixImplementation;
}

const KNOWN = ['pairs', 'crossClass', 'side', 'seed', 'rng', 'alphas', 'implementation'];

/**
 * What `simix` returns: the loss, and the position of its generator, so that a checkpoint can save
 * it and a resumed run draw the same pairs and coefficients as an uninterrupted one (the trainer of
 * `@recallkit/engine` does both).
 */
export interface SimixLoss extends EmbeddingLoss {
  /** A JSON snapshot of the generator. */
  randomState(): RngState;
  /** Continues the draws from a `randomState()` snapshot. */
  restoreRandomState(state: RngState): void;
}

/**
 * Similarity mixup: a loss with the signature of `loss` that computes it on the batch extended by
 * virtual samples. The similarities of the extended batch are mixed from the originals' dot
 * products (M S Mᵀ), then handed to `loss.onScores`, the ranking core, with the extended relevance
 * mask and self columns. Each call draws new pairs and coefficients from the generator, whose state
 * `randomState()` returns and `restoreRandomState()` sets. With a generator of your own (`rng`), that
 * needs it to have `state()` (as `createRng`'s have); restoring gives simix a generator of its own
 * that continues from the snapshot.
 */
export function simix(loss: EmbeddingLoss, options: SimixOptions = {}): SimixLoss {
  const onScores = loss.onScores;
  if (typeof onScores !== 'function') {
    throw new RecallkitError(
      'SIMIX_NEEDS_RANKING_CORE',
      `simix: loss '${loss.id}' has no onScores (ranking core); SiMix mixes similarities and needs one`,
    );
  }
  checkOptions(options);
  if (options.seed !== undefined && options.rng !== undefined) {
    throw new RecallkitError('INVALID_OPTION', 'simix: give either seed or rng, not both');
  }
  let rng: RandomSource = options.rng ?? createRng(options.seed ?? 0);
  const mixupOptions: MixupOptions = pick(options);
  const alphas = options.alphas ? Array.from(options.alphas) : undefined;
  const implementation = options.implementation ?? 'auto';

  const mixed = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    // Bad input throws before any tensor is made; under tf.grad, the tape's saved tensors go too.
    const plan = releasingTapeOnError(() =>
      planMixup(readLabels(labels, embeddings), mixupOptions, { rng, alphas }),
    );
    return tf.tidy(() => {
      const scores = mixSimilarities(tf.matMul(embeddings, embeddings, false, true), plan, implementation);
      return onScores(scoreBlock(scores, plan));
    });
  };
  return Object.defineProperties(mixed, {
    id: { value: `${loss.id}+simix`, enumerable: true },
    // the wrapped loss's statistics describe the extended batch it last saw
    lastStats: { get: () => loss.lastStats, enumerable: true },
    randomState: { value: () => stateOf(rng) },
    restoreRandomState: {
      value: (state: RngState) => {
        rng = restoreRng(state);
      },
    },
  }) as SimixLoss;
}

function stateOf(rng: RandomSource): RngState {
  const state = (rng as { state?: unknown }).state;
  if (typeof state !== 'function') {
    throw new RecallkitError(
      'SIMIX_STATE',
      'simix: the generator given as rng has no state() method, so its position cannot be saved; give a seed, or a generator from createRng',
    );
  }
  return state.call(rng) as RngState;
}

/** The ranking core's input for the extended batch. */
export function scoreBlock(scores: tf.Tensor2D, plan: MixPlan): ScoreBlock {
  return { scores, relevant: extendedRelevance(plan), self: selfColumns(plan) };
}

function readLabels(labels: Labels, embeddings: tf.Tensor2D): Int32Array {
  if (embeddings.rank !== 2) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: embeddings must be 2-D (B x d), got shape [${embeddings.shape}]`,
    );
  }
  const [rows, d] = embeddings.shape;
  if (embeddings.dtype !== 'float32') {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: embeddings must be a float32 tensor, got ${embeddings.dtype} (cast with tf.cast(x, 'float32'))`,
    );
  }
  if (rows === 0 || d === 0) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: embeddings has shape [${embeddings.shape}]: ${rows === 0 ? 'the batch is empty' : 'every row needs at least one value'}`,
    );
  }
  const data = embeddings.dataSync();
  const bad = data.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: embeddings row ${Math.floor(bad / d)} column ${bad % d} is ${data[bad]}, not a finite number`,
    );
  }
  for (let i = 0; i < rows; i++) {
    let squares = 0;
    for (let c = i * d; c < (i + 1) * d; c++) squares += data[c]! * data[c]!;
    if (Math.fround(squares) === Number.POSITIVE_INFINITY) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `simix: embeddings row ${i} is too large for float32 (squared norm ${squares.toExponential(2)} overflows): its similarities would be infinite; scale the embeddings down`,
      );
    }
  }
  return labelArray(labels, 'simix: labels', rows);
}

function checkOptions(options: SimixOptions): void {
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `simix: unknown option '${key}' (known: ${KNOWN.join(', ')})`,
      );
    }
  }
  checkMixupOptions(options);
  if (options.implementation !== undefined)
    chooseImplementation(options.implementation, 'simix: implementation');
  if (options.rng !== undefined && typeof options.rng.next !== 'function') {
    throw new RecallkitError('INVALID_OPTION', 'simix: rng must have a next() method returning [0, 1)');
  }
}

function pick({ pairs, crossClass, side }: SimixOptions): MixupOptions {
  return {
    ...(pairs !== undefined && { pairs }),
    ...(crossClass !== undefined && { crossClass }),
    ...(side !== undefined && { side }),
  };
}
