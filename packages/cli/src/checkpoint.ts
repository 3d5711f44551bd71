import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import { readCheckpoint, writeCheckpoint } from '@recallkit/engine';

const FORMAT = 'recallkit-model/1';

/** What `train` stores beside the weights, enough to rebuild the network and its data. */
export interface ModelMeta {
  readonly format: typeof FORMAT;
  /** The experiment as written in its file (validated again on load). */
  readonly experiment: unknown;
  /** Folder that relative plugin paths of the experiment are resolved against. */
  readonly baseDir: string;
  readonly source: string;
  readonly seed: number;
  /** Optimiser steps that trained these weights. */
  readonly steps?: number;
}

/** Saves the model's weights (in `model.weights` order) with the experiment that built it. */
export async function saveTrainedModel(
  file: string,
  model: tf.LayersModel,
  meta: Omit<ModelMeta, 'format'>,
): Promise<void> {
  const tensors = model.weights.map((w, i) => {
    const value = w.read();
    return { name: `${i}:${w.name}`, shape: value.shape, data: value.dataSync() as Float32Array };
  });
  await writeCheckpoint(file, { meta: { format: FORMAT, ...meta }, tensors });
}

/** `dir/model.ckpt` for a folder written by `train`, the path itself for a file. */
export async function modelFile(target: string): Promise<string> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new RecallkitError('CHECKPOINT_MISSING', `${target}: no such checkpoint or folder`);
  return info.isDirectory() ? join(target, 'model.ckpt') : target;
}

export async function readTrainedModel(
  file: string,
): Promise<{ meta: ModelMeta; weights: Float32Array[]; shapes: number[][] }> {
  const { meta, tensors } = await readCheckpoint(file);
  if (meta['format'] !== FORMAT) {
    throw new RecallkitError(
      'CHECKPOINT_FORMAT',
      `${file}: not a model saved by 'recallkit train' (format ${String(meta['format'])})`,
    );
  }
  return {
    meta: meta as unknown as ModelMeta,
    weights: tensors.map((t) => t.data),
    shapes: tensors.map((t) => t.shape),
  };
}

/** Copies stored weights into a freshly built model of the same architecture. */
export function assignWeights(
  model: tf.LayersModel,
  weights: Float32Array[],
  shapes: number[][],
  source: string,
): void {
  if (weights.length !== model.weights.length) {
    throw new RecallkitError(
      'CHECKPOINT_MISMATCH',
      `${source}: ${weights.length} stored tensors for a model with ${model.weights.length} weights`,
    );
  }
  model.weights.forEach((w, i) => {
    const shape = shapes[i]!;
    if (shape.join(',') !== w.shape.join(',')) {
      throw new RecallkitError(
        'CHECKPOINT_MISMATCH',
        `${source}: weight ${w.name} has shape [${w.shape}] but the file holds [${shape}]`,
      );
    }
    const value = tf.tensor(weights[i]!, shape);
    w.write(value);
    value.dispose();
  });
}
