import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import { L2Normalize, loadModel, saveModel } from '@recallkit/models';
import type { Registry } from '@recallkit/registry';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { assignWeights, modelFile, readTrainedModel } from './checkpoint';
import { experimentFromObject } from './config';
import { buildModel } from './pipeline';
import { preprocessingOf } from './serve';
import type { DatasetSplits } from './types';

const EXPORT_FORMAT = 'recallkit-export/1';

interface ExportOptions {
  /** Output folder (default `<run>/export`, beside the checkpoint for a .ckpt file). */
  readonly out?: string;
  /** Which checkpoint of a run folder: 'last' (`model.ckpt`, default) or 'best' (`best.ckpt`). */
  readonly checkpoint?: 'best' | 'last';
  /** Replace a non-empty output folder. */
  readonly force?: boolean;
}

interface ExportResult {
  /** The folder written: model.json and weights.bin. */
  readonly out: string;
  /** The checkpoint exported. */
  readonly checkpoint: string;
  readonly experiment: string;
  readonly seed: number;
  readonly steps: number | null;
  /** Input shape without the batch axis. */
  readonly inputShape: number[];
  readonly embeddingDim: number;
  /** Whether an L2 normalisation was appended (the network did not end in one). */
  readonly addedL2Normalize: boolean;
}

/** The checkpoint `export` reads: a run folder's model.ckpt or best.ckpt, or a .ckpt file itself. */
async function checkpointOf(target: string, which: 'best' | 'last' | undefined): Promise<string> {
  const file = await modelFile(target);
  if (which === undefined) return file;
  if (file === target) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `--checkpoint chooses between the checkpoints of a run folder; ${target} is a checkpoint file`,
    );
  }
  if (which === 'last') return file;
  const best = join(target, 'best.ckpt');
  if (!(await stat(best).catch(() => undefined))) {
    throw new RecallkitError(
      'CHECKPOINT_MISSING',
      `${target} has no best.ckpt (a run keeps one only with train.evaluateEvery): export the last one instead`,
    );
  }
  return best;
}

/** Refuses an output path that holds something, unless `force`; a missing or empty folder is fine. */
async function checkOut(out: string, force: boolean): Promise<void> {
  const info = await stat(out).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory()) throw new RecallkitError('EXPORT_EXISTS', `${out} exists and is not a folder`);
  if ((await readdir(out)).length > 0 && !force) {
    throw new RecallkitError(
      'EXPORT_EXISTS',
      `${out} is not empty: choose another --out, or replace it with --force`,
    );
  }
}

/** The network as `train` saved it, with its weights: what `recallkit eval <run>` evaluates. */
async function loadTrainedNetwork(file: string, registry: Registry) {
  const { meta, weights, shapes } = await readTrainedModel(file);
  const experiment = await experimentFromObject(meta.experiment, registry, meta.source, meta.baseDir);
  const c = experiment.components;
  await registry.resolve(c.backend.id, c.backend.options, {});
  // The network's input shape is the dataset's sample shape, as in training.
  const data = (await registry.resolve(c.dataset.id, c.dataset.options, {
    seed: meta.seed,
  })) as DatasetSplits;
  const model = await buildModel(experiment, registry, data.train.sampleShape, meta.seed);
  try {
    assignWeights(model, weights, shapes, file);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const inputShape = [...data.train.sampleShape];
  const preprocessing = preprocessingOf(data, c.dataset.options, inputShape);
  return { meta, experiment, model, inputShape, preprocessing };
}

/** `model` with an L2 normalisation on its output when it does not end in one already. */
function normalised(model: tf.LayersModel): { model: tf.LayersModel; added: boolean } {
  if (model.outputs.length !== 1 || model.outputs[0]!.shape.length !== 2) {
    throw new RecallkitError(
      'EXPORT_NOT_EMBEDDING',
      `the network outputs ${model.outputs.map((o) => `[${o.shape.map((d) => d ?? 'batch').join(', ')}]`).join(', ')}, not one batch x dim embedding: give the experiment a model.head`,
    );
  }
  if (model.layers.at(-1) instanceof L2Normalize) return { model, added: false };
  const output = new L2Normalize({ name: 'export_l2_normalize' }).apply(
    model.outputs[0]!,
  ) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: model.inputs, outputs: output, name: model.name }), added: true };
}

/**
 * Writes `model` to `out` atomically: into a temporary sibling folder first, checked by loading it back
 * and comparing its embeddings of a probe batch, then renamed into place (a forced `out` is moved aside
 * first and removed after). A failure leaves `out` as it was and no temporary folder behind.
 */
export async function writeExport(
  model: tf.LayersModel,
  out: string,
  options: { force?: boolean; metadata?: Record<string, unknown>; probe?: tf.Tensor } = {},
): Promise<void> {
  const target = resolve(out);
  await checkOut(target, options.force ?? false);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temporary = join(dirname(target), `.${basename(target)}.export-${suffix}`);
  const aside = join(dirname(target), `.${basename(target)}.old-${suffix}`);
  try {
    if (options.metadata) model.setUserDefinedMetadata({ recallkit: options.metadata });
    await saveModel(model, temporary, { overwrite: false });
    if (options.probe) {
      const reloaded = await loadModel(temporary);
      try {
        const probe = options.probe;
        const gap = tf.tidy(() => {
          const difference = tf.sub(reloaded.predict(probe) as tf.Tensor, model.predict(probe) as tf.Tensor);
          return tf.max(tf.abs(difference)).dataSync()[0]!;
        });
        if (!(gap <= 1e-5)) {
          throw new RecallkitError(
            'EXPORT_MISMATCH',
            `the exported model, loaded back, gives embeddings up to ${gap} away from the trained network's`,
          );
        }
      } finally {
        reloaded.dispose();
      }
    }
    const existing = await stat(target).catch(() => undefined);
    if (existing) await rename(target, aside);
    try {
      await rename(temporary, target);
    } catch (error) {
      if (existing) await rename(aside, target);
      throw error;
    }
    if (existing) await rm(aside, { recursive: true, force: true });
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/**
 * Turns a model saved by `recallkit train` into a TF.js LayersModel folder (model.json + weights.bin)
 * that `tf.loadLayersModel` (after `registerLayers()`) and `loadModel` from `@recallkit/models` read:
 * the whole network, head and L2 normalisation included, mapping input batches to unit embeddings.
 */
async function exportRun(
  target: string,
  registry: Registry,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const file = await checkpointOf(target, options.checkpoint);
  const out = options.out ?? join(file === target ? dirname(file) : target, 'export');
  // Refused before the (possibly slow) rebuild; checked again just before writing.
  await checkOut(resolve(out), options.force ?? false);
  const {
    meta,
    experiment,
    model: trained,
    inputShape,
    preprocessing,
  } = await loadTrainedNetwork(file, registry);
  const { model, added } = normalised(trained);
  const probe = tf.randomNormal([2, ...inputShape], 0, 1, 'float32', 1);
  try {
    const embeddingDim = model.outputs[0]!.shape[1]!;
    await writeExport(model, out, {
      force: options.force ?? false,
      probe,
      metadata: {
        format: EXPORT_FORMAT,
        experiment: experiment.name,
        seed: meta.seed,
        steps: meta.steps ?? null,
        checkpoint: basename(file),
        inputShape,
        embeddingDim,
        l2Normalized: true,
        // How images are read for this network (recallkit index / query), when its data were images.
        ...(preprocessing ? { preprocessing } : {}),
      },
    });
    return {
      out,
      checkpoint: file,
      experiment: experiment.name,
      seed: meta.seed,
      steps: meta.steps ?? null,
      inputShape,
      embeddingDim,
      addedL2Normalize: added,
    };
  } finally {
    probe.dispose();
    trained.dispose();
  }
}

function checkpointChoice(value: string): 'best' | 'last' {
  if (value !== 'best' && value !== 'last') throw new InvalidArgumentError("expected 'best' or 'last'");
  return value;
}

/** Adds `recallkit export <run>` to the program. */
export function addExportCommand(program: Command, registry: Registry, print: (text: string) => void): void {
  program
    .command('export')
    .description(
      "Write a model saved by 'train' as a TF.js LayersModel folder (model.json + weights.bin), head and L2 norm included.",
    )
    .argument('<run>', "folder or .ckpt written by 'recallkit train'")
    .option('--out <dir>', 'output folder (default: <run>/export)')
    .option('--checkpoint <which>', "'last' (model.ckpt, default) or 'best' (best.ckpt)", checkpointChoice)
    .option('--force', 'replace a non-empty output folder')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        run: string,
        o: { out?: string; checkpoint?: 'best' | 'last'; force?: boolean; json?: boolean },
      ) => {
        const result = await exportRun(run, registry, {
          ...(o.out ? { out: o.out } : {}),
          ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
          force: o.force ?? false,
        });
        if (o.json) print(JSON.stringify(result));
        else
          print(
            `exported ${result.checkpoint} (${result.experiment} seed ${result.seed}, ${result.steps ?? '?'} steps) to ${result.out}: ` +
              `input [${result.inputShape.join(', ')}] -> ${result.embeddingDim}-d unit embeddings`,
          );
      },
    );
}
