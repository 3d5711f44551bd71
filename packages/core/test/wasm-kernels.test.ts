import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertNoTensorLeaks,
  createRng,
  registerWasmKernels,
  tf,
  useBackend,
  wasmKernels,
} from '../src/index';
import { setNativeKernels } from '../src/wasm/native';
import { relativeError } from './relative-error';

type Attrs = Record<string, unknown>;
type Inputs = Record<string, { shape: number[]; dtype?: 'float32' | 'int32'; values: ArrayLike<number> }>;

const rng = createRng('wasm-gradients');

function randomValues(shape: number[]): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/** Runs one kernel on `backend` from plain arrays and returns its output values and shape. */
async function runOn(backend: 'cpu' | 'wasm', kernel: string, inputs: Inputs, attrs: Attrs) {
  await useBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(inputs)) {
    tensors[name] = tf.tensor(Array.from(v.values), v.shape, v.dtype ?? 'float32');
  }
  const out = tf.engine().runKernel(kernel, tensors, attrs as never) as tf.Tensor;
  const result = { shape: out.shape, values: await out.data() };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

/** max |wasm - cpu| / max |cpu|: the error relative to the result's scale. */
async function compare(kernel: string, inputs: Inputs, attrs: Attrs) {
  const ref = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(got.shape).toEqual(ref.shape);
  return relativeError(got.values, ref.values);
}

interface ConvCase {
  n: number;
  h: number;
  w: number;
  c: number;
  out: number; // output channels (conv) or channel multiplier (depthwise)
  f: [number, number];
  strides: [number, number];
  pad: 'same' | 'valid' | number;
  dilations?: [number, number];
}

const convCases: ConvCase[] = [
  { n: 1, h: 7, w: 7, c: 1, out: 1, f: [3, 3], strides: [1, 1], pad: 'valid' },
  { n: 3, h: 9, w: 8, c: 4, out: 5, f: [3, 3], strides: [2, 2], pad: 'same' },
  { n: 2, h: 10, w: 9, c: 3, out: 2, f: [3, 2], strides: [2, 1], pad: 'valid' },
  { n: 2, h: 8, w: 11, c: 2, out: 3, f: [2, 3], strides: [1, 3], pad: 'same' },
  { n: 1, h: 12, w: 12, c: 6, out: 4, f: [5, 5], strides: [3, 2], pad: 'valid' },
  { n: 4, h: 6, w: 6, c: 5, out: 6, f: [3, 3], strides: [1, 1], pad: 1 },
  { n: 2, h: 13, w: 13, c: 32, out: 16, f: [3, 3], strides: [2, 2], pad: 'valid' },
];

const dilatedCases: ConvCase[] = [
  { n: 2, h: 11, w: 10, c: 3, out: 2, f: [3, 3], strides: [1, 1], pad: 'valid', dilations: [2, 2] },
  { n: 1, h: 12, w: 9, c: 4, out: 1, f: [3, 2], strides: [1, 1], pad: 'same', dilations: [2, 3] },
];

function depthwiseShapes(k: ConvCase) {
  const filterShape = [k.f[0], k.f[1], k.c, k.out] as [number, number, number, number];
  const xShape = [k.n, k.h, k.w, k.c] as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    k.strides,
    k.dilations ?? 1,
    k.pad,
    undefined,
    true,
  );
  return { xShape, filterShape, info };
}

function label(k: ConvCase) {
  return `n${k.n} ${k.h}x${k.w}x${k.c} f${k.f} out${k.out} s${k.strides} ${k.pad} d${k.dilations ?? [1, 1]}`;
}

/**
 * Both implementations of the matMul, convolution and max-pool kernels: @recallkit/kernels-linux-x64's
 * (where it is built; wasm-native.test.ts checks that it is) and the wasm compositions.
 */
const implementations = ['native', 'wasm'] as const;

function useImplementation(implementation: (typeof implementations)[number]): void {
  beforeAll(() => setNativeKernels(implementation === 'native'));
  afterAll(() => setNativeKernels(true));
}

describe.each(implementations)('wasm gradient kernels match cpu (%s kernels)', (implementation) => {
  useImplementation(implementation);
  it.each(convCases)('Conv2DBackpropFilter $n $h $w $c $strides $pad', async (k) => {
    const filterShape = [k.f[0], k.f[1], k.c, k.out] as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo([k.n, k.h, k.w, k.c], filterShape, k.strides, 1, k.pad);
    const err = await compare(
      tf.Conv2DBackpropFilter,
      {
        x: { shape: [k.n, k.h, k.w, k.c], values: randomValues([k.n, k.h, k.w, k.c]) },
        dy: { shape: info.outShape, values: randomValues(info.outShape) },
      },
      { strides: k.strides, pad: k.pad, dataFormat: 'NHWC', filterShape },
    );
    expect(err, label(k)).toBeLessThan(1e-4);
  });

  // Batches whose N * OH * OW exceeds one chunk (6144 rows): partial gradients summed, remainder included.
  it.each([
    { n: 100, h: 10, w: 10, c: 2, out: 3, f: [3, 3], strides: [1, 1], pad: 'valid' },
    { n: 200, h: 12, w: 11, c: 2, out: 2, f: [3, 3], strides: [2, 2], pad: 'same' },
  ] as ConvCase[])('Conv2DBackpropFilter over batch chunks $n $h $w $strides $pad', async (k) => {
    const filterShape = [k.f[0], k.f[1], k.c, k.out] as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo([k.n, k.h, k.w, k.c], filterShape, k.strides, 1, k.pad);
    expect(k.n * info.outHeight * info.outWidth).toBeGreaterThan(6144);
    const err = await compare(
      tf.Conv2DBackpropFilter,
      {
        x: { shape: [k.n, k.h, k.w, k.c], values: randomValues([k.n, k.h, k.w, k.c]) },
        dy: { shape: info.outShape, values: randomValues(info.outShape) },
      },
      { strides: k.strides, pad: k.pad, dataFormat: 'NHWC', filterShape },
    );
    expect(err, label(k)).toBeLessThan(1e-4);
  });

  it.each(convCases)('Conv2DBackpropInput (replaced on wasm) $n $h $w $c $strides $pad', async (k) => {
    const filterShape = [k.f[0], k.f[1], k.c, k.out] as [number, number, number, number];
    const inputShape = [k.n, k.h, k.w, k.c] as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(inputShape, filterShape, k.strides, 1, k.pad);
    const err = await compare(
      tf.Conv2DBackpropInput,
      {
        dy: { shape: info.outShape, values: randomValues(info.outShape) },
        filter: { shape: filterShape, values: randomValues(filterShape) },
      },
      { strides: k.strides, pad: k.pad, dataFormat: 'NHWC', inputShape },
    );
    expect(err, label(k)).toBeLessThan(1e-4);
  });

  it.each(convCases)('DepthwiseConv2dNative gradients $n $h $w $c $strides $pad', async (k) => {
    const { xShape, filterShape, info } = depthwiseShapes(k);
    const dy = { shape: info.outShape, values: randomValues(info.outShape) };
    const attrs = { strides: k.strides, dilations: [1, 1], pad: k.pad };
    const filterErr = await compare(
      tf.DepthwiseConv2dNativeBackpropFilter,
      { x: { shape: xShape, values: randomValues(xShape) }, dy },
      { ...attrs, filterShape },
    );
    expect(filterErr, `filter ${label(k)}`).toBeLessThan(1e-4);
    const inputErr = await compare(
      tf.DepthwiseConv2dNativeBackpropInput,
      { dy, filter: { shape: filterShape, values: randomValues(filterShape) } },
      { ...attrs, inputShape: xShape },
    );
    expect(inputErr, `input ${label(k)}`).toBeLessThan(1e-4);
  });

  // tfjs's cpu kernels ignore dilation in these two gradients, so the reference here is the
  // definition itself, summed term by term.
  it.each(dilatedCases)('dilated DepthwiseConv2dNative gradients $h $w $c $dilations', async (k) => {
    const { xShape, filterShape, info } = depthwiseShapes(k);
    const x = randomValues(xShape);
    const w = randomValues(filterShape);
    const dy = randomValues(info.outShape);
    const expectedDw = new Float32Array(w.length);
    const expectedDx = new Float32Array(x.length);
    const [n, h, wd, c] = xShape;
    const [fh, fw, , m] = filterShape;
    const [, oh, ow] = info.outShape;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let p = 0; p < fh; p++)
            for (let q = 0; q < fw; q++) {
              const r = i * info.strideHeight + p * info.dilationHeight - info.padInfo.top;
              const col = j * info.strideWidth + q * info.dilationWidth - info.padInfo.left;
              if (r < 0 || r >= h || col < 0 || col >= wd) continue;
              for (let ch = 0; ch < c; ch++)
                for (let mm = 0; mm < m; mm++) {
                  const g = dy[((b * oh + i) * ow + j) * c * m + ch * m + mm] as number;
                  const xi = ((b * h + r) * wd + col) * c + ch;
                  const wi = ((p * fw + q) * c + ch) * m + mm;
                  expectedDw[wi] = (expectedDw[wi] as number) + (x[xi] as number) * g;
                  expectedDx[xi] = (expectedDx[xi] as number) + (w[wi] as number) * g;
                }
            }
    const attrs = { strides: k.strides, dilations: k.dilations, pad: k.pad };
    const dyIn = { shape: info.outShape, values: dy };
    const dw = await runOn(
      'wasm',
      tf.DepthwiseConv2dNativeBackpropFilter,
      { x: { shape: xShape, values: x }, dy: dyIn },
      { ...attrs, filterShape },
    );
    expect(relativeError(dw.values, expectedDw), `filter ${label(k)}`).toBeLessThan(1e-4);
    const dx = await runOn(
      'wasm',
      tf.DepthwiseConv2dNativeBackpropInput,
      { dy: dyIn, filter: { shape: filterShape, values: w } },
      { ...attrs, inputShape: xShape },
    );
    expect(relativeError(dx.values, expectedDx), `input ${label(k)}`).toBeLessThan(1e-4);
  });

  it('UnsortedSegmentSum, including repeated and out-of-range ids', async () => {
    for (const [shape, ids, numSegments] of [
      [[6, 3], [2, 0, 2, 1, 0, 2], 4],
      [[5, 2, 2], [1, -1, 1, 7, 0], 3],
      [[8], [0, 0, 0, 0, 1, 1, 1, 1], 2],
    ] as Array<[number[], number[], number]>) {
      const err = await compare(
        tf.UnsortedSegmentSum,
        {
          x: { shape, values: randomValues(shape) },
          segmentIds: { shape: [ids.length], dtype: 'int32', values: ids },
        },
        { numSegments },
      );
      expect(err).toBeLessThan(1e-6);
    }
  });

  it('UnsortedSegmentSum on a hand-worked case', async () => {
    await useBackend('wasm');
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    const sums = tf.unsortedSegmentSum(x, tf.tensor1d([1, 1, 0, 3], 'int32'), 4);
    expect(await sums.array()).toEqual([
      [5, 6],
      [4, 6],
      [0, 0],
      [7, 8],
    ]);
    tf.dispose([x, sums]);
  });
});

interface PoolCase {
  n: number;
  h: number;
  w: number;
  c: number;
  f: [number, number];
  strides: [number, number];
  pad: 'same' | 'valid';
}

const poolCases: PoolCase[] = [
  { n: 1, h: 6, w: 6, c: 1, f: [2, 2], strides: [2, 2], pad: 'valid' },
  { n: 3, h: 9, w: 7, c: 4, f: [2, 2], strides: [2, 2], pad: 'valid' }, // odd sizes: a row and column unused
  { n: 2, h: 9, w: 8, c: 3, f: [3, 3], strides: [2, 2], pad: 'same' }, // overlapping windows
  { n: 2, h: 7, w: 7, c: 5, f: [3, 3], strides: [1, 1], pad: 'same' },
  { n: 1, h: 8, w: 10, c: 2, f: [2, 3], strides: [1, 2], pad: 'valid' },
  { n: 2, h: 5, w: 5, c: 6, f: [2, 2], strides: [2, 2], pad: 'same' }, // windows cut by the border
];

/** The forward max pool, by definition, for the `output` input of MaxPoolGrad. */
function maxPoolReference(x: Float32Array, k: PoolCase) {
  const info = tf.backend_util.computePool2DInfo([k.n, k.h, k.w, k.c], k.f, k.strides, 1, k.pad);
  const out = new Float32Array(tf.util.sizeFromShape(info.outShape)).fill(Number.NEGATIVE_INFINITY);
  for (let b = 0; b < k.n; b++)
    for (let i = 0; i < info.outHeight; i++)
      for (let j = 0; j < info.outWidth; j++)
        for (let p = 0; p < k.f[0]; p++)
          for (let q = 0; q < k.f[1]; q++) {
            const r = i * k.strides[0] + p - info.padInfo.top;
            const col = j * k.strides[1] + q - info.padInfo.left;
            if (r < 0 || r >= k.h || col < 0 || col >= k.w) continue;
            for (let d = 0; d < k.c; d++) {
              const o = ((b * info.outHeight + i) * info.outWidth + j) * k.c + d;
              out[o] = Math.max(out[o] as number, x[((b * k.h + r) * k.w + col) * k.c + d] as number);
            }
          }
  return { info, out };
}

describe.each(implementations)(
  'MaxPoolGrad (replaced on wasm) matches cpu (%s kernels)',
  (implementation) => {
    useImplementation(implementation);
    it.each(poolCases)('$n $h $w $c f$f s$strides $pad, distinct and tied values', async (k) => {
      const xShape = [k.n, k.h, k.w, k.c];
      for (const values of ['distinct', 'ties'] as const) {
        // Values from {0, 1, 2} put several maxima in most windows: the first one gets the gradient.
        const x =
          values === 'distinct'
            ? randomValues(xShape)
            : Float32Array.from({ length: tf.util.sizeFromShape(xShape) }, () => rng.int(3));
        const { info, out } = maxPoolReference(x, k);
        const err = await compare(
          tf.MaxPoolGrad,
          {
            dy: { shape: info.outShape, values: randomValues(info.outShape) },
            input: { shape: xShape, values: x },
            output: { shape: info.outShape, values: out },
          },
          { filterSize: k.f, strides: k.strides, pad: k.pad },
        );
        expect(err, `${values} ${JSON.stringify(k)}`).toBeLessThan(1e-6);
      }
    });

    it('a hand-worked case: ties, -Infinity and NaN', async () => {
      await useBackend('wasm');
      // One 2 x 4 image, two 2 x 2 windows: [[3, 1], [3, 2]] (tie: the first 3 wins) and
      // [[-inf, NaN], [-inf, -inf]] (no maximum: no gradient).
      const x = tf.tensor4d([3, 1, -Infinity, Number.NaN, 3, 2, -Infinity, -Infinity], [1, 2, 4, 1]);
      const dy = tf.tensor4d([10, 20], [1, 1, 2, 1]);
      const dx = tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: x, output: dy }, {
        filterSize: [2, 2],
        strides: [2, 2],
        pad: 'valid',
      } as never) as tf.Tensor;
      expect(Array.from(await dx.data())).toEqual([10, 0, 0, 0, 0, 0, 0, 0]);
      tf.dispose([x, dy, dx]);
    });

    it('tf.grad of maxPool matches cpu (the gradient path calls the kernel)', async () => {
      const x = randomValues([2, 8, 8, 3]);
      const w = randomValues([2, 4, 4, 3]);
      const gradOn = async (backend: 'cpu' | 'wasm') => {
        await useBackend(backend);
        const xt = tf.tensor4d(x, [2, 8, 8, 3]);
        const wt = tf.tensor4d(w, [2, 4, 4, 3]);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), wt)))(
          xt,
        );
        const values = await g.data();
        tf.dispose([xt, wt, g]);
        return values;
      };
      expect(relativeError(await gradOn('wasm'), await gradOn('cpu'))).toBeLessThan(1e-6);
    });
  },
);

describe('Sum over leading axes (pooled on wasm) matches cpu', () => {
  it.each([
    [[6, 5, 4, 3], [0, 1, 2], false],
    [[6, 5, 4, 3], [2, 0, 1], true],
    [[7, 9], [0], false],
    [[1, 4, 2], [0, 1], false],
    [[3, 4, 5, 2], [-4, -3], true],
    [[3, 4, 5], [1, 2], false], // innermost: wasm's own path
    [[3, 4, 5], [0, 2], false], // neither: wasm's own path
  ] as Array<[number[], number[], boolean]>)('%j over %j keepDims %s', async (shape, axis, keepDims) => {
    const err = await compare(tf.Sum, { x: { shape, values: randomValues(shape) } }, { axis, keepDims });
    expect(err).toBeLessThan(1e-5);
  });

  it('int32 sums stay exact', async () => {
    const values = Array.from({ length: 24 }, (_, i) => i * 1000003);
    const ref = await runOn(
      'cpu',
      tf.Sum,
      { x: { shape: [4, 3, 2], dtype: 'int32', values } },
      { axis: [0, 1] },
    );
    const got = await runOn(
      'wasm',
      tf.Sum,
      { x: { shape: [4, 3, 2], dtype: 'int32', values } },
      { axis: [0, 1] },
    );
    expect(Array.from(got.values)).toEqual(Array.from(ref.values));
  });
});

describe('Identity and same-dtype Cast share data on wasm', () => {
  it('Cast to the same dtype keeps the values; to another dtype converts them', async () => {
    await useBackend('wasm');
    await assertNoTensorLeaks(async () => {
      const x = tf.tensor1d([1.5, -2.25, 3]);
      const same = tf.cast(x, 'float32');
      const ints = tf.cast(x, 'int32');
      const bools = tf.cast(ints, 'bool');
      x.dispose();
      expect(Array.from(await same.data())).toEqual([1.5, -2.25, 3]);
      expect(Array.from(await ints.data())).toEqual([1, -2, 3]);
      expect(bools.dtype).toBe('bool');
      expect(Array.from(await bools.data())).toEqual([1, 1, 1]);
      const floats = tf.tensor1d([0, -0.5, 2, Number.NaN]);
      const floatBools = tf.cast(floats, 'bool');
      expect(Array.from(await floatBools.data())).toEqual([0, 1, 1, 1]);
      tf.dispose([same, ints, bools, floats, floatBools]);
    });
  });

  it('a clone outlives its source and leaks nothing', async () => {
    await useBackend('wasm');
    await assertNoTensorLeaks(async () => {
      const x = tf.tensor2d([
        [1, 2],
        [3, 4],
      ]);
      const y = tf.clone(x);
      x.dispose();
      expect(await y.array()).toEqual([
        [1, 2],
        [3, 4],
      ]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clone(a), a)))(y);
      expect(Array.from(await g.data())).toEqual([2, 4, 6, 8]);
      tf.dispose([y, g]);
    });
  });
});

describe('wasm gradient kernels release their intermediates', () => {
  it('leave no tensors or backend buffers behind', async () => {
    await useBackend('wasm');
    const x = tf.tensor4d(randomValues([2, 9, 9, 3]), [2, 9, 9, 3]);
    const w = tf.tensor4d(randomValues([3, 3, 3, 2]), [3, 3, 3, 2]);
    await assertNoTensorLeaks(() => {
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')),
      )([x, w]);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
      )([x, w]);
      const ids = tf.tensor1d([1, 0], 'int32');
      const s = tf.unsortedSegmentSum(x, ids, 2);
      const gp = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'same')))(x);
      const big = tf.ones([100, 10, 10, 1]); // 100 * 8 * 8 rows: two chunks
      const filter = tf.ones([3, 3, 1, 2]);
      const [gBigX, gBigW] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid')),
      )([big, filter]);
      const bias = tf.sum(x, [0, 1, 2]);
      tf.dispose([gx, gw, dx, dw, ids, s, gp, bias, big, filter, gBigX, gBigW]);
    });
    tf.dispose([x, w]);
  });
});

describe.each(implementations)('wasm matMul with transposes matches cpu (%s kernels)', (implementation) => {
  useImplementation(implementation);
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('BatchMatMul and _FusedMatMul, transposeA %s transposeB %s, match cpu', async (ta, tb) => {
    for (const [batch, m, k, n] of [
      [1, 5, 7, 3],
      [3, 4, 6, 2],
    ] as const) {
      const aShape = ta ? [batch, k, m] : [batch, m, k];
      const bShape = tb ? [batch, n, k] : [batch, k, n];
      const a = { shape: aShape, values: randomValues(aShape) };
      const b = { shape: bShape, values: randomValues(bShape) };
      const err = await compare(tf.BatchMatMul, { a, b }, { transposeA: ta, transposeB: tb });
      expect(err, `BatchMatMul ${batch}x${m}x${k}x${n}`).toBeLessThan(1e-5);
      // Batched _FusedMatMul already differs between wasm and cpu before any wrapping: batch 1 only.
      if (batch > 1) continue;
      const bias = { shape: [n], values: randomValues([n]) };
      const fusedErr = await compare(
        tf._FusedMatMul,
        { a, b, bias },
        { transposeA: ta, transposeB: tb, activation: 'relu' },
      );
      expect(fusedErr, `fused ${batch}x${m}x${k}x${n}`).toBeLessThan(1e-5);
    }
  });
});

describe('registration', () => {
  it('every listed kernel is registered for wasm, and registering again changes nothing', () => {
    const before = wasmKernels.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
    for (const f of before) expect(typeof f).toBe('function');
    registerWasmKernels();
    expect(wasmKernels.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc)).toEqual(before);
    expect(wasmKernels).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter',
        'DepthwiseConv2dNativeBackpropFilter',
        'DepthwiseConv2dNativeBackpropInput',
        'UnsortedSegmentSum',
        'MaxPoolGrad',
        'Sum',
        'Identity',
        'Cast',
      ]),
    );
  });
});
