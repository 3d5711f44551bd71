import { RecallkitError } from '@recallkit/core';
import type { KernelTask } from './fused/kernel';
import type { Positives } from './positives';

/** What the ranking core computes, independent of the implementation. */
export interface RankingSpec {
  kind: 'rsk' | 'smoothap';
  /** Display name for messages. */
  name: string;
  /** Temperature of the rank sigmoid. */
  tau: number;
  /** RS@k: the k values and their temperatures (empty for Smooth-AP). */
  ks: number[];
  tauKs: number[];
  /** RS@k: the query's own column is ranked; Smooth-AP: the query is a positive and ranked. */
  useSelf: boolean;
}

/** k values clipped to the number of ranked columns; warns (once per loss) when one is clipped. */
export function clipKs(spec: RankingSpec, columns: number, warn: (message: string) => void): number[] {
  const clipped = spec.ks.map((k) => Math.min(k, columns));
  if (clipped.some((k, i) => k !== spec.ks[i])) {
    warn(
      `${spec.name}: k = [${spec.ks}] exceeds the ${columns} ranked items; using k = [${clipped}] (warned once)`,
    );
  }
  return clipped;
}

/** Throws INVALID_OPTION naming an option `name` does not know, with the ones it does. */
export function knownOptions(options: object, known: readonly string[], name: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `${name}: unknown option '${key}' (known: ${known.join(', ')})`,
      );
    }
  }
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

export function positiveNumber(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option ${option} must be a positive finite number, got ${value}`,
    );
  }
  return value;
}

/** A kernel task over all rows of a score block (arrays are filled by the caller). */
export function kernelTask(
  spec: RankingSpec,
  ks: number[],
  scores: Float32Array,
  grad: Float32Array,
  rowTouched: Uint8Array,
  queryLoss: Float64Array,
  rows: number,
  n: number,
  positives: Positives,
  self: Int32Array,
): KernelTask {
  return {
    kind: spec.kind,
    n,
    rowStart: 0,
    rowEnd: rows,
    scores,
    scoresRow0: 0,
    grad,
    rowTouched,
    queryLoss,
    posPtr: positives.posPtr,
    posIdx: positives.posIdx,
    self,
    useSelf: spec.useSelf,
    tau: spec.tau,
    ks,
    tauKs: spec.tauKs,
    scale: 1 / positives.withPositives,
  };
}
