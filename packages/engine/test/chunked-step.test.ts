import { type BackendName, RecallkitError, tf, useBackend } from '@recallkit/core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { adam, chunkedGradients, chunkedStep, fullBatchGradients } from '../src/index';
import { cnn, mlp, pairLoss, randomData, relativeError } from './helpers';

const labels = Int32Array.from({ length: 24 }, (_, i) => i % 6);
const wasmHasConvGradients = () => tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined;

async function compare(backend: BackendName, makeModel: () => tf.LayersModel, shape: number[]) {
  await useBackend(backend);
  const model = makeModel();
  const inputs = tf.tensor(randomData(24 * shape.reduce((a, b) => a * b, 1), 3), [24, ...shape]);
  const full = fullBatchGradients({ model, loss: pairLoss, inputs, labels });
  // 24 rows in chunks of 5: the last chunk is short, which the slicing must handle.
  const chunked = await chunkedGradients({
    model,
    loss: pairLoss,
    inputs,
    labels,
    chunkSize: 5,
    debug: true,
  });
  expect(chunked.loss).toBeCloseTo(full.loss, 6);
  expect(chunked.gradients).toHaveLength(model.trainableWeights.length);
  chunked.gradients.forEach((g, i) => {
    const reference = (full.gradients[i] as tf.Tensor).dataSync();
    expect(Math.max(...Array.from(reference, Math.abs))).toBeGreaterThan(1e-4); // a gradient worth comparing
    expect(relativeError(g.dataSync(), reference)).toBeLessThan(1e-5);
  });
  tf.dispose([inputs, ...full.gradients, ...chunked.gradients]);
  model.dispose();
}

describe('chunkedGradients equals the full-batch gradient', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`MLP on ${backend}`, () => compare(backend, () => mlp(), [8]));
    it(`small CNN on ${backend}`, async () => {
      await useBackend(backend);
      // tfjs's wasm backend lacks Conv2DBackpropFilter; @recallkit/core registers it, and a CNN
      // that cannot train on the default backend is a failure, not a reason to skip.
      if (backend === 'wasm') {
        expect(
          wasmHasConvGradients(),
          'wasm has no Conv2DBackpropFilter kernel: @recallkit/core did not register it',
        ).toBe(true);
      }
      await compare(backend, () => cnn(), [8, 8, 1]);
    });
  }

  it('matches a finite-difference directional derivative of the loss (cpu)', async () => {
    await useBackend('cpu');
    const model = mlp(8, 6, 5);
    const inputs = tf.tensor2d(randomData(24 * 8, 11), [24, 8]);
    const { gradients } = await chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 7 });
    const originals = model.getWeights().map((w) => w.clone());
    const directions = originals.map((w, i) => tf.tensor(randomData(w.size, 100 + i), w.shape));
    const lossAt = (t: number) => {
      model.setWeights(originals.map((w, i) => tf.add(w, tf.mul(directions[i] as tf.Tensor, t))));
      return tf.tidy(() => pairLoss(model.predict(inputs) as tf.Tensor2D, labels).dataSync()[0] as number);
    };
    // Fourth-order central difference: float32 losses allow no smaller step.
    const h = 1e-2;
    const numeric = (8 * (lossAt(h) - lossAt(-h)) - (lossAt(2 * h) - lossAt(-2 * h))) / (12 * h);
    const analytic = gradients.reduce(
      (s, g, i) => s + (tf.sum(tf.mul(g, directions[i] as tf.Tensor)).dataSync()[0] as number),
      0,
    );
    expect(Math.abs(numeric - analytic)).toBeLessThan(1e-3 * Math.max(1, Math.abs(analytic)));
    tf.dispose([inputs, ...gradients, ...originals, ...directions]);
  });
});

describe('chunkedGradients with the batch in one chunk', () => {
  it('runs the network once and gives the gradient of the three stages', async () => {
    await useBackend('cpu');
    const model = mlp();
    const inputs = tf.tensor2d(randomData(24 * 8, 5), [24, 8]);
    const staged = await chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 5 });
    const apply = vi.spyOn(model, 'apply');
    const whole = await chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 24 });
    expect(apply).toHaveBeenCalledTimes(1);
    expect(whole.loss).toBeCloseTo(staged.loss, 6);
    whole.gradients.forEach((g, i) => {
      const reference = (staged.gradients[i] as tf.Tensor).dataSync();
      expect(Math.max(...Array.from(reference, Math.abs))).toBeGreaterThan(1e-4);
      expect(relativeError(g.dataSync(), reference)).toBeLessThan(1e-5);
    });
    tf.dispose([inputs, ...staged.gradients, ...whole.gradients]);
    apply.mockRestore();
    model.dispose();
  });

  it('a non-finite or throwing loss leaves no tensor behind', async () => {
    await useBackend('cpu');
    const model = mlp();
    const inputs = tf.tensor2d(randomData(24 * 8, 6), [24, 8]);
    const before = tf.memory().numTensors;
    const nanLoss = (e: tf.Tensor2D) => tf.mul(tf.sum(e), Number.NaN) as tf.Scalar;
    await expect(
      chunkedGradients({ model, loss: nanLoss, inputs, labels, chunkSize: 24 }),
    ).rejects.toMatchObject({ code: 'NON_FINITE_LOSS' });
    const failing = (e: tf.Tensor2D) => {
      tf.exp(tf.matMul(e, e, false, true));
      throw new Error('loss gave up');
    };
    await expect(chunkedGradients({ model, loss: failing, inputs, labels, chunkSize: 24 })).rejects.toThrow(
      'loss gave up',
    );
    expect(tf.memory().numTensors).toBe(before);
    inputs.dispose();
    model.dispose();
  });
});

describe('chunkedStep', () => {
  it('takes one optimiser step per batch and equals a plain step with the same optimiser', async () => {
    await useBackend('wasm');
    const a = mlp(8, 6, 9);
    const b = mlp(8, 6, 9);
    const inputs = tf.tensor2d(randomData(24 * 8, 4), [24, 8]);
    const optA = adam({ learningRate: 0.01 });
    const optB = adam({ learningRate: 0.01 });
    await chunkedStep({ model: a, loss: pairLoss, inputs, labels, chunkSize: 6, optimizer: optA });
    const full = fullBatchGradients({ model: b, loss: pairLoss, inputs, labels });
    optB.step(full.variables, full.gradients);
    expect(optA.iterations).toBe(1);
    a.getWeights().forEach((w, i) => {
      expect(relativeError(w.dataSync(), (b.getWeights()[i] as tf.Tensor).dataSync())).toBeLessThan(1e-5);
    });
    tf.dispose([inputs, ...full.gradients]);
    optA.dispose();
    optB.dispose();
  });

  it('reads chunks from a loader', async () => {
    await useBackend('wasm');
    const model = mlp();
    const data = randomData(24 * 8, 2);
    const inputs = tf.tensor2d(data, [24, 8]);
    const calls: string[] = [];
    const loader = (start: number, end: number) => {
      calls.push(`${start}-${end}`);
      return tf.tensor2d(data.subarray(start * 8, end * 8), [end - start, 8]);
    };
    const fromLoader = await chunkedGradients({
      model,
      loss: pairLoss,
      inputs: loader,
      batchSize: 24,
      labels,
      chunkSize: 10,
    });
    const fromTensor = await chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 10 });
    // Each chunk is loaded once in stage 1 and once in stage 3.
    expect(calls).toEqual(['0-10', '10-20', '20-24', '0-10', '10-20', '20-24']);
    fromLoader.gradients.forEach((g, i) => {
      expect(Array.from(g.dataSync())).toEqual(Array.from((fromTensor.gradients[i] as tf.Tensor).dataSync()));
    });
    tf.dispose([inputs, ...fromLoader.gradients, ...fromTensor.gradients]);
  });

  it('debug mode catches a loader whose two passes differ', async () => {
    await useBackend('wasm');
    const model = mlp();
    let call = 0;
    const loader = (start: number, end: number) => tf.fill([end - start, 8], call++ < 3 ? 0.5 : 0.25);
    const before = tf.memory().numTensors;
    await expect(
      chunkedGradients({
        model,
        loss: pairLoss,
        inputs: loader,
        batchSize: 24,
        labels,
        chunkSize: 10,
        debug: true,
      }),
    ).rejects.toMatchObject({ code: 'CHUNK_RECOMPUTE_MISMATCH' });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses batch norm and dropout in training mode, and accepts them frozen', async () => {
    await useBackend('wasm');
    const inputs = tf.tensor2d(randomData(24 * 8, 2), [24, 8]);
    const withBn = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [8], units: 6 }), tf.layers.batchNormalization()],
    });
    const withDropout = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [8], units: 6 }), tf.layers.dropout({ rate: 0.3 })],
    });
    for (const model of [withBn, withDropout]) {
      const attempt = chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 8 });
      await expect(attempt).rejects.toThrow(RecallkitError);
      await expect(attempt).rejects.toMatchObject({ code: 'CHUNK_UNSAFE_LAYER' });
      const frozen = await chunkedGradients({
        model,
        loss: pairLoss,
        inputs,
        labels,
        chunkSize: 8,
        training: false,
        debug: true,
      });
      const full = fullBatchGradients({ model, loss: pairLoss, inputs, labels, training: false });
      frozen.gradients.forEach((g, i) => {
        expect(relativeError(g.dataSync(), (full.gradients[i] as tf.Tensor).dataSync())).toBeLessThan(1e-5);
      });
      tf.dispose([...frozen.gradients, ...full.gradients]);
    }
    inputs.dispose();
  });

  it('rejects bad options with named errors and leaks nothing', async () => {
    await useBackend('wasm');
    const model = mlp();
    const inputs = tf.tensor2d(randomData(24 * 8, 2), [24, 8]);
    await expect(
      chunkedGradients({ model, loss: pairLoss, inputs, labels, chunkSize: 0 }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(
      chunkedGradients({ model, loss: pairLoss, inputs, labels: [1, 2], chunkSize: 4 }),
    ).rejects.toMatchObject({ code: 'INVALID_LABELS' });
    const before = tf.memory().numTensors;
    const nanLoss = (e: tf.Tensor2D) => tf.mul(tf.sum(e), Number.NaN) as tf.Scalar;
    await expect(
      chunkedGradients({ model, loss: nanLoss, inputs, labels, chunkSize: 4 }),
    ).rejects.toMatchObject({ code: 'NON_FINITE_LOSS' });
    expect(tf.memory().numTensors).toBe(before);
    // A loss that throws after some ops (whose inputs the gradient tape keeps) leaves nothing either.
    const failing = (e: tf.Tensor2D) => {
      tf.exp(tf.matMul(e, e, false, true));
      throw new Error('loss gave up');
    };
    await expect(chunkedGradients({ model, loss: failing, inputs, labels, chunkSize: 4 })).rejects.toThrow(
      'loss gave up',
    );
    expect(tf.memory().numTensors).toBe(before);
    // A loader failing on its second chunk (stage 1) or fifth (stage 3) leaves nothing behind.
    for (const failAt of [2, 5]) {
      let calls = 0;
      const loader = (start: number, end: number) => {
        if (++calls === failAt) throw new Error('disk gone');
        return tf.slice(inputs, start, end - start);
      };
      await expect(
        chunkedGradients({ model, loss: pairLoss, inputs: loader, batchSize: 24, labels, chunkSize: 10 }),
      ).rejects.toThrow('disk gone');
      expect(tf.memory().numTensors).toBe(before);
    }
    inputs.dispose();
  });
});

afterAll(() => tf.disposeVariables());
