import { RecallkitError } from '@recallkit/core';
import type { BatchSampler } from './dataset';
import { keyedRng } from './rng';

export interface ClassBalancedOptions {
  /** One label per dataset sample. */
  labels: ArrayLike<number>;
  /** Classes in a batch (C). */
  classesPerBatch: number;
  /** Images per class in a batch (m); the batch size is C x m. */
  samplesPerClass: number;
  seed: number;
  /** Receives warnings (classes skipped for having fewer than m images); default `process.emitWarning`. */
  onWarning?: (message: string) => void;
}

/** Dataset indices grouped by label, labels ascending. */
function indicesByClass(labels: ArrayLike<number>): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    let group = groups.get(label);
    if (!group) groups.set(label, (group = []));
    group.push(i);
  }
  return new Map([...groups].sort((a, b) => a[0] - b[0]));
}

function checkCounts(what: string, options: ClassBalancedOptions): void {
  for (const key of ['classesPerBatch', 'samplesPerClass'] as const) {
    const v = options[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new RecallkitError('INVALID_OPTION', `${what}: ${key} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isFinite(options.seed)) {
    throw new RecallkitError('INVALID_OPTION', `${what}: seed must be a finite number`);
  }
  const { labels } = options;
  for (let i = 0; i < labels.length; i++) {
    if (!Number.isInteger(labels[i])) {
      throw new RecallkitError('INVALID_OPTION', `${what}: labels[${i}] = ${labels[i]} is not an integer`);
    }
  }
}

/** A sampler whose batches for an epoch are computed once and then served from a small cache. */
abstract class SeededSampler implements BatchSampler {
  readonly batchSize: number;
  private cached: { epoch: number; batches: Int32Array[] } | undefined;

  constructor(
    readonly classesPerBatch: number,
    readonly samplesPerClass: number,
    readonly seed: number,
  ) {
    this.batchSize = classesPerBatch * samplesPerClass;
  }

  batches(epoch: number): Int32Array[] {
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw new RecallkitError('INVALID_OPTION', `epoch must be a non-negative integer, got ${epoch}`);
    }
    if (this.cached?.epoch !== epoch) this.cached = { epoch, batches: this.compute(epoch) };
    return this.cached.batches.map((b) => b.slice());
  }

  protected abstract compute(epoch: number): Int32Array[];
}

/**
 * The batch sampler of the RS@k authors' code (`TrainDatasetrsk.reshuffle`): each epoch shuffles the
 * images of every class and the order of the classes, then builds batches of C classes x m images
 * by walking the class order, taking the next m unused images of each class that still has m,
 * until the batch holds C classes. The epoch ends when fewer than C classes have m unused images;
 * the batches are then shuffled. So a class appears at most once per batch (its m images
 * contiguous), an image at most once per epoch, and classes with fewer than m images never appear
 * (reported once, as a warning).
 */
export class RskSampler extends SeededSampler {
  /** Labels of the classes that have fewer than m images and are never sampled. */
  readonly skippedClasses: number[];
  private readonly groups: number[][];

  constructor(options: ClassBalancedOptions) {
    checkCounts('rskSampler', options);
    super(options.classesPerBatch, options.samplesPerClass, options.seed);
    const m = options.samplesPerClass;
    const all = indicesByClass(options.labels);
    this.skippedClasses = [...all].filter(([, g]) => g.length < m).map(([label]) => label);
    this.groups = [...all.values()].filter((g) => g.length >= m);
    if (this.skippedClasses.length > 0) {
      const message =
        `rskSampler: ${this.skippedClasses.length} class(es) with fewer than ${m} images are skipped ` +
        `(labels ${this.skippedClasses.slice(0, 10).join(', ')}${this.skippedClasses.length > 10 ? ', ...' : ''})`;
      (options.onWarning ?? ((msg: string) => process.emitWarning(msg, 'RecallkitWarning')))(message);
    }
    if (this.groups.length < this.classesPerBatch) {
      throw new RecallkitError(
        'SAMPLER_TOO_FEW_CLASSES',
        `rskSampler: ${this.classesPerBatch} classes per batch requested, but only ${this.groups.length} ` +
          `classes have at least ${m} images`,
      );
    }
  }

  protected compute(epoch: number): Int32Array[] {
    const rng = keyedRng(this.seed, 'rsk', epoch);
    const pools = this.groups.map((g) => rng.shuffle(g.slice()));
    const order = rng.shuffle(pools.map((_, i) => i));
    return rng.shuffle(walkClasses(pools, order, this.classesPerBatch, this.samplesPerClass));
  }
}

/**
 * The batch-building walk of the RS@k authors' `reshuffle`, on already shuffled class pools and
 * class order: each pass over `order` takes the next m images of every class that still has m,
 * until the batch holds C classes; it stops at the first pass that cannot fill a batch.
 */
export function walkClasses(
  pools: readonly number[][],
  order: readonly number[],
  C: number,
  m: number,
): Int32Array[] {
  const used = new Int32Array(pools.length); // images taken so far from each class
  const batches: Int32Array[] = [];
  for (;;) {
    const batch: number[] = [];
    let classes = 0;
    for (const c of order) {
      if (classes === C) break;
      const pool = pools[c]!;
      if (pool.length - used[c]! < m) continue;
      for (let j = 0; j < m; j++) batch.push(pool[used[c]! + j]!);
      used[c]! += m;
      classes++;
    }
    if (classes < C) return batches;
    batches.push(Int32Array.from(batch));
  }
}

export interface MPerClassOptions extends ClassBalancedOptions {
  /** Samples per epoch, rounded down to a multiple of the batch size; default the number of labels. */
  lengthBeforeNewIter?: number;
}

/**
 * An m-per-class sampler like pytorch-metric-learning's `MPerClassSampler`: each batch draws C
 * distinct classes uniformly, then m images of each (without replacement when the class has at
 * least m images, with replacement otherwise). Batches are independent, so an image may recur
 * within an epoch; an epoch is `lengthBeforeNewIter` samples.
 */
export class MPerClassSampler extends SeededSampler {
  readonly numBatches: number;
  private readonly groups: number[][];

  constructor(options: MPerClassOptions) {
    checkCounts('mPerClassSampler', options);
    super(options.classesPerBatch, options.samplesPerClass, options.seed);
    this.groups = [...indicesByClass(options.labels).values()];
    if (this.groups.length < this.classesPerBatch) {
      throw new RecallkitError(
        'SAMPLER_TOO_FEW_CLASSES',
        `mPerClassSampler: ${this.classesPerBatch} classes per batch requested, but the labels hold ` +
          `${this.groups.length} classes`,
      );
    }
    const length = options.lengthBeforeNewIter ?? options.labels.length;
    this.numBatches = Math.floor(length / this.batchSize);
    if (this.numBatches < 1) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `mPerClassSampler: an epoch of ${length} samples holds no batch of ${this.batchSize}`,
      );
    }
  }

  protected compute(epoch: number): Int32Array[] {
    const rng = keyedRng(this.seed, 'm-per-class', epoch);
    const m = this.samplesPerClass;
    const classOrder = this.groups.map((_, i) => i);
    return Array.from({ length: this.numBatches }, () => {
      rng.shuffle(classOrder);
      const batch = new Int32Array(this.batchSize);
      for (let c = 0; c < this.classesPerBatch; c++) {
        const group = this.groups[classOrder[c]!]!;
        if (group.length >= m) {
          // Partial Fisher-Yates: m distinct draws.
          const pool = group.slice();
          for (let j = 0; j < m; j++) {
            const k = j + rng.int(pool.length - j);
            [pool[j], pool[k]] = [pool[k]!, pool[j]!];
            batch[c * m + j] = pool[j]!;
          }
        } else {
          for (let j = 0; j < m; j++) batch[c * m + j] = group[rng.int(group.length)]!;
        }
      }
      return batch;
    });
  }
}

/** The RS@k authors' sampler; see {@link RskSampler}. */
export function rskSampler(options: ClassBalancedOptions): RskSampler {
  return new RskSampler(options);
}

/** A pytorch-metric-learning style m-per-class sampler; see {@link MPerClassSampler}. */
export function mPerClassSampler(options: MPerClassOptions): MPerClassSampler {
  return new MPerClassSampler(options);
}
