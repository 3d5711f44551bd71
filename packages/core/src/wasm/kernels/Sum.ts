import type { KernelBackend, KernelConfig, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { callKernel, Scratch } from '../compose';
import type { KernelFn } from '../heap';
import type { WasmKernelConfig } from '../register';

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

export const sumConfig: WasmKernelConfig = {
  kernelName: tf.Sum,
  mode: 'wrap',
  wrap: withLeadingAxesAsPooling,
};
