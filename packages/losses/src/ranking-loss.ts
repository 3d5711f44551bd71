import {
  chooseImplementation,
  type Implementation,
  type Labels,
  labelArray,
  RecallkitError,
  releasingTapeOnError,
  tf,
} from '@recallkit/core';
import { compositeOnScores, DEFAULT_BLOCK_ELEMENTS, gram } from './composite';
import { fusedOnEmbeddings, fusedOnScores } from './fused/index';
import {
  assertFiniteRows,
  assertFloatMatrix,
  assertRowNorms,
  assertSomePositive,
  checkScoreBlock,
  type Positives,
  positivesFromLabels,
} from './positives';
import { clipKs, type RankingSpec } from './ranking';
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
  /** Called after every evaluation with what it saw (also kept as `loss.lastStats`). */
  onStats?: (stats: LossStats) => void;
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
  const report = (rows: number, positives: Positives, implementation: Implementation) => {
    lastStats = { queries: rows, queriesWithoutPositives: rows - positives.withPositives, implementation };
    options.onStats?.(lastStats);
  };

  const loss = (embeddings: tf.Tensor2D, labels: Labels): tf.Scalar => {
    // Bad input throws before any tensor is made; under tf.grad, the tape's saved tensors go too.
    const { rows, positives, ks, implementation } = releasingTapeOnError(() => {
      const [rows, dim] = assertFloatMatrix(embeddings, `${spec.name}: embeddings`);
      const positives = positivesFromLabels(labelArray(labels, 'labels', rows));
      assertSomePositive(positives, spec.name);
      const values = embeddings.dataSync();
      assertFiniteRows(values, rows, dim, `${spec.name}: embeddings`);
      assertRowNorms(values, rows, dim, `${spec.name}: embeddings`, options.normalize === true);
      const ks = clipKs(spec, rows, warnOnce);
      return {
        rows,
        positives,
        ks,
        implementation: chooseImplementation(options.implementation, 'option implementation'),
      };
    });
    const value = tf.tidy(() => {
      const e = options.normalize
        ? tf.div(embeddings, tf.norm(embeddings, 'euclidean', 1, true))
        : embeddings;
      if (implementation === 'fused')
        return fusedOnEmbeddings(spec, ks, e as tf.Tensor2D, positives, options.threads, blockElements);
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
    let value: tf.Scalar;
    if (implementation === 'fused') {
      value = fusedOnScores(spec, ks, scores, positives, self, options.threads, blockElements);
    } else {
      assertFiniteRows(scores.dataSync(), rows, n, `${spec.name}: scores`);
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
