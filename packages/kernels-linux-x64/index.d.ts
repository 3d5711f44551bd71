/**
 * Geometry of a convolution or pooling, tfjs's Conv2DInfo as 15 int32s in this order: batch,
 * inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth,
 * strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft. Layouts are NHWC,
 * filters [filterHeight, filterWidth, inChannels, outChannels].
 */
export type Geometry = Int32Array;

/** y = conv2d(x, filter). Throws a RangeError when a length does not match the geometry. */
export function conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, dims: Geometry): void;
/** dx = the gradient of sum(dy * conv2d(x, filter)) with respect to x. */
export function conv2dBackpropInput(
  dy: Float32Array,
  filter: Float32Array,
  dx: Float32Array,
  dims: Geometry,
): void;
/** dw = the gradient of sum(dy * conv2d(x, filter)) with respect to filter. */
export function conv2dBackpropFilter(
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
  dims: Geometry,
): void;
/**
 * dx = the max-pool gradient: each dy to the first maximum (row-major) of its window, summed where
 * windows overlap (tfjs cpu's semantics). dims as for a convolution, outChannels = inChannels.
 */
export function maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, dims: Geometry): void;
/**
 * c[i] = op(a[i]) op(b[i]) for each product; dims = [batchA, batchB, m, k, n, transposeA, transposeB]
 * (0 or 1), a batch of 1 broadcast; row-major, a[i] m x k (k x m transposed), b[i] k x n (n x k).
 */
export function batchMatMul(a: Float32Array, b: Float32Array, c: Float32Array, dims: Int32Array): void;
/** Sets the threads: the convolutions' (one range of the batch each, at most 64) and OpenBLAS's. */
export function setThreads(threads: number): void;
/** The threads set (OpenBLAS's count). */
export function threads(): number;
/** OpenBLAS's configuration string: version, build options, the CPU kernel chosen at run time. */
export function blas(): string;

export interface BuildInfo {
  openblas: string;
  openblasPackage: string;
  compiler: string;
  linked: string;
  needed: string[];
  glibc: string;
  inputs: string;
}
export const build: BuildInfo;
