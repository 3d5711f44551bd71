/**
 * Gradient kernels that `@tensorflow/tfjs-backend-wasm` 4.22 lacks, registered for `wasm` as a side
 * effect of importing `@recallkit/core` so that conv nets (and `tf.gather`) train there; plus
 * faster stand-ins for some that it has (Conv2DBackpropInput, MaxPoolGrad, matMul with transposed
 * operands, Sum over leading axes, Identity and same-dtype Cast).
 *
 * Each kernel is composed from kernels wasm already has (Conv2D, DepthwiseConv2dNative, Transpose,
 * PadV2, Slice, Reverse, Sum, ScatterNd, GatherV2, AvgPool), called directly on the backend's
 * tensor data, so the arithmetic runs in wasm (XNNPACK) rather than in JavaScript loops:
 * - a filter gradient is a convolution of the input (channels as batch, batch as channels) with
 *   the output gradient as filter, the roles of stride and dilation swapped, summed over chunks
 *   of the batch;
 * - a depthwise input gradient is a depthwise convolution of the zero-upsampled output gradient
 *   with the spatially flipped filter;
 * - UnsortedSegmentSum is ScatterNd, which accumulates duplicate indices;
 * - a conv input gradient is a convolution of the zero-upsampled output gradient with the
 *   flipped filter, its input and output channels swapped;
 * - a sum over leading axes is an average pool with one window over them, times its size.
 * The one exception, MaxPoolGrad, is a JavaScript loop over the wasm heap (`wasm-heap.ts`): no
 * composition reproduces its first-maximum tie-breaking, and the loop beats wasm's own kernel.
 * Where @recallkit/kernels-linux-x64 is installed, Conv2D, FusedConv2D, both convolution gradients
 * and MaxPoolGrad run natively instead, on OpenBLAS (`wasm-native.ts`); these stay the fallback.
 */
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  NamedAttrMap,
  NamedTensorInfoMap,
  SumAttrs,
  TensorInfo,
  UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterInfo, conv2DBackpropInputInfo } from './conv-info';
import { RecallkitError } from './errors';
import { tf } from './tf';
import { type KernelArgs, type KernelFn, maxPoolGrad, sliceLeading } from './wasm-heap';
import { preferNative } from './wasm-native';

type Pair = [number, number];

/** Runs the wasm kernel `name` directly (no engine bookkeeping, no tape). */
function run(
  backend: KernelBackend,
  name: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) {
    throw new RecallkitError('KERNEL_MISSING', `wasm kernel '${name}' is not registered`);
  }
  return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** Tracks intermediate results of one kernel so they are all released at the end. */
class Scratch {
  private readonly held: TensorInfo[] = [];
  constructor(readonly backend: KernelBackend) {}

  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    return this.keep(run(this.backend, name, inputs, attrs));
  }

  /** Releases `info` with the rest at the end. */
  keep(info: TensorInfo): TensorInfo {
    this.held.push(info);
    return info;
  }

  /** Returns `result` to the caller: everything else created here is released. */
  finish(result: TensorInfo): TensorInfo {
    // A result may share its data with an intermediate (Reshape does): keep one reference.
    const index = this.held.lastIndexOf(result);
    if (index >= 0) this.held.splice(index, 1);
    for (const info of this.held) this.backend.disposeData(info.dataId);
    return result;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Pads (positive) or crops (negative) axes 1 and 2 of an NHWC tensor by [before, after]. */
  padOrCrop(x: TensorInfo, rows: Pair, cols: Pair): TensorInfo {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const crop = (v: number) => Math.max(0, -v);
    let out = x;
    if (rows.some((v) => v < 0) || cols.some((v) => v < 0)) {
      out = this.run(
        'Slice',
        { x: out },
        {
          begin: [0, crop(rows[0]), crop(cols[0]), 0],
          size: [n, h - crop(rows[0]) - crop(rows[1]), w - crop(cols[0]) - crop(cols[1]), c],
        },
      );
    }
    const pad = (v: number) => Math.max(0, v);
    if (rows.some((v) => v > 0) || cols.some((v) => v > 0)) {
      const paddings = [
        [0, 0],
        [pad(rows[0]), pad(rows[1])],
        [pad(cols[0]), pad(cols[1])],
        [0, 0],
      ];
      out = this.run('PadV2', { x: out }, { paddings, constantValue: 0 });
    }
    return out;
  }
}

function requireChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new RecallkitError(
      'UNSUPPORTED_DATA_FORMAT',
      `${kernel} on wasm supports dataFormat 'NHWC' only, got '${String(dataFormat)}'`,
    );
  }
}

/**
 * The input rows (or columns) a filter gradient reads: `padBefore` zeros, then the input, cropped
 * or padded at the end so that exactly (filter - 1) * dilation + (out - 1) * stride + 1 remain.
 */
function filterGradWindow(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  dilation: number,
  padBefore: number,
): Pair {
  const needed = (filterSize - 1) * dilation + (outSize - 1) * stride + 1;
  return [padBefore, needed - inSize - padBefore];
}

function conv2DBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  requireChannelsLast('Conv2DBackpropFilter', a.dataFormat);
  const info = conv2DBackpropFilterInfo(x, a);
  const s = new Scratch(backend as KernelBackend);
  // XNNPACK's GEMM streams the whole reduction (N * OH * OW) per output tile, so a long one runs
  // from memory rather than cache: summing the gradients of batch chunks is faster.
  const n = info.batchSize;
  const chunk = Math.max(1, Math.ceil(FILTER_GRAD_CHUNK / (info.outHeight * info.outWidth)));
  if (n <= chunk) return s.finish(s.transpose(filterGradOfImages(s, x, dy, info), [1, 2, 0, 3]));
  const parts: TensorInfo[] = [];
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const xPart = s.keep(sliceLeading(backend as KernelBackend, x, start, count));
    const dyPart = s.keep(sliceLeading(backend as KernelBackend, dy, start, count));
    parts.push(filterGradOfImages(s, xPart, dyPart, info));
  }
  const grad = s.run('AddN', parts as unknown as NamedTensorInfoMap); // [Cin, FH, FW, Cout]
  return s.finish(s.transpose(grad, [1, 2, 0, 3]));
}

/** Rows of the output gradient (N * OH * OW) that one chunk's filter gradient sums over. */
const FILTER_GRAD_CHUNK = 6144;

/**
 * The filter gradient of a stack of images as one convolution: the input with channels as batch
 * and batch as channels, the output gradient as filter, stride and dilation swapped. [Cin, FH, FW, Cout].
 */
function filterGradOfImages(
  s: Scratch,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  // [N, H, W, Cin] -> [Cin, H, W, N]: input channels become the batch, the batch is summed over.
  const xT = s.transpose(x, [3, 1, 2, 0]);
  const rows = filterGradWindow(
    info.inHeight,
    info.outHeight,
    info.filterHeight,
    info.strideHeight,
    info.dilationHeight,
    info.padInfo.top,
  );
  const cols = filterGradWindow(
    info.inWidth,
    info.outWidth,
    info.filterWidth,
    info.strideWidth,
    info.dilationWidth,
    info.padInfo.left,
  );
  const xP = s.padOrCrop(xT, rows, cols);
  // [N, OH, OW, Cout] -> [OH, OW, N, Cout]: the output gradient is the filter.
  const dyT = s.transpose(dy, [1, 2, 0, 3]);
  return s.run(
    'Conv2D',
    { x: xP, filter: dyT },
    {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: 'valid',
      dataFormat: 'NHWC',
    },
  );
}

/** Each value followed by (stride - 1) zeros along rows and columns: [N, OH * sh, OW * sw, C]. */
function spreadByStride(s: Scratch, x: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return x;
  const [n, oh, ow, c] = x.shape as [number, number, number, number];
  const paddings = [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ];
  const spread = s.run('PadV2', { x: s.reshape(x, [n, oh, 1, ow, 1, c]) }, { paddings, constantValue: 0 });
  return s.reshape(spread, [n, oh * sh, ow * sw, c]);
}

/**
 * The input of a transposed convolution written as a plain one: `dy` upsampled by the stride
 * (each value followed by stride - 1 zeros) and padded so that a stride-1 correlation with the
 * spatially flipped filter (dilated as in the forward pass) yields exactly the input's size.
 */
function transposedConvInput(s: Scratch, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const [, oh, ow] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const up = spreadByStride(s, dy, sh, sw);
  const top = (info.filterHeight - 1) * dh - info.padInfo.top;
  const left = (info.filterWidth - 1) * dw - info.padInfo.left;
  const rows = info.inHeight + (info.filterHeight - 1) * dh;
  const cols = info.inWidth + (info.filterWidth - 1) * dw;
  return s.padOrCrop(up, [top, rows - top - oh * sh], [left, cols - left - ow * sw]);
}

/**
 * Replaces wasm's own Conv2DBackpropInput, a scalar loop about 15x slower than its forward
 * convolution, by an XNNPACK convolution with the flipped, in/out-swapped filter.
 */
function conv2DBackpropInput({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  requireChannelsLast('Conv2DBackpropInput', a.dataFormat);
  const info = conv2DBackpropInputInfo(filter, a);
  const s = new Scratch(backend as KernelBackend);
  const upP = transposedConvInput(s, dy, info);
  const flipped = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
  const grad = s.run(
    'Conv2D',
    { x: upP, filter: flipped },
    { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC' },
  );
  return s.finish(grad);
}

function depthwiseBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const { outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const m = info.outChannels / c;
  const s = new Scratch(backend as KernelBackend);
  // Every (sample, channel) pair becomes one channel of a depthwise convolution over one image.
  const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]);
  const rows = filterGradWindow(h, oh, fh, info.strideHeight, info.dilationHeight, info.padInfo.top);
  const cols = filterGradWindow(w, ow, fw, info.strideWidth, info.dilationWidth, info.padInfo.left);
  const xP = s.padOrCrop(xT, rows, cols);
  const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, m]);
  const grad = s.run(
    'DepthwiseConv2dNative',
    { x: xP, filter: dyT },
    {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: 'valid',
      dataFormat: 'NHWC',
    },
  ); // [1, FH, FW, N * C * M]
  const perSample = s.reshape(grad, [fh, fw, n, c * m]);
  const summed = n === 1 ? perSample : s.run('Sum', { x: perSample }, { axis: [2], keepDims: false });
  return s.finish(s.reshape(summed, [fh, fw, c, m]));
}

function depthwiseBackpropInput({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const [n, h, w, c] = inputShape as [number, number, number, number];
  const { filterHeight: fh, filterWidth: fw, dilationHeight: dh, dilationWidth: dw } = info;
  const cm = info.outChannels;
  const s = new Scratch(backend as KernelBackend);
  const upP = transposedConvInput(s, dy, info);
  const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [fh, fw, cm, 1]);
  const grad = s.run(
    'DepthwiseConv2dNative',
    { x: upP, filter: flipped },
    { strides: [1, 1], dilations: [dh, dw], pad: 'valid', dataFormat: 'NHWC' },
  ); // [N, H, W, C * M]
  if (cm === c) return s.finish(grad);
  const perMultiplier = s.reshape(grad, [n, h, w, c, cm / c]);
  return s.finish(s.run('Sum', { x: perMultiplier }, { axis: [4], keepDims: false }));
}

function unsortedSegmentSum({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const kb = backend as KernelBackend;
  const s = new Scratch(kb);
  const numIds = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rest = x.shape.slice(segmentIds.shape.length);
  const flatX = s.reshape(x, [numIds, ...rest]);
  let ids = s.reshape(segmentIds, [numIds, 1]);
  let updates = flatX;
  // Ids outside [0, numSegments) are dropped, as in TensorFlow (ScatterNd would write out of range).
  const idValues = kb.readSync(segmentIds.dataId) as Int32Array;
  const kept: number[] = [];
  for (let i = 0; i < idValues.length; i++) {
    const id = idValues[i] as number;
    if (id >= 0 && id < numSegments) kept.push(i);
  }
  if (kept.length < numIds) {
    const keep: TensorInfo = {
      dataId: kb.write(new Int32Array(kept), [kept.length], 'int32'),
      shape: [kept.length],
      dtype: 'int32',
    };
    const gather = (t: TensorInfo) => s.run('GatherV2', { x: t, indices: keep }, { axis: 0, batchDims: 0 });
    ids = gather(ids);
    updates = gather(flatX);
    kb.disposeData(keep.dataId);
  }
  const result = s.run('ScatterNd', { indices: ids, updates }, { shape: [numSegments, ...rest] });
  return s.finish(result);
}

function callKernel(config: KernelConfig, { inputs, attrs, backend }: KernelArgs): TensorInfo {
  return config.kernelFunc({ inputs, attrs: attrs ?? {}, backend: backend as KernelBackend }) as TensorInfo;
}

/**
 * wasm 4.22's BatchMatMul (and _FusedMatMul) is about 10x slower with transposeA or transposeB
 * than on plain operands, and every matMul gradient asks for a transpose: transposing the operand
 * with the Transpose kernel first and multiplying plainly gives the same result at full speed.
 */
function withExplicitTransposes(original: KernelConfig): KernelFn {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) return callKernel(original, args);
    const s = new Scratch(backend as KernelBackend);
    const swapLastTwo = (x: TensorInfo) => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
      return s.transpose(x, perm);
    };
    const a = inputs['a'] as TensorInfo;
    const b = inputs['b'] as TensorInfo;
    const out = callKernel(original, {
      inputs: { ...inputs, a: transposeA ? swapLastTwo(a) : a, b: transposeB ? swapLastTwo(b) : b },
      attrs: { ...attrs, transposeA: false, transposeB: false },
      backend,
    });
    return s.finish(out);
  };
}

/**
 * wasm 4.22's Sum over axes that are not the innermost transposes the input first, which makes
 * the bias gradient of a conv layer (a sum over batch, rows and columns) cost as much as the
 * convolution. A sum over leading axes is instead an average pool of [1, M, 1, R] with an M x 1
 * window (XNNPACK streams it once), times M. (A matMul with a row of ones is slow here: wasm
 * repacks its M x R operand on every call.)
 */
function withLeadingAxesAsPooling(original: KernelConfig): KernelFn {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const { axis, keepDims } = (args.attrs ?? {}) as unknown as SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const k = axes.length;
    const leading = new Set(axes).size === k && axes.every((a) => a < k);
    const m = tf.util.sizeFromShape(x.shape.slice(0, k));
    const rest = x.shape.slice(k);
    const r = tf.util.sizeFromShape(rest);
    if (x.dtype !== 'float32' || !leading || k === 0 || k === x.shape.length || m < 2 || r === 0) {
      return callKernel(original, args);
    }
    const s = new Scratch(args.backend as KernelBackend);
    const mean = s.run(
      'AvgPool',
      { x: s.reshape(x, [1, m, 1, r]) },
      { filterSize: [m, 1], strides: [1, 1], pad: 'valid' },
    );
    const count = s.run('Fill', {}, { shape: [], value: m, dtype: 'float32' });
    const sums = s.run('Multiply', { a: mean, b: count });
    return s.finish(s.reshape(sums, keepDims ? [...axes.map(() => 1), ...rest] : rest));
  };
}

/**
 * Identity, and Cast to the dtype a tensor already has (ReLU's gradient casts a float mask to
 * float), share the input's data as Reshape does instead of copying it, as on `cpu`. Cast to
 * bool is `x != 0`: wasm 4.22 truncates to a byte instead (int32 -2 became 254).
 */
function sharingWhenUnchanged(original: KernelConfig): KernelFn {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype ?? x.dtype;
    if (dtype === 'bool' && (x.dtype === 'int32' || x.dtype === 'float32')) {
      const s = new Scratch(args.backend as KernelBackend);
      const zero = s.run('Fill', {}, { shape: [], value: 0, dtype: x.dtype });
      return s.finish(s.run('NotEqual', { a: x, b: zero }));
    }
    if (x.dtype === 'string' || dtype !== x.dtype) return callKernel(original, args);
    (args.backend as KernelBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * Replaces wasm's kernel `kernelName` by `wrap(original)`, keeping the original's setup (the
 * wrapper calls it for the cases it does not handle). Idempotent.
 */
function wrapWasmKernel(kernelName: string, wrap: (original: KernelConfig) => KernelFn): void {
  const original = tf.getKernel(kernelName, 'wasm');
  if (original === undefined || (original.kernelFunc as { recallkitWrapped?: boolean }).recallkitWrapped) {
    return;
  }
  const kernelFunc = wrap(original);
  Object.assign(kernelFunc, { recallkitWrapped: true });
  const config: KernelConfig = { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  if (original.disposeFunc !== undefined) config.disposeFunc = original.disposeFunc;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel(config);
}

/** Kernels wasm replaces: its own versions are correct but far slower. */
const replacements: Array<[string, KernelFn]> = [
  [tf.Conv2DBackpropInput, preferNative(tf.Conv2DBackpropInput, conv2DBackpropInput)],
  [tf.MaxPoolGrad, preferNative(tf.MaxPoolGrad, maxPoolGrad)],
];

const kernels: Array<[string, KernelFn]> = [
  [tf.Conv2DBackpropFilter, preferNative(tf.Conv2DBackpropFilter, conv2DBackpropFilter)],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter],
  [tf.DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInput],
  [tf.UnsortedSegmentSum, unsortedSegmentSum],
];

/** wasm kernels kept for the cases they do fast, wrapped for the ones they do slowly. */
const wrappers: Array<[string, (original: KernelConfig) => KernelFn]> = [
  [tf.Conv2D, (original) => preferNative(tf.Conv2D, (args) => callKernel(original, args))],
  [tf.FusedConv2D, (original) => preferNative(tf.FusedConv2D, (args) => callKernel(original, args))],
  [tf.BatchMatMul, (original) => preferNative(tf.BatchMatMul, withExplicitTransposes(original))],
  [tf._FusedMatMul, withExplicitTransposes],
  [tf.Sum, withLeadingAxesAsPooling],
  [tf.Identity, sharingWhenUnchanged],
  [tf.Cast, sharingWhenUnchanged],
];

/** The kernel names this module adds to `wasm` (those wasm did not have) or replaces there. */
export const wasmGradientKernels: readonly string[] = [...kernels, ...replacements, ...wrappers].map(
  ([name]) => name,
);

/**
 * Registers the missing kernels for `wasm` (leaving any that a later tfjs version provides) and
 * replaces or wraps the slow ones. Idempotent.
 */
export function registerWasmGradientKernels(): void {
  for (const [kernelName, kernelFunc] of kernels) {
    if (tf.getKernel(kernelName, 'wasm') !== undefined) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
  }
  for (const [kernelName, kernelFunc] of replacements) {
    if (tf.getKernel(kernelName, 'wasm')?.kernelFunc === kernelFunc) continue;
    if (tf.getKernel(kernelName, 'wasm') !== undefined) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
  }
  for (const [kernelName, wrap] of wrappers) wrapWasmKernel(kernelName, wrap);
}
