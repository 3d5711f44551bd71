import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@recallkit/core';
import { afterAll } from 'vitest';

/** A small differentiable metric-learning loss: mean squared gap between cosine similarity and same-label (1/0). */
export function pairLoss(embeddings: tf.Tensor, labels: number[]): tf.Scalar {
  return tf.tidy(() => {
    const e = embeddings as tf.Tensor2D;
    const s = tf.matMul(e, e, false, true);
    const l = tf.tensor1d(labels, 'int32');
    const target = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32');
    return tf.mean(tf.square(tf.sub(s, target)));
  });
}

export function lossOf(model: tf.LayersModel, x: tf.Tensor, labels: number[]): number {
  return tf.tidy(() => pairLoss(model.apply(x, { training: true }) as tf.Tensor, labels).dataSync()[0]!);
}

/** Runs `steps` optimiser steps on one batch in training mode; returns the losses before each step. */
export function train(
  model: tf.LayersModel,
  x: tf.Tensor,
  labels: number[],
  { steps = 1, optimizer = tf.train.sgd(0.05) }: { steps?: number; optimizer?: tf.Optimizer } = {},
): number[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = optimizer.minimize(
      () => pairLoss(model.apply(x, { training: true }) as tf.Tensor, labels),
      true,
      vars,
    )!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
  }
  return losses;
}

/** Gradients of the loss with respect to every trainable weight, by name. */
export function gradients(model: tf.LayersModel, x: tf.Tensor, labels: number[]): Map<string, Float32Array> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads, value } = tf.variableGrads(
    () => pairLoss(model.apply(x, { training: true }) as tf.Tensor, labels),
    vars,
  );
  value.dispose();
  const out = new Map<string, Float32Array>();
  model.trainableWeights.forEach((w, i) => {
    out.set(w.originalName, grads[vars[i]!.name]!.dataSync() as Float32Array);
  });
  tf.dispose(grads);
  return out;
}

export function snapshot(weights: tf.LayerVariable[]): Map<string, number[]> {
  return new Map(weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
}

/** A fresh temporary directory, removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'recallkit-models-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random input (no dependence on tf's global RNG). */
export function input(shape: number[], seed = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}
