import { knownOptions, positiveNumber } from './options';
import { RANKING_OPTIONS, type RankingLossOptions, rankingLoss } from './ranking-loss';
import type { EmbeddingLoss } from './types';

export interface SmoothAPOptions extends RankingLossOptions {
  /** Temperature of the sigmoid on similarity differences (default 0.01, the authors'). */
  tau?: number;
  /**
   * Count the query as one of its own positives and keep it in the ranked database, as the
   * authors' code does (default true). false is the paper-style definition.
   */
  queryAsPositive?: boolean;
}

/**
 * Smooth-AP (Brown et al., ECCV 2020), by default exactly as the authors' code computes it. Per
 * query q with positive set A (its class, q included by default) and database D:
 * R_all(a) = 1 + sum_{b in D, b != a} sigmoid((s_qb - s_qa) / tau), R_pos(a) the same over b in A,
 * AP_q = mean_{a in A} R_pos(a) / R_all(a); the loss is 1 - mean AP_q over queries with a positive.
 */
export function smoothAP(options: SmoothAPOptions = {}): EmbeddingLoss {
  knownOptions(options, ['tau', 'queryAsPositive', ...RANKING_OPTIONS], 'smoothAP');
  return rankingLoss(
    'smoothap',
    {
      kind: 'smoothap',
      name: 'smoothAP',
      tau: positiveNumber(options.tau ?? 0.01, 'tau'),
      ks: [],
      tauKs: [],
      useSelf: options.queryAsPositive ?? true,
    },
    options,
  );
}
