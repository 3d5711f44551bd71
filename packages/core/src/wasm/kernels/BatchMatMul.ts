import type { KernelBackend, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { callKernel, Scratch } from '../compose';
import type { KernelFn } from '../heap';
import { preferNative } from '../native';
import type { WasmKernelConfig } from '../register';

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

export const batchMatMulConfig: WasmKernelConfig = {
  kernelName: tf.BatchMatMul,
  mode: 'wrap',
  wrap: (original) => preferNative(tf.BatchMatMul, withExplicitTransposes(original)),
};

export const fusedMatMulConfig: WasmKernelConfig = {
  kernelName: tf._FusedMatMul,
  mode: 'wrap',
  wrap: withExplicitTransposes,
};
