import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  createRng,
  type Labels,
  RecallkitError,
  type Rng,
  type RngState,
  removeOrphanTemporaries,
  restoreRng,
  tf,
} from '@recallkit/core';
import {
  type CheckpointContents,
  corruptNewest,
  inUse,
  listStepCheckpoints,
  readCheckpoint,
  removeCheckpointTemporaries,
  type StoredTensor,
  stepFile,
  trainerCheckpoints,
  writeCheckpoint,
} from './checkpoint';
import { applyGradients, chunkedGradients, chunkRanges, trainableVariables } from './chunked-step';
import type { RandomStateful, TrainingDataset, TrainingSampler } from './data';
import { type ChunkRequest, LoadAhead } from './load-ahead';
import { MetricsLog } from './metrics-log';
import { adam, adamW, type Optimizer } from './optimizers';
import { createProgress } from './progress';
import { type Schedule, stepSchedule } from './schedule';

/** What the loss may use beyond (embeddings, labels): a generator whose state is checkpointed. */
export interface StepContext {
  step: number;
  epoch: number;
  rng: Rng;
}

/**
 * Any `EmbeddingLoss`; it may also take the step context as a third argument. A loss with random
 * state of its own must expose it (`RandomStateful`, as `simix` does) for resume to be exact.
 */
export type TrainLoss = ((embeddings: tf.Tensor2D, labels: Labels, context: StepContext) => tf.Scalar) &
  Partial<RandomStateful>;

export interface OptimizerConfig {
  type: 'adam' | 'adamw';
  learningRate: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface EvaluationConfig {
  /** Evaluate after every `everyEpochs` epochs (and never otherwise). */
  everyEpochs: number;
  /** Computes metrics of the current model, e.g. through `@recallkit/evaluator`. */
  run: (context: { model: tf.LayersModel; epoch: number; step: number }) => Promise<Record<string, number>>;
  /** The metric that picks the best checkpoint, e.g. 'recall@1'. */
  metric: string;
  mode?: 'max' | 'min';
}

export interface TrainOptions {
  model: tf.LayersModel;
  loss: TrainLoss;
  dataset: TrainingDataset;
  sampler: TrainingSampler;
  epochs: number;
  /** Stop after this many optimiser steps in total, even mid-epoch. */
  iterations?: number;
  /** Rows per chunk of the multistage step (default: the whole batch). */
  chunkSize?: number;
  seed?: number;
  /** Ask the dataset for augmented images, decided by (seed, epoch, index). */
  augment?: boolean;
  /**
   * Load the next chunk while the step computes on this one (default true): the dataset's `load`
   * is then called before an earlier call has resolved. false: each chunk is loaded when asked for.
   */
  loadAhead?: boolean;
  /** Layer mode in both passes of the step (default true; see `chunkedGradients`). */
  training?: boolean;
  optimizer?: OptimizerConfig;
  /** The paper's step schedule, applied per epoch (or per step with unit 'step'). */
  schedule?: { milestones: number[]; gamma: number; unit?: 'epoch' | 'step' };
  /** A separate learning rate for the head: the named layers, by default the last layer with weights. */
  head?: { learningRate: number; layers?: string[] };
  checkpoint?: { dir: string; everySteps?: number; keep?: number };
  /** true: continue from the newest checkpoint in `checkpoint.dir` when there is one; a path: from that file. */
  resume?: boolean | string;
  /** JSONL file that receives one record per step and per evaluation. */
  log?: string;
  evaluate?: EvaluationConfig;
  /** Progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Your experiment's configuration, stored in every checkpoint. */
  config?: Record<string, unknown>;
  /** Check that stage 3 recomputes stage 1's embeddings. */
  debug?: boolean;
  onStep?: (info: StepInfo) => void | Promise<void>;
}

export interface StepInfo {
  step: number;
  epoch: number;
  batch: number;
  loss: number;
  learningRate: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  steps: number;
  epochs: number;
  loss: number;
  best?: { metric: string; value: number; epoch: number; file: string };
  lastCheckpoint?: string;
  /** Identity of the run, stored in each of its checkpoints and kept across resumes. */
  run: string;
}

interface RunState {
  epoch: number;
  /** Next batch of `epoch` to train on. */
  batch: number;
  step: number;
  loss: number;
  best: { value: number; epoch: number } | null;
}

const FORMAT = 'recallkit-trainer/1';

/** Trains a model over a batch sampler with multistage backpropagation, checkpoints and resume. */
export class Trainer {
  private readonly options: TrainOptions;
  private readonly optimizer: Optimizer;
  private readonly variables: tf.Variable[];
  private readonly headVariables: Set<tf.Variable>;
  private readonly schedule: Schedule;
  private readonly log: MetricsLog | undefined;
  private rng: Rng;
  private state: RunState = { epoch: 0, batch: 0, step: 0, loss: Number.NaN, best: null };
  /** This run's identity: new for a fresh run, the checkpoint's on resume. */
  private runId = '';
  /** Resumed from a checkpoint that names no run: unnamed checkpoints in the folder count as ours. */
  private unnamedAreOurs = false;
  /** Step checkpoints of this run in the folder, the only ones housekeeping may delete. */
  private readonly ownSteps = new Set<string>();

  constructor(options: TrainOptions) {
    validate(options);
    this.options = options;
    const opt = options.optimizer ?? { type: 'adamw', learningRate: 1e-4 };
    this.optimizer = opt.type === 'adam' ? adam(opt) : adamW(opt);
    this.variables = trainableVariables(options.model);
    this.headVariables = headVariablesOf(options.model, options.head);
    this.schedule = options.schedule ? stepSchedule(options.schedule) : () => 1;
    this.log = options.log ? new MetricsLog(options.log) : undefined;
    this.rng = createRng(options.seed ?? 0);
  }

  async run(): Promise<TrainResult> {
    const o = this.options;
    const dir = o.checkpoint?.dir;
    if (dir) await removeCheckpointTemporaries(dir);
    const resumed = await this.resumeIfAsked();
    if (!resumed && dir) await this.claim(dir, undefined);
    this.runId ||= randomUUID();
    // Fail before the first step, not at the first checkpoint, when some random state cannot be saved.
    if (dir) JSON.stringify(this.randomStates());
    // A resume that found no checkpoint starts the run over: its log starts over too.
    if ((resumed || o.resume) && this.log) {
      await removeOrphanTemporaries(path.dirname(this.log.file), (t) => t === path.basename(this.log!.file));
      await this.log.truncateAfter(this.state.step);
    }
    const cap = o.iterations ?? Number.POSITIVE_INFINITY;
    // The bar's total assumes every epoch has as many batches as the first.
    const estimate = Math.min(cap, o.epochs * o.sampler.batches(0).length);
    const progress = createProgress(o.progress ?? process.stderr.isTTY === true, estimate, this.state.step);
    let lastCheckpoint = resumed;
    try {
      while (this.state.epoch < o.epochs && this.state.step < cap) {
        const epoch = this.state.epoch;
        const batches = o.sampler.batches(epoch);
        const augment = o.augment ? { seed: o.seed ?? 0, epoch } : undefined;
        const ahead = new LoadAhead(
          (r) => o.dataset.load(r.batch.subarray(r.start, r.end), augment),
          o.loadAhead !== false,
        );
        try {
          while (this.state.batch < batches.length && this.state.step < cap) {
            const indices = batches[this.state.batch] as Int32Array;
            const last = this.state.batch + 1 >= batches.length || this.state.step + 1 >= cap;
            const started = performance.now();
            const { loss, learningRate } = await this.trainStep(
              indices,
              epoch,
              ahead,
              last ? undefined : batches[this.state.batch + 1],
            );
            const imagesPerSecond = indices.length / ((performance.now() - started) / 1000);
            this.state.batch += 1;
            this.state.step += 1;
            this.state.loss = loss;
            const info = {
              step: this.state.step,
              epoch,
              batch: this.state.batch - 1,
              loss,
              learningRate,
              imagesPerSecond,
            };
            await this.log?.append({ ...info, time: new Date().toISOString() });
            progress.update(this.state.step, info);
            const every = o.checkpoint?.everySteps ?? 0;
            if (dir && every > 0 && this.state.step % every === 0) lastCheckpoint = await this.saveStep(dir);
            await o.onStep?.(info);
          }
        } finally {
          await ahead.dispose();
        }
        if (this.state.batch >= batches.length) {
          await this.evaluateIfDue(epoch);
          this.state.epoch += 1;
          this.state.batch = 0;
        }
      }
      if (dir && lastCheckpoint !== stepFile(dir, this.state.step)) lastCheckpoint = await this.saveStep(dir);
    } finally {
      progress.stop();
    }
    const result: TrainResult = {
      steps: this.state.step,
      epochs: this.state.epoch,
      loss: this.state.loss,
      run: this.runId,
    };
    if (lastCheckpoint) result.lastCheckpoint = lastCheckpoint;
    if (this.state.best && o.evaluate && dir) {
      result.best = { metric: o.evaluate.metric, ...this.state.best, file: path.join(dir, 'best.ckpt') };
    }
    return result;
  }

  /** Frees the optimiser's moment tensors (the model stays the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }

  /**
   * One optimiser step on `indices`. Its chunks come through `ahead`, each starting the load of the
   * one the step asks for next (stage 1's chunks in order, then stage 3's; one chunk: just it),
   * and the last starting the first chunk of `next`, the following batch.
   */
  private async trainStep(
    indices: Int32Array,
    epoch: number,
    ahead: LoadAhead,
    next: Int32Array | undefined,
  ): Promise<{ loss: number; learningRate: number }> {
    const o = this.options;
    const labels = Int32Array.from(indices, (i) => o.dataset.labels[i] as number);
    const context: StepContext = { step: this.state.step, epoch, rng: this.rng };
    const chunkSize = Math.min(o.chunkSize ?? indices.length, indices.length);
    const chunks = chunkRequests(indices, chunkSize);
    const order = chunks.length > 1 ? [...chunks, ...chunks] : [...chunks];
    if (next) order.push(chunkRequests(next, Math.min(o.chunkSize ?? next.length, next.length))[0]!);
    let served = 0;
    const { loss, variables, gradients } = await chunkedGradients({
      model: o.model,
      loss: (e, l) => o.loss(e, l, context),
      inputs: (start, end) => ahead.take({ batch: indices, start, end }, order[++served]),
      batchSize: indices.length,
      labels,
      chunkSize,
      training: o.training ?? true,
      variables: this.variables,
      debug: o.debug ?? false,
    });
    const scale = this.schedule(o.schedule?.unit === 'step' ? this.state.step : epoch);
    const base = (o.optimizer?.learningRate ?? 1e-4) * scale;
    const head = o.head ? o.head.learningRate * scale : base;
    try {
      applyGradients(this.optimizer, variables, gradients, (v) => (this.headVariables.has(v) ? head : base));
    } finally {
      tf.dispose(gradients);
    }
    return { loss, learningRate: base };
  }

  private async evaluateIfDue(epoch: number): Promise<void> {
    const e = this.options.evaluate;
    if (!e || (epoch + 1) % e.everyEpochs !== 0) return;
    const metrics = await e.run({ model: this.options.model, epoch, step: this.state.step });
    const value = metrics[e.metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RecallkitError(
        'INVALID_EVALUATION',
        `the evaluation returned no finite '${e.metric}' (got keys: ${Object.keys(metrics).join(', ') || 'none'})`,
      );
    }
    await this.log?.append({ event: 'evaluation', step: this.state.step, epoch, ...metrics });
    const better =
      !this.state.best ||
      ((e.mode ?? 'max') === 'max' ? value > this.state.best.value : value < this.state.best.value);
    if (better) {
      this.state.best = { value, epoch };
      const dir = this.options.checkpoint?.dir;
      if (dir) await writeCheckpoint(path.join(dir, 'best.ckpt'), this.snapshot());
    }
  }

  private async saveStep(dir: string): Promise<string> {
    const file = stepFile(dir, this.state.step);
    await writeCheckpoint(file, this.snapshot());
    this.ownSteps.add(file);
    // Only this run's checkpoints are cleared away; names sort by step.
    const keep = this.options.checkpoint?.keep ?? 2;
    const old = [...this.ownSteps].sort().slice(0, -keep);
    for (const f of old) this.ownSteps.delete(f);
    await Promise.all(old.map((f) => fs.rm(f, { force: true })));
    return file;
  }

  /**
   * Makes sure `dir` holds no checkpoint of another run (a fresh run starts only in a folder without
   * trainer checkpoints), names the run, and takes note of its own step checkpoints.
   */
  private async claim(dir: string, resumed: Record<string, unknown> | undefined): Promise<void> {
    const found = await trainerCheckpoints(dir);
    if (resumed) {
      if (typeof resumed['run'] === 'string') {
        this.runId = resumed['run'];
      } else {
        // Written before checkpoints named their run: continue under a new name.
        this.runId = randomUUID();
        this.unnamedAreOurs = true;
      }
    } else {
      // A resume that found no step checkpoint restarts that run: a best.ckpt is its own.
      const best = found.find((c) => c.kind === 'best' && c.run !== undefined);
      const restart = this.options.resume === true && !found.some((c) => c.kind === 'step');
      if (restart && best?.run) this.runId = best.run;
      else if (found.length > 0) throw inUse(dir, found, undefined);
      else this.runId = randomUUID();
    }
    const ours = (run: string | undefined) =>
      run === this.runId || (run === undefined && this.unnamedAreOurs);
    // Unreadable files (a damaged start) cannot be told apart: they are left alone.
    const foreign = found.filter((c) => c.readable && !ours(c.run));
    if (foreign.length > 0) throw inUse(dir, foreign, this.runId);
    for (const c of found) if (c.kind === 'step' && c.readable && ours(c.run)) this.ownSteps.add(c.file);
  }

  /** The random state of the run's parts that keep one (null for those that do not). */
  private randomStates(): { loss: unknown; sampler: unknown } {
    const { loss, sampler } = this.options;
    return {
      loss: typeof loss.randomState === 'function' ? loss.randomState() : null,
      sampler: typeof sampler.randomState === 'function' ? sampler.randomState() : null,
    };
  }

  private snapshot(): CheckpointContents {
    const o = this.options;
    const weights = o.model.weights.map((w, i): StoredTensor => {
      const value = w.read();
      return { name: `weight:${i}`, shape: value.shape, data: value.dataSync() as Float32Array };
    });
    const opt = this.optimizer.getState(this.variables);
    const moments = opt.moments.flatMap((m, i): StoredTensor[] => {
      if (!m) return [];
      const shape = (this.variables[i] as tf.Variable).shape;
      return [
        { name: `m:${i}`, shape, data: m.m },
        { name: `v:${i}`, shape, data: m.v },
      ];
    });
    return {
      meta: {
        format: FORMAT,
        run: this.runId,
        fingerprint: fingerprint(o),
        config: o.config ?? null,
        state: this.state,
        rng: this.rng.state(),
        random: this.randomStates(),
        sampler: { batchSize: o.sampler.batchSize, epoch: this.state.epoch, batch: this.state.batch },
        optimizer: { kind: opt.kind, iterations: opt.iterations },
        weights: o.model.weights.map((w) => ({ name: w.name, shape: w.shape })),
        savedAt: new Date().toISOString(),
      },
      tensors: [...weights, ...moments],
    };
  }

  private async resumeIfAsked(): Promise<string | undefined> {
    const o = this.options;
    if (!o.resume) return undefined;
    let file: string;
    let contents: CheckpointContents;
    if (typeof o.resume === 'string') {
      file = o.resume;
      contents = await readCheckpoint(file);
    } else {
      if (!o.checkpoint) {
        throw new RecallkitError(
          'INVALID_OPTION',
          'resume: true needs checkpoint.dir to look for checkpoints',
        );
      }
      const found = await listStepCheckpoints(o.checkpoint.dir);
      const newest = found.at(-1);
      if (!newest) return undefined;
      file = newest;
      try {
        contents = await readCheckpoint(file);
      } catch (error) {
        if (!(error instanceof RecallkitError) || error.code !== 'CHECKPOINT_CORRUPT') throw error;
        throw await corruptNewest(error, file, found.slice(0, -1));
      }
    }
    assertTrainerCheckpoint(contents.meta);
    // The folder is checked (and the run named) before anything of the checkpoint is applied.
    if (o.checkpoint) await this.claim(o.checkpoint.dir, contents.meta);
    else this.runId = typeof contents.meta['run'] === 'string' ? contents.meta['run'] : randomUUID();
    this.restore(contents);
    return file;
  }

  private restore({ meta, tensors }: CheckpointContents): void {
    const o = this.options;
    const differences = diffKeys(meta['fingerprint'] as Record<string, unknown>, fingerprint(o));
    if (differences.length > 0) {
      throw new RecallkitError(
        'CHECKPOINT_MISMATCH',
        `the checkpoint was written by a run with different settings (${differences.join(', ')}); resume with the same settings or start a new run`,
        { differences },
      );
    }
    const random = (meta['random'] ?? {}) as { loss?: unknown; sampler?: unknown };
    const restoreRandom = [
      checkRandom('loss', o.loss, random.loss),
      checkRandom('sampler', o.sampler, random.sampler),
    ];
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const weights = o.model.weights;
    const values = weights.map((w, i) => {
      const stored = byName.get(`weight:${i}`);
      if (!stored || stored.data.length !== w.read().size) {
        throw new RecallkitError(
          'CHECKPOINT_MISMATCH',
          `the checkpoint's weight ${i} does not fit '${w.name}' of shape [${w.shape.join(', ')}]: is it the same model?`,
        );
      }
      return tf.tensor(stored.data, w.read().shape);
    });
    o.model.setWeights(values);
    tf.dispose(values);
    const optimizer = meta['optimizer'] as { kind: 'adam' | 'adamw'; iterations: number };
    this.optimizer.setState(this.variables, {
      kind: optimizer.kind,
      iterations: optimizer.iterations,
      moments: this.variables.map((_, i) => {
        const m = byName.get(`m:${i}`);
        const v = byName.get(`v:${i}`);
        return m && v ? { m: m.data, v: v.data } : null;
      }),
    });
    this.rng = restoreRng(meta['rng'] as RngState);
    for (const restore of restoreRandom) restore();
    this.state = { ...(meta['state'] as RunState) };
    if (this.state.loss === null) this.state.loss = Number.NaN;
  }
}

/** Runs a `Trainer` to the end. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const trainer = new Trainer(options);
  try {
    return await trainer.run();
  } finally {
    trainer.dispose();
  }
}

/** Settings that must not change across a resume (epochs and iterations may grow). */
function fingerprint(o: TrainOptions): Record<string, unknown> {
  return {
    seed: o.seed ?? 0,
    batchSize: o.sampler.batchSize,
    chunkSize: o.chunkSize ?? null,
    augment: o.augment ?? false,
    training: o.training ?? true,
    optimizer: o.optimizer ?? null,
    schedule: o.schedule ?? null,
    head: o.head ?? null,
    parameters: o.model.weights.map((w) => w.shape),
  };
}

function assertTrainerCheckpoint(meta: Record<string, unknown>): void {
  if (meta['format'] !== FORMAT) {
    throw new RecallkitError(
      'CHECKPOINT_MISMATCH',
      `not a trainer checkpoint (format ${String(meta['format'])})`,
    );
  }
}

function diffKeys(a: Record<string, unknown> | undefined, b: Record<string, unknown>): string[] {
  if (!a) return ['fingerprint'];
  return Object.keys(b).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/**
 * Checks a part's stored random state against the part (before anything is restored) and returns
 * the restore, to run once every check has passed.
 */
function checkRandom(name: string, part: Partial<RandomStateful>, state: unknown): () => void {
  const keeps = typeof part.randomState === 'function';
  if ((state === undefined || state === null) && !keeps) return () => {};
  if (state === undefined || state === null) {
    throw new RecallkitError(
      'CHECKPOINT_MISMATCH',
      `the ${name} keeps random state, but the checkpoint holds none for it (written with another ${name}, or by an older Recallkit): the resumed run could not draw what the interrupted one would have`,
    );
  }
  if (!keeps || typeof part.restoreRandomState !== 'function') {
    throw new RecallkitError(
      'CHECKPOINT_MISMATCH',
      `the checkpoint holds random state of the ${name}, but this ${name} has none to restore (randomState / restoreRandomState): is it the same ${name}?`,
    );
  }
  return () => part.restoreRandomState!(state);
}

function headVariablesOf(model: tf.LayersModel, head: TrainOptions['head']): Set<tf.Variable> {
  if (!head) return new Set();
  let layers: tf.layers.Layer[];
  if (head.layers) {
    layers = head.layers.map((name) => {
      const layer = model.layers.find((l) => l.name === name);
      if (!layer) {
        throw new RecallkitError(
          'INVALID_OPTION',
          `head layer '${name}' is not in the model (layers: ${model.layers.map((l) => l.name).join(', ')})`,
        );
      }
      return layer;
    });
  } else {
    const last = [...model.layers].reverse().find((l) => l.trainableWeights.length > 0);
    layers = last ? [last] : [];
  }
  return new Set(layers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)));
}

function validate(o: TrainOptions): void {
  const bad = (message: string) => new RecallkitError('INVALID_OPTION', message);
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw bad(`epochs must be a positive integer; got ${o.epochs}`);
  if (o.iterations !== undefined && (!Number.isInteger(o.iterations) || o.iterations < 1)) {
    throw bad(`iterations must be a positive integer; got ${o.iterations}`);
  }
  const every = o.checkpoint?.everySteps;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) {
    throw bad(`checkpoint.everySteps must be a positive integer; got ${every}`);
  }
  const keep = o.checkpoint?.keep;
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1)) {
    throw bad(`checkpoint.keep must be a positive integer; got ${keep}`);
  }
  if (o.evaluate && (!Number.isInteger(o.evaluate.everyEpochs) || o.evaluate.everyEpochs < 1)) {
    throw bad(`evaluate.everyEpochs must be a positive integer; got ${o.evaluate.everyEpochs}`);
  }
  if (o.model.weights.some((w) => w.dtype !== 'float32')) {
    throw bad('the trainer checkpoints float32 weights only; the model has weights of another dtype');
  }
}

/** The chunks of `batch` as the step asks for them (see `chunkRanges`). */
function chunkRequests(batch: Int32Array, chunkSize: number): ChunkRequest[] {
  return chunkRanges(batch.length, chunkSize).map(([start, end]) => ({ batch, start, end }));
}
