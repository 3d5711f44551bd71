import type { KernelBackend, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { callKernel, Scratch } from '../compose';
import type { KernelFn } from '../heap';
import type { WasmKernelConfig } from '../register';

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

export const identityConfig: WasmKernelConfig = {
  kernelName: tf.Identity,
  mode: 'wrap',
  wrap: sharingWhenUnchanged,
};

export const castConfig: WasmKernelConfig = { kernelName: tf.Cast, mode: 'wrap', wrap: sharingWhenUnchanged };
