import { readFile } from 'node:fs/promises';
import { RecallkitError, tf } from '@recallkit/core';
import { type OptimizerConfig, type StepInfo, Trainer } from '@recallkit/engine';
import { embedDataset } from '@recallkit/models';
import type { Experiment, Registry, ResolvedRef } from '@recallkit/registry';
import type { BadImagesReport, Evaluation, RunResult } from './results';
import type { BatchSampler, DatasetSplits, EmbeddingLoss, Evaluator } from './types';

/** What a `schedule` component resolves to: the engine's step schedule. */
export interface ScheduleConfig {
  readonly milestones: number[];
  readonly gamma: number;
  readonly unit?: 'epoch' | 'step';
}

export interface RunOptions {
  /** False: evaluate the freshly initialised network (the untrained floor). Default true. */
  readonly train?: boolean;
  /** Called after every optimiser step. */
  readonly onStep?: (info: StepInfo & { total: number }) => void;
  /** Show the engine's progress bar on stderr. */
  readonly progress?: boolean;
  /** Write the trainer's checkpoints here (every `checkpointEvery` steps and at the end). */
  readonly checkpointDir?: string;
  /** Steps between checkpoints (default: one epoch's batches). */
  readonly checkpointEvery?: number;
  /** Continue from the newest checkpoint in `checkpointDir`; the curve and evaluations come from `log`. */
  readonly resume?: boolean;
  /** JSONL training log. */
  readonly log?: string;
  /** Called on the freshly built model before training (e.g. to load stored weights). */
  readonly prepareModel?: (model: tf.LayersModel) => void | Promise<void>;
  /** Name of the run in results (default: the experiment's, or '<backbone> untrained'). */
  readonly name?: string;
  /** Receives the trained model before it is disposed (e.g. to save it). */
  readonly onModel?: (model: tf.LayersModel, training: { steps: number }) => Promise<void>;
  /** Receives the model each time a periodic evaluation beats the previous best (`train.evaluateEvery`). */
  readonly onBest?: (model: tf.LayersModel, evaluation: Evaluation) => Promise<void>;
}

/** The value of `train.selectBy` ('recall@<k>' or 'map@r') in one evaluation's metrics. */
function selectedMetric(metrics: Evaluation['metrics'], selectBy: string): number {
  if (selectBy === 'map@r') {
    if (metrics.mapAtR === undefined) {
      throw new RecallkitError(
        'INVALID_CONFIG',
        `train.selectBy is 'map@r' but the evaluator reports no MAP@R`,
      );
    }
    return metrics.mapAtR;
  }
  const k = selectBy.slice('recall@'.length);
  const value = metrics.recall?.[k];
  if (value === undefined) {
    throw new RecallkitError(
      'INVALID_CONFIG',
      `train.selectBy is '${selectBy}' but the evaluator reports Recall@k for k = ${Object.keys(metrics.recall ?? {}).join(', ') || 'none'} only`,
    );
  }
  return value;
}

/** The unreadable images of the splits that are image datasets (`skipped`, `summary()`), or undefined. */
function badImagesOf(data: DatasetSplits): BadImagesReport | undefined {
  type Checked = {
    skipped?: readonly { path: string; reason: string }[];
    summary?: () => { badImages: readonly { path: string; reason: string }[] };
  };
  const splits = { train: data.train, test: data.test, ...data.testSets } as Record<string, Checked>;
  let found = false;
  let skipped = 0;
  let failedLoads = 0;
  const files: { split: string; path: string; reason: string }[] = [];
  for (const [split, d] of Object.entries(splits)) {
    const left = Array.isArray(d.skipped) ? d.skipped : undefined;
    // In path order: loads finish in any order.
    const failed =
      typeof d.summary === 'function'
        ? [...d.summary().badImages].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        : undefined;
    if (!left && !failed) continue;
    found = true;
    skipped += left?.length ?? 0;
    failedLoads += failed?.length ?? 0;
    for (const { path, reason } of [...(left ?? []), ...(failed ?? [])]) files.push({ split, path, reason });
  }
  return found ? { skipped, failedLoads, files: files.slice(0, 100) } : undefined;
}

async function make<T>(registry: Registry, ref: ResolvedRef, context: Record<string, unknown>): Promise<T> {
  return (await registry.resolve(ref.id, ref.options, context)) as T;
}

/** Metrics as the trainer logs them: `recall@<k>` and `map@r`. */
function flatMetrics(metrics: Evaluation['metrics']): Record<string, number> {
  return {
    ...Object.fromEntries(Object.entries(metrics.recall ?? {}).map(([k, v]) => [`recall@${k}`, v])),
    ...(metrics.mapAtR === undefined ? {} : { 'map@r': metrics.mapAtR }),
  };
}

/** The loss curve and the evaluations recorded in a run's JSONL log. */
async function readRunLog(
  file: string,
  logEvery: number,
): Promise<{ curve: RunResult['curve'][number][]; evaluations: Evaluation[] }> {
  const records = (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, number | string>);
  const curve = records
    .filter((r) => r['event'] === undefined && (Number(r['step']) % logEvery === 0 || r['step'] === 1))
    .map((r) => ({ step: Number(r['step']), epoch: Number(r['epoch']), loss: Number(r['loss']) }));
  const evaluations = records
    .filter((r) => r['event'] === 'evaluation')
    .map((r) => ({
      epoch: Number(r['epoch']) + 1,
      step: Number(r['step']),
      metrics: {
        recall: Object.fromEntries(
          Object.entries(r)
            .filter(([key]) => key.startsWith('recall@'))
            .map(([key, v]) => [key.slice('recall@'.length), Number(v)]),
        ),
        mapAtR: Number(r['map@r']),
      },
    }));
  return { curve, evaluations };
}

/** Builds the network of an experiment: the backbone, then the head on top of it when one is named. */
export async function buildModel(
  experiment: Experiment,
  registry: Registry,
  inputShape: number[],
  seed: number,
): Promise<tf.LayersModel> {
  const { backbone, head } = experiment.components;
  let model = await make<tf.LayersModel>(registry, backbone, { inputShape, seed });
  if (head) model = await make<tf.LayersModel>(registry, head, { trunk: model, seed });
  return model;
}

/**
 * Refuses a network whose fixed input shape differs from what a test set gives (e.g. a 'trunk'
 * export trained at 32 x 32 on a dataset read at 224 x 224), naming both; networks with free
 * dimensions, or of another rank, are left to TensorFlow.js.
 */
function checkInputShape(
  model: tf.LayersModel,
  sets: readonly { name: string; sampleShape: number[] }[],
): void {
  const input = model.inputs[0]?.shape.slice(1);
  if (!input || input.some((d) => d == null)) return;
  for (const set of sets) {
    if (input.length === set.sampleShape.length && input.join(',') !== set.sampleShape.join(',')) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `the network takes [${input.join(', ')}] inputs, but ${set.name} gives [${set.sampleShape.join(', ')}]: set the dataset's size to the network's`,
      );
    }
  }
}

/**
 * Runs one experiment for one seed: selects the backend, builds data, model, sampler, loss (with
 * mixup), optimiser and schedule from the registry, trains with the engine's multistage step,
 * then evaluates retrieval on the test split.
 */
export async function runExperiment(
  experiment: Experiment,
  seed: number,
  registry: Registry,
  options: RunOptions = {},
): Promise<RunResult> {
  const c = experiment.components;
  const train = options.train ?? true;
  const backend = await make<string>(registry, c.backend, {});
  const data = await make<DatasetSplits>(registry, c.dataset, { seed });
  // A test benchmark (the revisited Oxford / Paris datasets) has no training split.
  const evaluationOnly = data.train.length === 0;
  if (train && evaluationOnly) {
    throw new RecallkitError(
      'DATASET_NO_TRAIN',
      `${experiment.name}: dataset ${c.dataset.id.split(':')[1]} has no training split, only a test set: ` +
        "evaluate a trained model on it with 'recallkit eval <config>' (e.g. backbone 'trunk' reading a 'recallkit export' folder)",
    );
  }
  const model = await buildModel(experiment, registry, data.train.sampleShape, seed);
  try {
    checkInputShape(model, [data.test, ...Object.values(data.testSets ?? {})]);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const curve: { step: number; epoch: number; loss: number }[] = [];
  const evaluator = await make<Evaluator>(registry, c.evaluator, {});
  let index: string | undefined;
  const measure = async (test = data.test): Promise<Evaluation['metrics']> => {
    const embedded = await embedDataset(model, test, { batchSize: 1000 });
    const embeddings = tf.tensor2d(embedded.data, [embedded.count, embedded.dim]);
    try {
      const metrics = await evaluator(embeddings, test.labels, test);
      index = metrics.index;
      return {
        ...(metrics.recall === undefined ? {} : { recall: { ...metrics.recall } }),
        ...(metrics.mapAtR === undefined ? {} : { mapAtR: metrics.mapAtR }),
        ...(metrics.revisited === undefined ? {} : { revisited: metrics.revisited }),
      };
    } finally {
      embeddings.dispose();
    }
  };
  const { evaluateEvery, selectBy } = experiment.train;
  const evaluations: Evaluation[] = [];
  let best: Evaluation | undefined;
  let periodicSeconds = 0;
  let steps = 0;
  let batchSize = 0;
  let trainImages = 0;
  let trainSeconds = 0;
  let trainCpuSeconds = 0;
  try {
    await options.prepareModel?.(model);
    if (train) {
      const sampler = await make<BatchSampler>(registry, c.sampler, { labels: data.train.labels, seed });
      let loss = await make<EmbeddingLoss>(registry, c.loss, { seed });
      if (c.mixup) loss = await make<EmbeddingLoss>(registry, c.mixup, { loss, seed });
      const optimizer = await make<OptimizerConfig>(registry, c.optimizer, {});
      const schedule = c.schedule ? await make<ScheduleConfig>(registry, c.schedule, {}) : undefined;
      batchSize = sampler.batchSize;
      const perEpoch = sampler.batches(0).length;
      const total = Math.max(1, Math.round(experiment.train.epochs * perEpoch));
      const logEvery = experiment.train.logEvery;
      const trainer = new Trainer({
        model,
        loss,
        dataset: data.train,
        sampler,
        epochs: Math.ceil(experiment.train.epochs),
        iterations: total,
        augment: experiment.train.augment,
        ...(evaluateEvery > 0
          ? {
              evaluate: {
                everyEpochs: evaluateEvery,
                metric: selectBy,
                run: async ({ epoch, step }) => {
                  const started = performance.now();
                  const evaluation = { epoch: epoch + 1, step, metrics: await measure() };
                  evaluations.push(evaluation);
                  const value = selectedMetric(evaluation.metrics, selectBy);
                  if (!best || value > selectedMetric(best.metrics, selectBy)) {
                    best = evaluation;
                    await options.onBest?.(model, evaluation);
                  }
                  periodicSeconds += (performance.now() - started) / 1000;
                  return flatMetrics(evaluation.metrics);
                },
              },
            }
          : {}),
        ...(experiment.train.chunk ? { chunkSize: experiment.train.chunk } : {}),
        seed,
        optimizer,
        ...(schedule ? { schedule: { ...schedule } } : {}),
        progress: options.progress ?? false,
        ...(options.checkpointDir
          ? {
              checkpoint: { dir: options.checkpointDir, everySteps: options.checkpointEvery ?? perEpoch },
              resume: options.resume ?? false,
            }
          : {}),
        ...(options.log ? { log: options.log } : {}),
        config: { experiment: experiment.name, seed },
        onStep: (info) => {
          if (!Number.isFinite(info.loss)) {
            throw new RecallkitError(
              'NON_FINITE_LOSS',
              `${experiment.name}: the loss became ${info.loss} at step ${info.step} (epoch ${info.epoch})`,
            );
          }
          if (info.step % logEvery === 0 || info.step === 1)
            curve.push({ step: info.step, epoch: info.epoch, loss: info.loss });
          trainImages += sampler.batchSize;
          options.onStep?.({ ...info, total });
        },
      });
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      try {
        const result = await trainer.run();
        steps = result.steps;
      } finally {
        trainer.dispose();
      }
      // Periodic evaluations are not training: their time is taken out (CPU time approximately).
      if (options.resume && options.log) {
        // What the interrupted process trained and evaluated is in the log (cut at the checkpoint).
        const logged = await readRunLog(options.log, logEvery);
        curve.splice(0, curve.length, ...logged.curve);
        evaluations.splice(0, evaluations.length, ...logged.evaluations);
        best = logged.evaluations.reduce<Evaluation | undefined>(
          (a, e) => (!a || selectedMetric(e.metrics, selectBy) > selectedMetric(a.metrics, selectBy) ? e : a),
          undefined,
        );
      }
      trainSeconds = (performance.now() - started) / 1000 - periodicSeconds;
      const cpu = process.cpuUsage(cpuStarted);
      trainCpuSeconds = (cpu.user + cpu.system) / 1e6 - periodicSeconds;
    }
    await options.onModel?.(model, { steps });
    const evalStarted = performance.now();
    const last = evaluations.at(-1);
    // The trainer has just evaluated the final weights when the last epoch was an evaluation epoch.
    const metrics = last && last.step === steps ? last.metrics : await measure();
    const testSets: Record<string, Evaluation['metrics']> = {};
    for (const [name, test] of Object.entries(data.testSets ?? {})) testSets[name] = await measure(test);
    const evalSeconds = (performance.now() - evalStarted) / 1000 + periodicSeconds;
    const badImages = badImagesOf(data);
    return {
      experiment:
        options.name ??
        (train || evaluationOnly
          ? experiment.name
          : `${experiment.components.backbone.id.split(':')[1]} untrained`),
      ...(experiment.description === undefined ? {} : { description: experiment.description }),
      seed,
      trained: train,
      components: Object.fromEntries(
        Object.entries(c)
          .filter(([, ref]) => ref)
          .map(([kind, ref]) => [kind, ref!.id]),
      ),
      batchSize,
      metrics,
      ...(data.testSets ? { testSets } : {}),
      evaluations,
      ...(best ? { best } : {}),
      curve,
      steps,
      trainImages,
      trainSeconds,
      trainCpuSeconds,
      imagesPerSecond: train && trainSeconds > 0 ? trainImages / trainSeconds : null,
      evalSeconds,
      ...(index ? { index } : {}),
      backend,
      ...(badImages ? { badImages } : {}),
    };
  } finally {
    model.dispose();
  }
}
