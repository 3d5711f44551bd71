import type { RevisitedMetrics } from './types';

/**
 * Retrieval metrics of the model after `epoch` epochs (`step` optimiser steps): `recall` and
 * `mapAtR` for class-level retrieval (the `retrieval` evaluator), `revisited` for the revisited
 * Oxford / Paris protocol (the `instance` evaluator), which has neither.
 */
export interface Evaluation {
  readonly epoch: number;
  readonly step: number;
  readonly metrics: {
    readonly recall?: Readonly<Record<string, number>>;
    readonly mapAtR?: number;
    readonly revisited?: RevisitedMetrics;
  };
}

/** One training + evaluation run (one experiment, one seed), as bench and train write it. */
export interface RunResult {
  readonly experiment: string;
  readonly description?: string;
  readonly seed: number;
  /** False for the untrained network: the floor every loss must beat. */
  readonly trained: boolean;
  readonly components: Readonly<Record<string, string>>;
  /** Images per training batch (the sampler's), 0 for the untrained network. */
  readonly batchSize: number;
  /** Metrics of the final model. */
  readonly metrics: Evaluation['metrics'];
  /** Metrics of the final model on the dataset's further test sets, by name. */
  readonly testSets?: Readonly<Record<string, Evaluation['metrics']>>;
  /** The periodic evaluations (`train.evaluateEvery`), in order; empty when there were none. */
  readonly evaluations: readonly Evaluation[];
  /** The periodic evaluation with the best `train.selectBy` value. */
  readonly best?: Evaluation;
  /** Training loss per logged step. */
  readonly curve: readonly { readonly step: number; readonly epoch: number; readonly loss: number }[];
  readonly steps: number;
  readonly trainImages: number;
  readonly trainSeconds: number;
  /** CPU time of this process while training (user + system): robust to other load on the machine. */
  readonly trainCpuSeconds: number;
  /** Training images per second (forward + backward + update), null when nothing was trained. */
  readonly imagesPerSecond: number | null;
  readonly evalSeconds: number;
  /** The search behind the metrics, e.g. 'faiss:IndexFlatIP'. */
  readonly index?: string;
  readonly backend: string;
  /** Unreadable images of an image dataset (absent for other datasets). */
  readonly badImages?: BadImagesReport;
}

/** Unreadable images of a run's dataset, all splits together. */
export interface BadImagesReport {
  /** Left out when the dataset was built: in neither training nor evaluation. */
  readonly skipped: number;
  /** Failed when loaded (a dataset not checked when built): each gave an all-zero row, still counted. */
  readonly failedLoads: number;
  /** Each file (at most 100), with its split ('train', 'test', or a further test set's name). */
  readonly files: readonly { readonly split: string; readonly path: string; readonly reason: string }[];
}

export interface Stat {
  /** Number of values (seeds). */
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation over seeds (0 for a single seed). */
  readonly std: number;
  readonly min: number;
  readonly max: number;
}

/** All seeds of one experiment. */
export interface Summary {
  readonly experiment: string;
  readonly description?: string;
  readonly trained: boolean;
  readonly loss: string;
  readonly seeds: readonly number[];
  readonly recall: Readonly<Record<string, Stat>>;
  readonly mapAtR: Stat;
  readonly imagesPerSecond: Stat | null;
  readonly trainSeconds: Stat;
  readonly batchSize: number;
  /** Training loss per logged step, averaged over seeds (steps present in every seed). */
  readonly curve: readonly { readonly step: number; readonly loss: number }[];
  /** Periodic evaluations averaged over seeds (epochs present in every seed). */
  readonly evaluations: readonly {
    readonly epoch: number;
    readonly recall: Readonly<Record<string, number>>;
    readonly mapAtR: number;
  }[];
  /** Over seeds, each seed's best periodic evaluation; absent when a seed had none. */
  readonly best?: {
    readonly recall: Readonly<Record<string, Stat>>;
    readonly mapAtR: Stat;
    readonly epoch: Stat;
  };
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/** 'rsk', or 'rsk + simix' when a mixup wraps the loss. */
function lossLabel(components: Readonly<Record<string, string>>): string {
  const name = (id: string | undefined) => id?.slice(id.indexOf(':') + 1) ?? '';
  return components['mixup']
    ? `${name(components['loss'])} + ${name(components['mixup'])}`
    : name(components['loss']);
}

/** Groups runs by experiment (in first-seen order) and summarises each over its seeds. */
export function summarise(runs: readonly RunResult[]): Summary[] {
  const groups = new Map<string, RunResult[]>();
  for (const run of runs) {
    const group = groups.get(run.experiment) ?? [];
    group.push(run);
    groups.set(run.experiment, group);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const sorted = [...group].sort((a, b) => a.seed - b.seed);
    const ks = Object.keys(first.metrics.recall ?? {});
    const recallOf = (metrics: readonly Evaluation['metrics'][]) =>
      Object.fromEntries(ks.map((k) => [k, stat(metrics.map((m) => m.recall?.[k] ?? Number.NaN))]));
    const recall = recallOf(sorted.map((r) => r.metrics));
    const bests = sorted.map((r) => r.best).filter((b): b is Evaluation => b !== undefined);
    const epochs = (first.evaluations ?? [])
      .map((e) => e.epoch)
      .filter((epoch) => sorted.every((r) => (r.evaluations ?? []).some((e) => e.epoch === epoch)));
    const evaluations = epochs.map((epoch) => {
      const at = sorted.map((r) => r.evaluations.find((e) => e.epoch === epoch)!.metrics);
      return {
        epoch,
        recall: Object.fromEntries(ks.map((k) => [k, stat(at.map((m) => m.recall?.[k] ?? Number.NaN)).mean])),
        mapAtR: stat(at.map((m) => m.mapAtR ?? Number.NaN)).mean,
      };
    });
    const speeds = sorted.map((r) => r.imagesPerSecond).filter((v): v is number => v !== null);
    const steps = Math.min(...sorted.map((r) => r.curve.length));
    const curve = Array.from({ length: Number.isFinite(steps) ? steps : 0 }, (_, i) => ({
      step: first.curve[i]!.step,
      loss: sorted.reduce((a, r) => a + r.curve[i]!.loss, 0) / sorted.length,
    }));
    return {
      experiment: first.experiment,
      ...(first.description === undefined ? {} : { description: first.description }),
      trained: first.trained,
      loss: first.trained ? lossLabel(first.components) : 'none',
      seeds: sorted.map((r) => r.seed),
      recall,
      mapAtR: stat(sorted.map((r) => r.metrics.mapAtR ?? Number.NaN)),
      imagesPerSecond: speeds.length ? stat(speeds) : null,
      trainSeconds: stat(sorted.map((r) => r.trainSeconds)),
      batchSize: first.batchSize ?? 0,
      curve,
      evaluations,
      ...(bests.length === sorted.length && bests.length > 0
        ? {
            best: {
              recall: recallOf(bests.map((b) => b.metrics)),
              mapAtR: stat(bests.map((b) => b.metrics.mapAtR ?? Number.NaN)),
              epoch: stat(bests.map((b) => b.epoch)),
            },
          }
        : {}),
    };
  });
}
