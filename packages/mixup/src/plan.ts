import { type Labels, labelArray, RecallkitError } from '@recallkit/core';
import { authorsPairOrder } from './pairs';
import { type RandomSource, randomInt } from './rng';

/** Which virtual samples to add to a batch. The defaults reproduce the authors' SiMix. */
export interface MixupOptions {
  /** 'all' (default): every same-class pair in the authors' order; n: n distinct random pairs per class (a class with fewer pairs gives all it has). */
  pairs?: 'all' | number;
  /** Number of cross-class mixes per batch (default 0): extra negatives, in the database only. */
  crossClass?: number;
  /** 'both' (default): same-class mixes are queries and database items; 'database': database items only. */
  side?: 'both' | 'database';
}

/**
 * The virtual samples of one batch. Virtual sample v is `alpha[v] * x[first[v]] + (1 - alpha[v]) *
 * x[second[v]]` (x an original row; no re-normalisation). The extended batch lists the originals
 * in input order, then the virtual samples in draw order: the same-class mixes (classes in order of
 * first appearance, pairs in the authors' order), then the cross-class mixes.
 */
export interface MixPlan {
  readonly originals: number;
  readonly first: Int32Array;
  readonly second: Int32Array;
  readonly alpha: Float32Array;
  /** How many virtual samples (a prefix of them) mix two samples of one class. */
  readonly sameClass: number;
  /** Class of each extended item, classes renumbered 0..C-1 by first appearance; -1 for a cross-class mix. */
  readonly labels: Int32Array;
  /** The queries are the first `queries` items of the extended batch. */
  readonly queries: number;
}

export interface PlanSources {
  /** Draws pair choices and, unless `alphas` is given, the coefficients. */
  rng: RandomSource;
  /** The coefficients in draw order, one per virtual sample. */
  alphas?: ArrayLike<number> | undefined;
}

/**
 * Plans the virtual samples of a batch. Random draws come in two passes: first the pair choices
 * (random pairs and cross-class mixes only; none in the faithful default), then one coefficient
 * alpha ~ U[0, 1) per virtual sample in order, the authors' draw order. Fixed `alphas` therefore
 * leave the pair choices unchanged.
 */
export function planMixup(labels: Labels, options: MixupOptions, { rng, alphas }: PlanSources): MixPlan {
  checkMixupOptions(options);
  const { pairs = 'all', crossClass = 0, side = 'both' } = options;
  const { classOf, members } = groupByClass(labelArray(labels, 'simix: labels'));
  const first: number[] = [];
  const second: number[] = [];

  for (const samples of members) {
    const order = authorsPairOrder(samples.length);
    const count = pairs === 'all' ? order.length : Math.min(pairs, order.length);
    for (let t = 0; t < count; t++) {
      if (pairs !== 'all') {
        // partial Fisher-Yates: pair t is a uniform choice among the pairs not yet taken
        const pick = t + randomInt(rng, order.length - t);
        [order[t], order[pick]] = [order[pick] as [number, number], order[t] as [number, number]];
      }
      const [i, j] = order[t] as [number, number];
      first.push(samples[i] as number);
      second.push(samples[j] as number);
    }
  }
  const sameClass = first.length;

  if (crossClass > 0 && members.length < 2) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: crossClass = ${crossClass} needs at least two classes in the batch, got ${members.length}`,
    );
  }
  const n = classOf.length;
  for (let t = 0; t < crossClass; t++) {
    const a = randomInt(rng, n);
    let b = randomInt(rng, n);
    while (classOf[b] === classOf[a]) b = randomInt(rng, n);
    first.push(a);
    second.push(b);
  }

  if (alphas) checkAlphas(alphas, first.length);
  const alpha = alphas ? Float32Array.from(alphas) : Float32Array.from(first, () => rng.next());
  const virtualLabels = first.map((a, v) => (v < sameClass ? (classOf[a] as number) : -1));
  return {
    originals: n,
    first: Int32Array.from(first),
    second: Int32Array.from(second),
    alpha,
    sameClass,
    labels: Int32Array.from([...classOf, ...virtualLabels]),
    queries: n + (side === 'both' ? sameClass : 0),
  };
}

/** Throws a RecallkitError naming the first option with a bad value. */
export function checkMixupOptions({ pairs, crossClass, side }: MixupOptions): void {
  if (pairs !== undefined && pairs !== 'all' && !(Number.isInteger(pairs) && pairs >= 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `simix: pairs must be 'all' or a non-negative integer, got ${pairs}`,
    );
  }
  if (crossClass !== undefined && !(Number.isInteger(crossClass) && crossClass >= 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `simix: crossClass must be a non-negative integer, got ${crossClass}`,
    );
  }
  if (side !== undefined && side !== 'both' && side !== 'database') {
    throw new RecallkitError('INVALID_OPTION', `simix: side must be 'both' or 'database', got ${side}`);
  }
}

function groupByClass(labels: Int32Array): { classOf: Int32Array; members: number[][] } {
  const index = new Map<number, number>();
  const members: number[][] = [];
  const classOf = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    let c = index.get(label);
    if (c === undefined) {
      c = members.length;
      index.set(label, c);
      members.push([]);
    }
    (members[c] as number[]).push(i);
    classOf[i] = c;
  }
  return { classOf, members };
}

function checkAlphas(alphas: ArrayLike<number>, needed: number): void {
  if (alphas.length !== needed) {
    throw new RecallkitError(
      'INVALID_INPUT',
      `simix: alphas has ${alphas.length} values but this batch draws ${needed} (one per virtual sample)`,
    );
  }
  for (let v = 0; v < needed; v++) {
    const value = alphas[v] as number;
    if (!(value >= 0 && value <= 1)) {
      throw new RecallkitError('INVALID_INPUT', `simix: alphas[${v}] = ${value} is not in [0, 1]`);
    }
  }
}
