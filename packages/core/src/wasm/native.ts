/**
 * Native kernels for `wasm`: matMul, convolution (plain, and fused with a bias and ReLU), its two
 * gradients and the max-pool gradient computed by `@recallkit/kernels-linux-x64` (OpenBLAS sgemm,
 * im2col for convolutions; an optional dependency installed on Linux x64) directly on the wasm
 * heap, through typed-array views (no copy). wasm's 128-bit SIMD gives XNNPACK about a third of
 * what OpenBLAS does per core, and these kernels are most of a conv net's
 * training step. Where the package is absent, turned off (RECALLKIT_NATIVE_KERNELS=0 or
 * `useBackend('wasm', { nativeKernels: false })`), or a case is not one it handles (channels-first,
 * another dtype, an empty tensor), the wasm kernels run as before.
 */
import { createRequire } from 'node:module';
import type {
  BatchMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedConv2DAttrs,
  MaxPoolGradAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { tf } from '../tf';
import { conv2DBackpropFilterInfo, conv2DBackpropInputInfo, conv2DInfo, maxPoolGradInfo } from './conv-info';
import { intoNewOutput, type KernelArgs, type KernelFn } from './heap';

/** The API of `@recallkit/kernels-linux-x64`. */
interface NativeKernelsAddon {
  conv2d(
    x: Float32Array,
    filter: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    bias?: Float32Array | null,
    relu?: boolean,
  ): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, dims: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, dims: Int32Array): void;
  batchMatMul(a: Float32Array, b: Float32Array, c: Float32Array, dims: Int32Array): void;
  setThreads(threads: number): void;
  threads(): number;
  blas(): string;
}

export const nativeKernelsPackage = '@recallkit/kernels-linux-x64';

/** Which kernels run natively, on what, or why none do. */
export interface NativeKernelsState {
  /** The kernels `wasm` runs natively now. */
  kernels: readonly string[];
  /** The BLAS the package was built with and the CPU kernel it picked, when loaded. */
  blas?: string;
  /** The BLAS's threads, when loaded. */
  threads?: number;
  /** Why no kernel runs natively, when none does. */
  note?: string;
}

let addon: NativeKernelsAddon | undefined;
let loadError: string | undefined;
let loaded = false;
let blasThreads: number | undefined;
let enabled = process.env['RECALLKIT_NATIVE_KERNELS']?.trim() !== '0';

function load(): NativeKernelsAddon | undefined {
  if (!loaded) {
    loaded = true;
    try {
      addon = createRequire(import.meta.url)(nativeKernelsPackage) as NativeKernelsAddon;
      if (blasThreads !== undefined) addon.setThreads(blasThreads);
    } catch (error) {
      const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      loadError =
        (error as { code?: string }).code === 'MODULE_NOT_FOUND' && message.includes(nativeKernelsPackage)
          ? `${nativeKernelsPackage} is not installed (it installs with @recallkit/core on Linux x64 with glibc)`
          : `${nativeKernelsPackage} did not load: ${message}`;
    }
  }
  return addon;
}

function active(): NativeKernelsAddon | undefined {
  return enabled ? load() : undefined;
}

/** Turns the native kernels on or off (they are on when the package loads, unless RECALLKIT_NATIVE_KERNELS=0). */
export function setNativeKernels(on: boolean): void {
  enabled = on;
}

/** Sets the BLAS's threads (the wasm backend's thread count), now or when the package loads. */
export function setNativeKernelThreads(threads: number): void {
  blasThreads = threads;
  addon?.setThreads(threads);
}

export function describeNativeKernels(): NativeKernelsState {
  if (!enabled)
    return { kernels: [], note: 'turned off (RECALLKIT_NATIVE_KERNELS=0 or nativeKernels: false)' };
  const native = load();
  if (native === undefined) return { kernels: [], note: loadError ?? 'not loaded' };
  return { kernels: Object.keys(byKernel), blas: native.blas(), threads: native.threads() };
}

/** A Conv2DInfo (or Pool2DInfo) as the addon's geometry. */
function geometry(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
}

/**
 * A kernel of the addon on NHWC float32 `operands` with no empty axis (else undefined: the wasm
 * kernel runs): `compute` gets their heap views, the new output of `shape` and `info` as geometry.
 */
function onGeometry(
  backend: unknown,
  info: tf.backend_util.Conv2DInfo,
  dataFormat: string | undefined,
  operands: TensorInfo[],
  shape: number[],
  compute: (views: Float32Array[], out: Float32Array, dims: Int32Array) => void,
): TensorInfo | undefined {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const sizes = [batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels];
  if (dataFormat !== undefined && dataFormat !== 'NHWC') return undefined;
  if (!operands.every((t) => t.dtype === 'float32') || !sizes.every((n) => n > 0)) return undefined;
  const dims = geometry(info);
  return intoNewOutput(backend, shape, operands, (views, out) => compute(views, out, dims));
}

function conv2d(native: NativeKernelsAddon, { inputs, attrs, backend }: KernelArgs): TensorInfo | undefined {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const conv = attrs as unknown as Conv2DAttrs;
  const info = conv2DInfo(x, filter, conv);
  return onGeometry(backend, info, conv.dataFormat, [x, filter], info.outShape, ([xs, ws], y, dims) =>
    native.conv2d(xs as Float32Array, ws as Float32Array, y, dims),
  );
}

/** FusedConv2D with a linear or ReLU activation and a bias of one value per output channel, or none. */
function fusedConv2d(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = inputs as {
    x: TensorInfo;
    filter: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const conv = attrs as unknown as FusedConv2DAttrs;
  if (preluActivationWeights !== undefined || (conv.activation !== 'linear' && conv.activation !== 'relu'))
    return undefined;
  const info = conv2DInfo(x, filter, conv);
  if (bias !== undefined && tf.util.sizeFromShape(bias.shape) !== info.outChannels) return undefined;
  const operands = bias !== undefined ? [x, filter, bias] : [x, filter];
  return onGeometry(backend, info, conv.dataFormat, operands, info.outShape, ([xs, ws, bs], y, dims) =>
    native.conv2d(xs as Float32Array, ws as Float32Array, y, dims, bs ?? null, conv.activation === 'relu'),
  );
}

function conv2dBackpropInput(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const grad = attrs as unknown as Conv2DBackpropInputAttrs;
  const info = conv2DBackpropInputInfo(filter, grad);
  return onGeometry(backend, info, grad.dataFormat, [dy, filter], [...grad.inputShape], ([d, ws], dx, dims) =>
    native.conv2dBackpropInput(d as Float32Array, ws as Float32Array, dx, dims),
  );
}

function conv2dBackpropFilter(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const grad = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = conv2DBackpropFilterInfo(x, grad);
  return onGeometry(backend, info, grad.dataFormat, [x, dy], [...grad.filterShape], ([xs, d], dw, dims) =>
    native.conv2dBackpropFilter(xs as Float32Array, d as Float32Array, dw, dims),
  );
}

function maxPoolGrad(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = maxPoolGradInfo(input, attrs as unknown as MaxPoolGradAttrs);
  return onGeometry(backend, info, 'NHWC', [input, dy], [...input.shape], ([xs, d], dx, dims) =>
    native.maxPoolGrad(xs as Float32Array, d as Float32Array, dx, dims),
  );
}

/** BatchMatMul of float32 operands whose batch sizes are equal or 1 (broadcast). */
function batchMatMul(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2)
    return undefined;
  const [m, k] = (transposeA ? a.shape.slice(-2).reverse() : a.shape.slice(-2)) as [number, number];
  const [kB, n] = (transposeB ? b.shape.slice(-2).reverse() : b.shape.slice(-2)) as [number, number];
  const batchShape = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (k !== kB || m * k * n === 0 || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return undefined;
  const dims = Int32Array.of(batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0);
  return intoNewOutput(backend, [...batchShape, m, n], [a, b], ([as, bs], out) =>
    native.batchMatMul(as as Float32Array, bs as Float32Array, out, dims),
  );
}

/** The kernels the addon computes, in the order describeBackend lists them. */
const byKernel = {
  [tf.Conv2D]: conv2d,
  [tf.FusedConv2D]: fusedConv2d,
  [tf.Conv2DBackpropInput]: conv2dBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilter,
  [tf.MaxPoolGrad]: maxPoolGrad,
  [tf.BatchMatMul]: batchMatMul,
} satisfies Record<string, (addon: NativeKernelsAddon, args: KernelArgs) => TensorInfo | undefined>;

/** `kernelName` natively where the addon is on and takes the case, else `fallback`. */
export function preferNative(kernelName: keyof typeof byKernel, fallback: KernelFn): KernelFn {
  const run = byKernel[kernelName];
  return (args) => {
    const addonNow = active();
    return (addonNow !== undefined ? run(addonNow, args) : undefined) ?? fallback(args);
  };
}
