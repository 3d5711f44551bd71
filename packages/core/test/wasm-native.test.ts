import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createRng, describeBackend, tf, useBackend } from '../src/index';
import { nativeKernelsPackage, setNativeKernels, setNativeKernelThreads } from '../src/wasm/native';
import { relativeError } from './relative-error';

// Where the addon is built (Linux x64 with OpenBLAS: tools/setup builds it), it must load and run;
// elsewhere these tests are skipped and the wasm kernels run (wasm-kernels.test.ts tests both).
const addonPath = new URL('../../kernels-linux-x64/dist/kernels.node', import.meta.url);
const built = existsSync(addonPath);
const addon = built
  ? (createRequire(import.meta.url)(nativeKernelsPackage) as Record<string, (...args: unknown[]) => unknown>)
  : undefined;

const rng = createRng('wasm-native');
const random = (shape: number[]) =>
  Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => rng.normal());

/** The values of what `f` computes on `backend`. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(list);
  return values;
}

interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: [number, number];
  pad: 'same' | 'valid' | number;
  dilations?: [number, number];
}

const cases: Case[] = [
  { x: [2, 9, 8, 3], f: [3, 3, 3, 5], strides: [1, 1], pad: 'valid' },
  { x: [3, 9, 8, 4], f: [3, 3, 4, 5], strides: [2, 2], pad: 'same' },
  { x: [2, 10, 9, 3], f: [3, 2, 3, 2], strides: [2, 1], pad: 2 },
  { x: [2, 11, 10, 3], f: [3, 3, 3, 2], strides: [1, 1], pad: 'valid', dilations: [2, 2] },
  { x: [1, 12, 9, 4], f: [3, 2, 4, 3], strides: [1, 1], pad: 'same', dilations: [2, 3] },
  // 1 x 1, stride 1, no padding: the input is its own im2col matrix.
  { x: [3, 5, 6, 8], f: [1, 1, 8, 7], strides: [1, 1], pad: 'valid' },
  // 1 x 1 with stride 2: im2col again.
  { x: [2, 6, 6, 4], f: [1, 1, 4, 3], strides: [2, 2], pad: 'valid' },
  // 64 x 64 x 16 images under a 3 x 3 filter fill 2.4 MB of im2col each: 7 to a 16 MB block, so
  // nine images take two blocks, the last partial.
  { x: [9, 64, 64, 16], f: [3, 3, 16, 4], strides: [1, 1], pad: 'same' },
];

const label = (k: Case) => `x${k.x} f${k.f} s${k.strides} ${k.pad} d${k.dilations ?? [1, 1]}`;

describe.skipIf(!built)('@recallkit/kernels-linux-x64 on wasm', () => {
  afterEach(() => {
    setNativeKernels(true);
    vi.restoreAllMocks();
  });
  afterAll(() => setNativeKernels(true));

  it('loads, and describeBackend says which kernels run natively on which BLAS', async () => {
    await useBackend('wasm');
    const state = describeBackend().nativeKernels;
    expect(state?.kernels).toEqual([
      'Conv2D',
      'FusedConv2D',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'MaxPoolGrad',
      'BatchMatMul',
    ]);
    expect(state?.blas).toMatch(/^OpenBLAS \d/);
    expect(state?.threads).toBeGreaterThanOrEqual(1);
    setNativeKernels(false);
    expect(describeBackend().nativeKernels).toEqual({
      kernels: [],
      note: expect.stringMatching(/turned off/),
    });
  });

  it.each(cases)('conv2d and both its gradients match cpu: $x $f $strides $pad $dilations', async (k) => {
    const x = random(k.x);
    const w = random(k.f);
    const info = tf.backend_util.computeConv2DInfo(k.x, k.f, k.strides, k.dilations ?? 1, k.pad);
    const dy = random(info.outShape);
    const conv = (xt: tf.Tensor4D, wt: tf.Tensor4D) =>
      tf.conv2d(xt, wt, k.strides, k.pad, 'NHWC', k.dilations);
    const run = () => {
      const xt = tf.tensor4d(x, k.x);
      const wt = tf.tensor4d(w, k.f);
      const y = conv(xt, wt);
      if (k.dilations !== undefined) return [y]; // tfjs has no gradient of a dilated conv2d
      const dyt = tf.tensor4d(dy, info.outShape);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dyt)),
      )([xt, wt]);
      return [y, dx as tf.Tensor, dw as tf.Tensor];
    };
    const spies = ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'].map((name) =>
      vi.spyOn(addon as Record<string, () => unknown>, name),
    );
    const expected = await on('cpu', run);
    const got = await on('wasm', run);
    for (const [i, name] of ['conv2d', 'input gradient', 'filter gradient']
      .slice(0, expected.length)
      .entries()) {
      expect(
        relativeError(got[i] as Float32Array, expected[i] as Float32Array),
        `${name} ${label(k)}`,
      ).toBeLessThan(1e-5);
      // tf.grads runs the forward convolution again.
      expect(spies[i], `${name} ran natively`).toHaveBeenCalledTimes(i === 0 && expected.length > 1 ? 2 : 1);
    }
  });

  it.each([
    { x: [7, 9, 8, 4], f: [3, 3, 4, 5], strides: [2, 2], pad: 'same' },
    // Two 16 MB im2col blocks per range at 2 threads, the last partial.
    { x: [15, 64, 64, 16], f: [3, 3, 16, 4], strides: [1, 1], pad: 'same' },
  ] as Case[])(
    'the convolutions and the max-pool gradient split the batch over threads: 1, 2, 3 and 5 agree with cpu, each the same every time ($x)',
    async (k) => {
      const x = random(k.x);
      const w = random(k.f);
      const info = tf.backend_util.computeConv2DInfo(k.x, k.f, k.strides, 1, k.pad);
      const dy = random(info.outShape);
      const run = () => {
        const xt = tf.tensor4d(x, k.x);
        const wt = tf.tensor4d(w, k.f);
        const dyt = tf.tensor4d(dy, info.outShape);
        const conv = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, k.strides, k.pad);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), dyt)))([xt, wt]);
        const pool = (a: tf.Tensor) => tf.sum(tf.square(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')));
        return [conv(xt, wt), dx as tf.Tensor, dw as tf.Tensor, tf.grad(pool)(xt)];
      };
      const expected = await on('cpu', run);
      await useBackend('wasm');
      const threads = describeBackend().nativeKernels?.threads ?? 1;
      try {
        for (const t of [1, 2, 3, 5]) {
          setNativeKernelThreads(t);
          const got = await on('wasm', run);
          const again = await on('wasm', run);
          for (const [i, name] of [
            'conv2d',
            'input gradient',
            'filter gradient',
            'max-pool gradient',
          ].entries()) {
            expect(relativeError(got[i]!, expected[i]!), `${name}, ${t} threads`).toBeLessThan(1e-5);
            expect(Array.from(again[i]!), `${name}, ${t} threads, again`).toEqual(Array.from(got[i]!));
          }
        }
      } finally {
        setNativeKernelThreads(threads);
      }
    },
  );

  it.each([
    { activation: 'relu', bias: true, native: true },
    { activation: 'linear', bias: true, native: true },
    { activation: 'relu', bias: false, native: true },
    { activation: 'elu', bias: true, native: false }, // not one the addon does: wasm's kernel runs
  ] as const)('fused conv2d, $activation, bias $bias, matches cpu (native: $native)', async (k) => {
    const [xShape, fShape] = [
      [3, 9, 8, 4],
      [3, 3, 4, 5],
    ] as [[number, number, number, number], [number, number, number, number]];
    const values = { x: random(xShape), w: random(fShape), b: random([5]) };
    const run = () =>
      tf.fused.conv2d({
        x: tf.tensor4d(values.x, xShape),
        filter: tf.tensor4d(values.w, fShape),
        strides: [2, 1],
        pad: 'same',
        activation: k.activation,
        ...(k.bias ? { bias: tf.tensor1d(values.b) } : {}),
      });
    const spy = vi.spyOn(addon as Record<string, () => unknown>, 'conv2d');
    const [expected] = await on('cpu', run);
    const [got] = await on('wasm', run);
    expect(relativeError(got as Float32Array, expected as Float32Array)).toBeLessThan(1e-5);
    if (k.activation === 'relu') expect((got as Float32Array).some((v) => v === 0)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(k.native ? 1 : 0);
  });

  it.each([
    { a: [7, 5], b: [5, 6], ta: false, tb: false },
    { a: [5, 7], b: [5, 6], ta: true, tb: false },
    { a: [7, 5], b: [6, 5], ta: false, tb: true },
    { a: [3, 5, 7], b: [3, 6, 5], ta: true, tb: true },
    { a: [2, 3, 4, 5], b: [1, 5, 6], ta: false, tb: false }, // b broadcast over a's batch
    { a: [1, 4, 5], b: [3, 5, 2], ta: false, tb: false }, // a broadcast over b's batch
  ])('matMul $a x $b (transposes $ta $tb) and its gradients match cpu', async (k) => {
    const values = { a: random(k.a), b: random(k.b) };
    const run = () => {
      const a = tf.tensor(values.a, k.a);
      const b = tf.tensor(values.b, k.b);
      const y = tf.matMul(a, b, k.ta, k.tb);
      // tfjs has no gradient of a broadcast matMul
      if (k.a.slice(0, -2).join() !== k.b.slice(0, -2).join()) return [y];
      const [da, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.square(tf.matMul(x, z, k.ta, k.tb))),
      )([a, b]);
      return [y, da as tf.Tensor, db as tf.Tensor];
    };
    const spy = vi.spyOn(addon as Record<string, () => unknown>, 'batchMatMul');
    const expected = await on('cpu', run);
    const got = await on('wasm', run);
    for (const [i, name] of ['product', 'gradient of a', 'gradient of b']
      .slice(0, expected.length)
      .entries()) {
      expect(relativeError(got[i] as Float32Array, expected[i] as Float32Array), name).toBeLessThan(1e-5);
    }
    expect(spy).toHaveBeenCalled();
  });

  it('a conv net step (conv, ReLU, max pool twice, dense) gives the gradients of the wasm kernels', async () => {
    const shapes = { x: [16, 14, 14, 3], w1: [3, 3, 3, 8], w2: [3, 3, 8, 16], w3: [64, 10] } as const;
    const values = Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, random([...shape])]),
    );
    const step = () => {
      const [x, w1, w2, w3] = (['x', 'w1', 'w2', 'w3'] as const).map((n) =>
        tf.tensor(values[n] as Float32Array, [...shapes[n]]),
      ) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D];
      const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        let h = tf.maxPool(tf.relu(tf.conv2d(x, a as tf.Tensor4D, 1, 'valid')), 2, 2, 'valid');
        h = tf.maxPool(tf.relu(tf.conv2d(h, b as tf.Tensor4D, 1, 'same')), 3, 2, 'valid');
        return tf.sum(tf.square(tf.matMul(tf.reshape(h, [16, 64]), c as tf.Tensor2D)));
      };
      return tf.grads(loss)([w1, w2, w3]);
    };
    const maxPoolGrad = vi.spyOn(addon as Record<string, () => unknown>, 'maxPoolGrad');
    const native = await on('wasm', step);
    expect(maxPoolGrad).toHaveBeenCalledTimes(2);
    setNativeKernels(false);
    const composed = await on('wasm', step);
    expect(maxPoolGrad).toHaveBeenCalledTimes(2);
    const reference = await on('cpu', step);
    for (const [i, name] of ['w1', 'w2', 'w3'].entries()) {
      expect(relativeError(native[i] as Float32Array, composed[i] as Float32Array), name).toBeLessThan(1e-5);
      expect(relativeError(native[i] as Float32Array, reference[i] as Float32Array), name).toBeLessThan(1e-5);
    }
  });

  it('turned off, no kernel calls the addon', async () => {
    setNativeKernels(false);
    const spy = vi.spyOn(addon as Record<string, () => unknown>, 'conv2d');
    await on('wasm', () =>
      tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'valid'),
    );
    expect(spy).not.toHaveBeenCalled();
  });

  it('an empty batch falls back to the wasm kernel', async () => {
    const spy = vi.spyOn(addon as Record<string, () => unknown>, 'conv2d');
    const [y] = await on('wasm', () =>
      tf.conv2d(tf.zeros([0, 4, 4, 1]) as tf.Tensor4D, tf.ones([2, 2, 1, 3]) as tf.Tensor4D, 1, 'valid'),
    );
    expect(y?.length).toBe(0);
    expect(spy).not.toHaveBeenCalled();
  });

  it('the addon refuses arrays that do not match the geometry, naming the kernel', () => {
    const dims = Int32Array.of(1, 4, 4, 1, 3, 3, 1, 2, 2, 1, 1, 1, 1, 0, 0);
    const conv = addon?.['conv2d'] as (...a: unknown[]) => void;
    expect(() => conv(new Float32Array(16), new Float32Array(4), new Float32Array(8), dims)).toThrow(
      /conv2d: array lengths do not match the geometry/,
    );
    expect(() => conv(new Float64Array(16), new Float32Array(4), new Float32Array(9), dims)).toThrow(
      /expected a Float32Array/,
    );
    expect(() =>
      conv(new Float32Array(16), new Float32Array(4), new Float32Array(9), new Int32Array(3)),
    ).toThrow(/geometry as an Int32Array of 15/);
    expect(() =>
      conv(new Float32Array(16), new Float32Array(4), new Float32Array(9), dims, new Float32Array(2), true),
    ).toThrow(/the bias must be a Float32Array of one value per output channel/);
    const dx = new Float32Array(16);
    conv(
      Float32Array.from({ length: 16 }, (_, i) => i),
      Float32Array.of(1, 0, 0, 1),
      dx.subarray(0, 9),
      dims,
    );
    // y[i][j] = x[i][j] + x[i+1][j+1] on the 4 x 4 ramp: 5, 7, 9, 13, 15, 17, 21, 23, 25.
    expect(Array.from(dx.subarray(0, 9))).toEqual([5, 7, 9, 13, 15, 17, 21, 23, 25]);
  });
});
