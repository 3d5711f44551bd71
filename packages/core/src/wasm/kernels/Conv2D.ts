/** Conv2D and FusedConv2D: native where the kernels package is installed, else wasm's own (XNNPACK). */
import { tf } from '../../tf';
import { callKernel } from '../compose';
import { preferNative } from '../native';
import type { WasmKernelConfig } from '../register';

export const conv2DConfig: WasmKernelConfig = {
  kernelName: tf.Conv2D,
  mode: 'wrap',
  wrap: (original) => preferNative(tf.Conv2D, (args) => callKernel(original, args)),
};

export const fusedConv2DConfig: WasmKernelConfig = {
  kernelName: tf.FusedConv2D,
  mode: 'wrap',
  wrap: (original) => preferNative(tf.FusedConv2D, (args) => callKernel(original, args)),
};
