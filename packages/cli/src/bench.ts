import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RecallkitError, removeOrphanTemporaries, writeFileAtomic } from '@recallkit/core';
import type { Experiment, Registry } from '@recallkit/registry';
import { loadExperiment } from './config';
import { type Job, type JobProgress, runJob } from './jobs';
import { type ReportPaths, writeReport } from './report/index';
import type { RunResult, Summary } from './results';
import type { FromWorker, ToWorker } from './worker';

export interface BenchOptions {
  /** Folder of the report. */
  readonly out: string;
  /** Seeds to run (default: the first config's `seeds`). */
  readonly seeds?: readonly number[];
  /** Overrides every config's `train.epochs`. */
  readonly epochs?: number;
  /** Worker processes (default: min(2, cores)); 1 runs every job in this process. */
  readonly workers?: number;
  /** Add the untrained network as a floor row (default true). */
  readonly floor?: boolean;
  readonly title?: string;
  readonly onEvent?: (event: BenchEvent) => void;
}

export type BenchEvent =
  | { type: 'start'; jobs: number; workers: number }
  | { type: 'job-start'; worker: number; job: Job; label: string }
  | { type: 'job-progress'; worker: number; progress: JobProgress }
  | { type: 'job-done'; worker: number; label: string; result: RunResult; done: number; total: number };

export interface BenchResult {
  readonly paths: ReportPaths;
  readonly table: string;
  readonly summaries: Summary[];
  readonly wallSeconds: number;
}

/**
 * The parts that must agree for a comparison to be fair: data, model and training budget. The
 * number of classes per batch may differ (a batch-size sweep at the same epochs sees the same images).
 */
function budgetOf(e: Experiment): Record<string, unknown> {
  const c = e.components;
  const { classesPerBatch: _, ...sampler } = c.sampler.options;
  return {
    dataset: c.dataset,
    sampler: { id: c.sampler.id, ...sampler },
    backbone: c.backbone,
    head: c.head ?? null,
    epochs: e.train.epochs,
  };
}

function checkComparable(experiments: readonly Experiment[], paths: readonly string[]): void {
  const reference = budgetOf(experiments[0]!);
  experiments.forEach((experiment, i) => {
    const budget = budgetOf(experiment);
    for (const key of Object.keys(reference)) {
      if (JSON.stringify(budget[key]) !== JSON.stringify(reference[key])) {
        throw new RecallkitError(
          'BENCH_NOT_COMPARABLE',
          `bench compares configs on the same data, model and budget, but '${key}' of ${paths[i]} ` +
            `(${JSON.stringify(budget[key])}) differs from ${paths[0]} (${JSON.stringify(reference[key])})`,
        );
      }
    }
  });
  const names = experiments.map((e) => e.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new RecallkitError('BENCH_DUPLICATE', `two configs are named '${duplicate}'`);
}

/** The built CLI script that worker processes run, or undefined when running from sources. */
function workerScript(): string | undefined {
  const script = fileURLToPath(new URL('./cli.js', import.meta.url));
  return existsSync(script) ? script : undefined;
}

/**
 * Where a job's result is kept, the key that says which job it was (the experiment file's content,
 * seed, budget), and the result itself when a run with the same key finished before.
 */
async function keptRun(
  out: string,
  job: Job,
  name: string,
): Promise<{ file: string; key: string; result?: RunResult }> {
  const text = await readFile(job.config, 'utf8');
  const key = JSON.stringify({
    config: createHash('sha256').update(text).digest('hex'),
    seed: job.seed,
    train: job.train,
    epochs: job.epochs ?? null,
  });
  const file = join(out, 'runs', `${job.train ? name : `${name}-untrained`}-seed${job.seed}.json`);
  const stored = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as { key: string; result: RunResult },
    () => undefined,
  );
  return stored?.key === key ? { file, key, result: stored.result } : { file, key };
}

const jobLabel = (job: Job, name: string) => `${job.train ? name : 'untrained'} seed ${job.seed}`;

/**
 * Runs several experiments on the same data, model and budget, over several seeds (plus the
 * untrained network as a floor), spread over worker processes, then writes the comparison report.
 */
export async function runBench(
  configs: readonly string[],
  registry: Registry,
  options: BenchOptions,
): Promise<BenchResult> {
  if (configs.length === 0)
    throw new RecallkitError('BENCH_NO_CONFIG', 'bench needs at least one experiment file');
  const experiments: Experiment[] = [];
  for (const config of configs) experiments.push(await loadExperiment(config, registry));
  checkComparable(experiments, configs);
  const seeds = options.seeds ?? experiments[0]!.seeds;
  const epochs = options.epochs;
  const names = new Map(configs.map((c, i) => [c, experiments[i]!.name]));
  const jobs: Job[] = [];
  for (const seed of seeds) {
    if (options.floor ?? true) jobs.push({ config: configs[0]!, seed, train: false });
    for (const config of configs)
      jobs.push({ config, seed, train: true, ...(epochs === undefined ? {} : { epochs }) });
  }
  const emit = options.onEvent ?? (() => {});
  const script = workerScript();
  const wanted = options.workers ?? Math.min(2, availableParallelism());
  if (!Number.isInteger(wanted) || wanted < 1)
    throw new RecallkitError('INVALID_OPTION', `--workers must be a positive integer; got ${wanted}`);
  // Finished runs are kept under <out>/runs as they finish; a rerun after a kill takes them back,
  // and clears away the temporary files of the writes (a kept run, a report file) it interrupted.
  await removeOrphanTemporaries(options.out);
  await removeOrphanTemporaries(join(options.out, 'runs'));
  const kept = await Promise.all(jobs.map((job) => keptRun(options.out, job, names.get(job.config)!)));
  const todo = jobs.flatMap((_, i) => (kept[i]!.result ? [] : [i]));
  const workers = script && wanted > 1 ? Math.max(1, Math.min(wanted, todo.length)) : 1;
  emit({ type: 'start', jobs: jobs.length, workers });

  const started = performance.now();
  const results: (RunResult | undefined)[] = kept.map((k) => k.result);
  let next = 0;
  let done = jobs.length - todo.length;
  const finish = async (worker: number, index: number, result: RunResult) => {
    results[index] = result;
    await writeFileAtomic(kept[index]!.file, `${JSON.stringify({ key: kept[index]!.key, result })}\n`);
    done += 1;
    emit({
      type: 'job-done',
      worker,
      label: jobLabel(jobs[index]!, names.get(jobs[index]!.config)!),
      result,
      done,
      total: jobs.length,
    });
  };

  if (workers <= 1) {
    for (; next < todo.length; next++) {
      const index = todo[next]!;
      const job = jobs[index]!;
      emit({ type: 'job-start', worker: 0, job, label: jobLabel(job, names.get(job.config)!) });
      await finish(
        0,
        index,
        await runJob(job, registry, (progress) => emit({ type: 'job-progress', worker: 0, progress })),
      );
    }
  } else {
    await runInWorkers(script!, workers, jobs, names, emit, finish, () => todo[next++] ?? jobs.length);
  }
  const runs = results.filter((r): r is RunResult => r !== undefined);
  const wallSeconds = (performance.now() - started) / 1000;
  const first = experiments[0]!;
  const trainedEpochs = epochs ?? first.train.epochs;
  const batchSizes = new Set(experiments.map((e) => JSON.stringify(e.components.sampler.options)));
  const sampler =
    batchSizes.size > 1
      ? `${first.components.sampler.id}, classes per batch as each experiment sets`
      : `${first.components.sampler.id} ${JSON.stringify(first.components.sampler.options)}`;
  const notes = [
    `${experiments.map((e) => e.name).join(', ')}: same dataset (${first.components.dataset.id}), sampler ` +
      `(${sampler}), backbone ` +
      `(${first.components.backbone.id}) and budget (${trainedEpochs} epoch${trainedEpochs === 1 ? '' : 's'}), ` +
      `seeds ${seeds.join(', ')}, on the ${runs[0]?.backend ?? '?'} backend.`,
    `Bench wall time ${wallSeconds.toFixed(0)} s with ${workers} worker process${workers === 1 ? '' : 'es'}` +
      (todo.length < jobs.length
        ? `; ${jobs.length - todo.length} of ${jobs.length} runs were kept from an earlier, interrupted bench in ${join(options.out, 'runs')}.`
        : '.'),
  ];
  const report = await writeReport(options.out, {
    title: options.title ?? `Recallkit bench: ${experiments.map((e) => e.name).join(' vs ')}`,
    notes,
    runs,
    meta: {
      configs: configs.map((c) => basename(c)),
      seeds,
      epochs: trainedEpochs,
      workers,
      wallSeconds,
      node: process.version,
      cores: availableParallelism(),
    },
  });
  return { ...report, wallSeconds };
}

async function runInWorkers(
  script: string,
  count: number,
  jobs: readonly Job[],
  names: ReadonlyMap<string, string>,
  emit: (event: BenchEvent) => void,
  finish: (worker: number, index: number, result: RunResult) => Promise<void>,
  take: () => number,
): Promise<void> {
  const children: ChildProcess[] = [];
  let failure: Error | undefined;
  const serve = (worker: number) =>
    new Promise<void>((resolve, reject) => {
      // The cores are shared among the workers (wasm runs one thread per core it is given).
      const threads =
        process.env['RECALLKIT_THREADS'] ?? String(Math.max(1, Math.floor(availableParallelism() / count)));
      const child = fork(script, ['__worker'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, RECALLKIT_THREADS: threads },
      });
      children.push(child);
      let current = -1;
      const dispatch = () => {
        current = failure ? jobs.length : take();
        if (current >= jobs.length) {
          child.send({ type: 'exit' } satisfies ToWorker);
          return;
        }
        const job = jobs[current]!;
        emit({ type: 'job-start', worker, job, label: jobLabel(job, names.get(job.config)!) });
        child.send({ type: 'job', id: current, job } satisfies ToWorker);
      };
      child.on('message', (message: FromWorker) => {
        if (message.type === 'ready') dispatch();
        else if (message.type === 'progress') emit({ type: 'job-progress', worker, progress: message });
        else if (message.type === 'result') {
          finish(worker, message.id, message.result).then(dispatch, (error: Error) => {
            failure ??= error;
            child.send({ type: 'exit' } satisfies ToWorker);
          });
        } else if (message.type === 'error') {
          failure ??= new RecallkitError(message.code ?? 'BENCH_JOB_FAILED', message.message);
          child.send({ type: 'exit' } satisfies ToWorker);
        }
      });
      child.on('exit', (code) => {
        if (failure) reject(failure);
        else if (code !== 0)
          reject(new RecallkitError('BENCH_WORKER_DIED', `bench worker ${worker} exited with code ${code}`));
        else resolve();
      });
      child.on('error', reject);
    });
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => serve(i)));
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}
