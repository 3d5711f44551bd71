import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import { directoryHandler, modelFormat } from './io';
import { registerLayers } from './layers';

export interface SaveModelOptions {
  /** Replace an existing model directory (default true); otherwise an existing `dir` is an error. */
  overwrite?: boolean;
}

/**
 * Saves a LayersModel in the TF.js format (model.json + weights.bin) atomically: it is written to a
 * temporary sibling directory, which is then renamed to `dir`, so readers see the old model or the new
 * one, never a half-written one. (Replacing an existing directory takes two renames; a crash between them
 * leaves the old model at `dir.old-*`.)
 */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  options: SaveModelOptions = {},
): Promise<void> {
  const target = resolve(dir);
  const exists = await stat(target).then(
    (s) => s,
    () => null,
  );
  if (exists != null && !exists.isDirectory()) {
    throw new RecallkitError('MODEL_SAVE', `saveModel: ${target} exists and is not a directory`);
  }
  if (exists != null && options.overwrite === false) {
    throw new RecallkitError('MODEL_EXISTS', `saveModel: ${target} already exists (overwrite: false)`);
  }
  await mkdir(dirname(target), { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temporary = join(dirname(target), `.${basename(target)}.tmp-${suffix}`);
  try {
    await model.save(directoryHandler(temporary));
    if (exists == null) {
      await rename(temporary, target);
    } else {
      const old = join(dirname(target), `.${basename(target)}.old-${suffix}`);
      await rename(target, old);
      await rename(temporary, target);
      await rm(old, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

/** Loads a LayersModel saved by `saveModel` (or any TF.js layers-model directory), custom layers included. */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  registerLayers();
  const format = await modelFormat(dir);
  if (format === 'graph-model') {
    throw new RecallkitError(
      'MODEL_FORMAT',
      `${dir} holds a graph model, which is not trainable as a whole: load it with loadTrunk(dir) instead`,
    );
  }
  return tf.loadLayersModel(directoryHandler(dir));
}
