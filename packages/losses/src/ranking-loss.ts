import { totalmem } from 'node:os';
import {
  chooseImplementation,
  type Implementation,
  type Labels,
  l2Normalize,
  labelArray,
  RecallkitError,
  releasingTapeOnError,
  tf,
} from '@recallkit/core';
import { compositeOnScores, DEFAULT_BLOCK_ELEMENTS, gram } from './composite';
import { fusedOnEmbeddings, fusedOnScores } from './fused/index';
import {
  assertFloatMatrix,
  assertSomePositive,
  checkRows,
  checkScoreBlock,
  type Positives,
  positivesFromLabels,
} from './positives';
import { clipKs, type RankingSpec } from './spec';
import type { EmbeddingLoss, LossStats, ScoreBlock } from './types';

/** Options every loss on the ranking core accepts besides its own. */
export interface RankingLossOptions {
  /**
   * 'fused' (CPU kernel, float64, worker threads), 'composite' (tfjs ops in query blocks, any
   * backend) or 'auto' (default): fused on the wasm and cpu backends, composite elsewhere.
   */
  implementation?: Implementation | 'auto';
  /** L2-normalise the embeddings inside the graph first (default false: they already are). */
  normalize?: boolean;
  /** Fused: threads including the caller's (default: all cores when the batch is large, else 1). */
  threads?: number;
  /**
   * Bound on one query block (default 2^21): composite, its queries x anchors x columns; fused, its
   * queries x columns (the unit of work handed to a thread).
   */
  blockElements?: number;
  /**
   * Bytes the B x B part of one evaluation may take (default: half the machine's memory); a batch
   * whose estimate (`denseBytes`) is above it is refused with LOSS_MEMORY_LIMIT before anything
   * is allocated. Raise it to run a larger batch on a machine that has the memory.
   */
  memoryLimit?: number;
  /**
   * Fused: called in the forward pass after each row block was handed to the kernel, with the
   * rows done so far and the batch's rows: a sign of life for the batches (B = 16,000) whose one
   * evaluation takes minutes.
   */
  onProgress?: (progress: { rows: number; total: number }) => void;
  /** Called after every evaluation with what it saw (also kept as `loss.lastStats`). */
  onStats?: (stats: LossStats) => void;
}

/** The options every ranking loss takes (`RankingLossOptions`). */
export const RANKING_OPTIONS = [
  'implementation',
  'normalize',
  'threads',
  'blockElements',
  'memoryLimit',
  'onProgress',
  'onStats',
] as const;

/**
 * Estimated bytes one evaluation holds at once for a `rows` x `n` block of similarities, whose
 * float32 matrix takes M = 4 rows n bytes: fused on embeddings, d loss / d scores (M) and at most
 * a third of it again in the backward pass; fused on a score block, the scores read back, d loss
 * / d scores and its tensor in the backward pass (3 M); composite, the similarity matrix, its
 * gradient and one more matrix of their size in the backward pass (3 M). Row blocks of
 * `blockElements` come on top.
 */
export function denseBytes(
  implementation: Implementation,
  rows: number,
  n: number,
  onScores: boolean,
): number {
  const matrix = 4 * rows * n;
  return implementation === 'fused' && !onScores ? Math.ceil((matrix * 4) / 3) : 3 * matrix;
}

function bytesText(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${bytes} bytes`;
}

function checkMemory(
  name: string,
  limit: number,
  implementation: Implementation,
  rows: number,
  n: number,
  onScores: boolean,
): void {
  const estimate = denseBytes(implementation, rows, n, onScores);
  if (estimate <= limit) return;
  const what = rows === n ? `a batch of ${rows}` : `a block of ${rows} queries x ${n} columns`;
  throw new RecallkitError(
    'LOSS_MEMORY_LIMIT',
    `${name}: ${what} needs about ${bytesText(estimate)} for its ${rows} x ${n} similarities and their gradient (${implementation}), above the limit of ${bytesText(limit)} (option memoryLimit); raise memoryLimit if the machine has the memory, or use a smaller batch; with the chunked step (train's chunkSize) the network holds one chunk's activations besides this`,
    { rows, n, implementation, estimate, limit },
  );
}

/** Builds an EmbeddingLoss (with `onScores`) that evaluates `spec` through the ranking core. */
export function rankingLoss(id: string, spec: RankingSpec, options: RankingLossOptions): EmbeddingLoss {
  let lastStats: LossStats | undefined;
  let warned = false;
  const warnOnce = (message: string) => {
    if (!warned) console.warn(`@recallkit/losses: ${message}`);
    warned = true;
  };
  const blockElements = options.blockElements ?? DEFAULT_BLOCK_ELEMENTS;
  if (!Number.isInteger(blockElements) || blockElements < 1) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option blockElements must be a positive integer, got ${blockElements}`,
    );
  }
  const memoryLimit = options.memoryLimit ?? Math.floor(totalmem() / 2);
  if (typeof memoryLimit !== 'number' || !(memoryLimit > 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option memoryLimit must be a positive number of bytes, got ${memoryLimit}`,
    );
  }
  const onProgress = options.onProgress;
  const report = (rows: number, positives: Positives, implementation: Implementation) => {
    lastStats = { queries: rows, queriesWithoutPositives: rows - positives.withPositives, implementation };
    options.onStats?.(lastStats);
  };

  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    // Bad input throws before any tensor is made; under tf.grad, the tape's saved tensors go too.
    const { rows, positives, ks, implementation } = releasingTapeOnError(() => {
      const [rows] = assertFloatMatrix(embeddings, `${spec.name}: embeddings`);
      const positives = positivesFromLabels(labelArray(labels, 'labels', rows));
      assertSomePositive(positives, spec.name);
      checkRows(embeddings, `${spec.name}: embeddings`, options.normalize ? 'normalize' : 'similarity');
      const ks = clipKs(spec, rows, warnOnce);
      const implementation = chooseImplementation(options.implementation, 'option implementation');
      checkMemory(spec.name, memoryLimit, implementation, rows, rows, false);
      return { rows, positives, ks, implementation };
    });
    const value = tf.tidy(() => {
      const e = options.normalize ? l2Normalize(embeddings) : embeddings;
      if (implementation === 'fused')
        return fusedOnEmbeddings(
          spec,
          ks,
          e as tf.Tensor2D,
          positives,
          options.threads,
          blockElements,
          onProgress,
        );
      const self = new Int32Array(rows).map((_, i) => i);
      return compositeOnScores(spec, ks, gram(e as tf.Tensor2D), positives, self, blockElements);
    });
    report(rows, positives, implementation);
    return value;
  };

  const onScores = (block: ScoreBlock): tf.Scalar => {
    const { scores, rows, n, self, positives } = checkScoreBlock(block, spec.name);
    assertSomePositive(positives, spec.name);
    const ks = clipKs(spec, n, warnOnce);
    const implementation = chooseImplementation(options.implementation, 'option implementation');
    checkMemory(spec.name, memoryLimit, implementation, rows, n, true);
    let value: tf.Scalar;
    if (implementation === 'fused') {
      value = fusedOnScores(spec, ks, scores, positives, self, options.threads, blockElements, onProgress);
    } else {
      checkRows(scores, `${spec.name}: scores`, 'finite');
      value = compositeOnScores(spec, ks, scores, positives, self, blockElements);
    }
    report(rows, positives, implementation);
    return value;
  };

  return Object.defineProperties(loss, {
    id: { value: id, enumerable: true },
    onScores: { value: onScores, enumerable: true },
    lastStats: { get: () => lastStats, enumerable: true },
  }) as EmbeddingLoss;
}
