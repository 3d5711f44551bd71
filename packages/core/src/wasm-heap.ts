/**
 * Kernels for `wasm` written as tight JavaScript loops over the backend's own heap: a typed-array
 * view of each input (no copy), the output allocated there and filled in place. Used where wasm's
 * compiled kernel is a slow scalar loop (MaxPoolGrad: about 10x slower than this) and no
 * composition of fast wasm kernels gives the same result.
 */
import type {
  KernelBackend,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { maxPoolGradInfo } from './conv-info';
import { tf } from './tf';

/** What tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  attrs?: NamedAttrMap;
  backend: unknown;
}

/** A kernel function as tfjs registers it. */
export type KernelFn = (args: KernelArgs) => TensorInfo;

/** The part of tfjs-backend-wasm's BackendWasm that heap kernels use. */
interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

/**
 * Runs `compute` on views of `inputs` into a new float32 output of `shape`. The output is allocated
 * before the views are taken: a growing heap detaches views taken earlier.
 */
export function intoNewOutput(
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

/**
 * The max-pool gradient: each output's `dy` goes to the first position (row-major within its
 * window) holding the window's maximum, summed where windows overlap; a window of NaN or -Infinity
 * only passes nothing. These are tfjs `cpu`'s MaxPoolGrad semantics, ties included.
 */
export function maxPoolGradInto(
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

export function maxPoolGrad({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = maxPoolGradInfo(input, attrs as unknown as MaxPoolGradAttrs);
  return intoNewOutput(backend, [...input.shape], [input, dy], ([x, d], dx) =>
    maxPoolGradInto(x as Float32Array, d as Float32Array, dx, info),
  );
}

/**
 * Entries [start, start + count) of axis 0, copied on the heap: one contiguous block. (wasm's own
 * Slice first copies its whole input out of the heap.)
 */
export function sliceLeading(
  backend: KernelBackend,
  x: TensorInfo,
  start: number,
  count: number,
): TensorInfo {
  const heap = backend as WasmHeap & KernelBackend;
  const per = tf.util.sizeFromShape(x.shape.slice(1));
  const out = heap.makeOutput([count, ...x.shape.slice(1)], x.dtype as 'float32');
  heap.typedArrayFromHeap(out).set(heap.typedArrayFromHeap(x).subarray(start * per, (start + count) * per));
  return out;
}
