/**
 * The kernels Recallkit gives `wasm` (tfjs-backend-wasm 4.22), registered as a side effect of
 * importing `@recallkit/core`: the gradient kernels it lacks, so that conv nets (and `tf.gather`)
 * train there, and faster stand-ins for some that it has. One file under `kernels/` per kernel, as
 * in tfjs's own backends; the compositions run wasm's own kernels (XNNPACK) on the backend's
 * tensor data (`compose.ts`), and where @recallkit/kernels-linux-x64 is installed the convolutions,
 * their gradients, MaxPoolGrad and BatchMatMul run natively on OpenBLAS (`native.ts`).
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { tf } from '../tf';
import type { KernelFn } from './heap';
import { batchMatMulConfig, fusedMatMulConfig } from './kernels/BatchMatMul';
import { conv2DConfig, fusedConv2DConfig } from './kernels/Conv2D';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput';
import { depthwiseConv2dNativeBackpropFilterConfig } from './kernels/DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInputConfig } from './kernels/DepthwiseConv2dNativeBackpropInput';
import { castConfig, identityConfig } from './kernels/Identity';
import { maxPoolGradConfig } from './kernels/MaxPoolGrad';
import { sumConfig } from './kernels/Sum';
import { unsortedSegmentSumConfig } from './kernels/UnsortedSegmentSum';

/**
 * How a kernel joins `wasm`: `add` where wasm lacks it (a later tfjs that has it keeps its own),
 * `replace` wasm's correct but far slower one, or `wrap` wasm's own, kept for the cases it does
 * fast and called by the wrapper for them.
 */
export type WasmKernelConfig =
  | { kernelName: string; mode: 'add' | 'replace'; kernelFunc: KernelFn }
  | { kernelName: string; mode: 'wrap'; wrap: (original: KernelConfig) => KernelFn };

const wasmKernelConfigs: readonly WasmKernelConfig[] = [
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  maxPoolGradConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  sumConfig,
  identityConfig,
  castConfig,
  unsortedSegmentSumConfig,
];

/** The kernel names Recallkit adds to `wasm` or replaces there. */
export const wasmKernels: readonly string[] = wasmKernelConfigs.map((config) => config.kernelName);

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

/** Registers every kernel of the list for `wasm`. Idempotent. */
export function registerWasmKernels(): void {
  for (const config of wasmKernelConfigs) {
    const { kernelName } = config;
    const current = tf.getKernel(kernelName, 'wasm');
    if (config.mode === 'wrap') wrapWasmKernel(kernelName, config.wrap);
    else if (config.mode === 'add' && current !== undefined) continue;
    else if (current?.kernelFunc !== config.kernelFunc) {
      if (current !== undefined) tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: config.kernelFunc as never });
    }
  }
}
