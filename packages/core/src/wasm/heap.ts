/**
 * The kernel function types, and access to the wasm backend's own heap: typed-array views of
 * tensors (no copy) and outputs allocated there to be filled in place, by JavaScript loops or by
 * the native kernels.
 */
import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../tf';

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
