import { RecallkitError } from '@recallkit/core';
import { knownOptions, positiveNumber } from './options';
import { RANKING_OPTIONS, type RankingLossOptions, rankingLoss } from './ranking-loss';
import type { EmbeddingLoss } from './types';

export interface RecallAtKOptions extends RankingLossOptions {
  /** The k values whose smoothed recalls are averaged (default [1, 2, 4, 8, 16], the authors'). */
  k?: number | number[];
  /** Temperature of the sigmoid on similarity differences that smooths the rank (default 0.01). */
  tauRank?: number;
  /** Temperature of the sigmoid on k - rank: one for every k, or one per k (default 1). */
  tauK?: number | number[];
  /**
   * Count the query itself (similarity to itself, 1 for unit vectors) in every positive's rank, as
   * the authors' code does (default true). false is the paper's definition.
   */
  includeQueryInRank?: boolean;
}

/**
 * The Recall@k surrogate (RS@k) of Patel, Tolias and Matas (CVPR 2022), by default exactly as the
 * authors' code computes it. Per query q with positives P(q):
 * rank_p = 1 + sum_{j != p} sigmoid((s_qj - s_qp) / tauRank),
 * R_k = min(sum_p sigmoid((k - rank_p) / tauK), k) / min(k, |P(q)|), loss_q = 1 - mean_k R_k;
 * the loss is the mean of loss_q over the queries that have a positive.
 */
export function recallAtKSurrogate(options: RecallAtKOptions = {}): EmbeddingLoss {
  knownOptions(
    options,
    ['k', 'tauRank', 'tauK', 'includeQueryInRank', ...RANKING_OPTIONS],
    'recallAtKSurrogate',
  );
  const ks = Array.isArray(options.k) ? options.k : [options.k ?? [1, 2, 4, 8, 16]].flat();
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new RecallkitError('INVALID_OPTION', `option k must hold positive integers, got [${ks}]`);
  }
  const tauK = options.tauK ?? 1;
  const tauKs = Array.isArray(tauK) ? tauK : ks.map(() => tauK);
  if (tauKs.length !== ks.length) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option tauK has ${tauKs.length} temperatures for ${ks.length} values of k`,
    );
  }
  for (const [i, t] of tauKs.entries()) positiveNumber(t, `tauK[${i}]`);
  return rankingLoss(
    'rsk',
    {
      kind: 'rsk',
      name: 'recallAtKSurrogate',
      tau: positiveNumber(options.tauRank ?? 0.01, 'tauRank'),
      ks,
      tauKs,
      useSelf: options.includeQueryInRank ?? true,
    },
    options,
  );
}
