/**
 * Native kernels for `wasm`: matMul, convolution (plain, and fused with a bias and ReLU), its two
 * gradients and the max-pool gradient computed by `@recallkit/kernels-linux-x64` (OpenBLAS sgemm,
 * im2col for convolutions; an optional dependency installed on Linux x64) directly on the wasm heap, through typed-array views (no copy). wasm's 128-bit SIMD gives
 * XNNPACK about a third of what OpenBLAS does per core, and these kernels are most of a conv net's
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
  KernelBackend,
  MaxPoolGradAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterInfo, conv2DBackpropInputInfo, conv2DInfo, maxPoolGradInfo } from './conv-info';
import { tf } from './tf';
import type { KernelArgs } from './wasm-heap';

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

const handled = [
  tf.Conv2D,
  tf.FusedConv2D,
  tf.Conv2DBackpropInput,
  tf.Conv2DBackpropFilter,
  tf.MaxPoolGrad,
  tf.BatchMatMul,
] as const;

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
  return { kernels: handled, blas: native.blas(), threads: native.threads() };
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

interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

/** Whether the addon takes this case: NHWC float32 with no empty axis. */
function takes(
  info: tf.backend_util.Conv2DInfo,
  dataFormat: string | undefined,
  tensors: TensorInfo[],
): boolean {
  return (
    (dataFormat === undefined || dataFormat === 'NHWC') &&
    tensors.every((t) => t.dtype === 'float32') &&
    [
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.outChannels,
    ].every((n) => n > 0)
  );
}

/**
 * Runs `compute` on views of `inputs` into a new output of `shape`. The output is allocated before
 * the views are taken: a growing heap detaches views taken earlier.
 */
function intoNewOutput(
  backend: unknown,
  shape: number[],
  inputs: TensorInfo[],
  compute: (views: Float32Array[], out: Float32Array) => void,
): TensorInfo {
  const heap = backend as WasmHeap & KernelBackend;
  const out = heap.makeOutput(shape, 'float32');
  compute(
    inputs.map((t) => heap.typedArrayFromHeap(t)),
    heap.typedArrayFromHeap(out),
  );
  return out;
}

type KernelFn = (args: KernelArgs) => TensorInfo;

function conv2d(native: NativeKernelsAddon, { inputs, attrs, backend }: KernelArgs): TensorInfo | undefined {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { dataFormat } = attrs as unknown as Conv2DAttrs;
  const info = conv2DInfo(x, filter, attrs as unknown as Conv2DAttrs);
  if (!takes(info, dataFormat, [x, filter])) return undefined;
  return intoNewOutput(backend, info.outShape, [x, filter], ([a, b], y) =>
    native.conv2d(a as Float32Array, b as Float32Array, y, geometry(info)),
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
  const { dataFormat, activation } = attrs as unknown as FusedConv2DAttrs;
  if (preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu'))
    return undefined;
  const info = conv2DInfo(x, filter, attrs as unknown as FusedConv2DAttrs);
  const withBias = bias !== undefined ? [bias] : [];
  if (!takes(info, dataFormat, [x, filter, ...withBias])) return undefined;
  if (bias !== undefined && tf.util.sizeFromShape(bias.shape) !== info.outChannels) return undefined;
  return intoNewOutput(backend, info.outShape, [x, filter, ...withBias], ([a, b, c], y) =>
    native.conv2d(a as Float32Array, b as Float32Array, y, geometry(info), c ?? null, activation === 'relu'),
  );
}

function conv2dBackpropInput(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  const { dataFormat, inputShape } = a;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') return undefined;
  const info = conv2DBackpropInputInfo(filter, a);
  if (!takes(info, dataFormat, [dy, filter])) return undefined;
  return intoNewOutput(backend, [...inputShape], [dy, filter], ([a, b], dx) =>
    native.conv2dBackpropInput(a as Float32Array, b as Float32Array, dx, geometry(info)),
  );
}

function conv2dBackpropFilter(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const { dataFormat, filterShape } = a;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') return undefined;
  const info = conv2DBackpropFilterInfo(x, a);
  if (!takes(info, dataFormat, [x, dy])) return undefined;
  return intoNewOutput(backend, [...filterShape], [x, dy], ([a, b], dw) =>
    native.conv2dBackpropFilter(a as Float32Array, b as Float32Array, dw, geometry(info)),
  );
}

function maxPoolGrad(
  native: NativeKernelsAddon,
  { inputs, attrs, backend }: KernelArgs,
): TensorInfo | undefined {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = maxPoolGradInfo(input, attrs as unknown as MaxPoolGradAttrs);
  if (!takes(info, 'NHWC', [dy, input])) return undefined;
  return intoNewOutput(backend, [...input.shape], [input, dy], ([x, d], dx) =>
    native.maxPoolGrad(x as Float32Array, d as Float32Array, dx, geometry(info)),
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
  return intoNewOutput(backend, [...batchShape, m, n], [a, b], ([x, y], out) =>
    native.batchMatMul(
      x as Float32Array,
      y as Float32Array,
      out,
      Int32Array.of(batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0),
    ),
  );
}

const native: Record<
  (typeof handled)[number],
  (addon: NativeKernelsAddon, args: KernelArgs) => TensorInfo | undefined
> = {
  [tf.Conv2D]: conv2d,
  [tf.FusedConv2D]: fusedConv2d,
  [tf.Conv2DBackpropInput]: conv2dBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilter,
  [tf.MaxPoolGrad]: maxPoolGrad,
  [tf.BatchMatMul]: batchMatMul,
};

/** `kernelName` natively where the addon is on and takes the case, else `fallback`. */
export function preferNative(kernelName: (typeof handled)[number], fallback: KernelFn): KernelFn {
  const run = native[kernelName];
  return (args) => {
    const addonNow = active();
    return (addonNow !== undefined ? run(addonNow, args) : undefined) ?? fallback(args);
  };
}
