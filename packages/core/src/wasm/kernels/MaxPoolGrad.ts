/**
 * The max-pool gradient as a JavaScript loop over the wasm heap: no composition of wasm kernels
 * reproduces its first-maximum tie-breaking, and the loop beats wasm's own kernel, a slow scalar
 * loop. Native where the kernels package is installed.
 */
import type { MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { maxPoolGradInfo } from '../conv-info';
import { intoNewOutput, type KernelArgs } from '../heap';
import { preferNative } from '../native';
import type { WasmKernelConfig } from '../register';

/**
 * The max-pool gradient: each output's `dy` goes to the first position (row-major within its
 * window) holding the window's maximum, summed where windows overlap; a window of NaN or -Infinity
 * only passes nothing. These are tfjs `cpu`'s MaxPoolGrad semantics, ties included.
 */
function maxPoolGradInto(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  dx.fill(0);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  let o = 0; // offset of the current output pixel in dy
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < oh; yr++) {
      const r0 = yr * sh - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(h, r0 + fh);
      for (let yc = 0; yc < ow; yc++, o += c) {
        const c0 = yc * sw - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(w, c0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let xr = rMin; xr < rMax; xr++) {
          for (let xc = cMin; xc < cMax; xc++) {
            const base = ((b * h + xr) * w + xc) * c;
            for (let d = 0; d < c; d++) {
              const v = x[base + d] as number;
              if (v > (best[d] as number)) {
                best[d] = v;
                at[d] = base + d;
              }
            }
          }
        }
        for (let d = 0; d < c; d++) {
          const i = at[d] as number;
          if (i >= 0) dx[i] = (dx[i] as number) + (dy[o + d] as number);
        }
      }
    }
  }
}

function maxPoolGrad({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = maxPoolGradInfo(input, attrs as unknown as MaxPoolGradAttrs);
  return intoNewOutput(backend, [...input.shape], [input, dy], ([x, d], dx) =>
    maxPoolGradInto(x as Float32Array, d as Float32Array, dx, info),
  );
}

export const maxPoolGradConfig: WasmKernelConfig = {
  kernelName: tf.MaxPoolGrad,
  mode: 'replace',
  kernelFunc: preferNative(tf.MaxPoolGrad, maxPoolGrad),
};
