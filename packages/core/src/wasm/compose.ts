/**
 * Helpers for kernels composed from kernels `wasm` already has (Conv2D, Transpose, PadV2, Slice,
 * Reverse, ...), called directly on the backend's tensor data so that the arithmetic runs in wasm
 * (XNNPACK) rather than in JavaScript loops.
 */
import type {
  KernelBackend,
  KernelConfig,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { RecallkitError } from '../errors';
import { tf } from '../tf';
import type { KernelArgs } from './heap';

export type Pair = [number, number];

/** Runs the wasm kernel `name` directly (no engine bookkeeping, no tape). */
function run(
  backend: KernelBackend,
  name: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) {
    throw new RecallkitError('KERNEL_MISSING', `wasm kernel '${name}' is not registered`);
  }
  return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** Tracks intermediate results of one kernel so they are all released at the end. */
export class Scratch {
  private readonly held: TensorInfo[] = [];
  constructor(readonly backend: KernelBackend) {}

  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    return this.keep(run(this.backend, name, inputs, attrs));
  }

  /** Releases `info` with the rest at the end. */
  keep(info: TensorInfo): TensorInfo {
    this.held.push(info);
    return info;
  }

  /** Returns `result` to the caller: everything else created here is released. */
  finish(result: TensorInfo): TensorInfo {
    // A result may share its data with an intermediate (Reshape does): keep one reference.
    const index = this.held.lastIndexOf(result);
    if (index >= 0) this.held.splice(index, 1);
    for (const info of this.held) this.backend.disposeData(info.dataId);
    return result;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Pads (positive) or crops (negative) axes 1 and 2 of an NHWC tensor by [before, after]. */
  padOrCrop(x: TensorInfo, rows: Pair, cols: Pair): TensorInfo {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const crop = (v: number) => Math.max(0, -v);
    let out = x;
    if (rows.some((v) => v < 0) || cols.some((v) => v < 0)) {
      out = this.run(
        'Slice',
        { x: out },
        {
          begin: [0, crop(rows[0]), crop(cols[0]), 0],
          size: [n, h - crop(rows[0]) - crop(rows[1]), w - crop(cols[0]) - crop(cols[1]), c],
        },
      );
    }
    const pad = (v: number) => Math.max(0, v);
    if (rows.some((v) => v > 0) || cols.some((v) => v > 0)) {
      const paddings = [
        [0, 0],
        [pad(rows[0]), pad(rows[1])],
        [pad(cols[0]), pad(cols[1])],
        [0, 0],
      ];
      out = this.run('PadV2', { x: out }, { paddings, constantValue: 0 });
    }
    return out;
  }
}

export function requireChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new RecallkitError(
      'UNSUPPORTED_DATA_FORMAT',
      `${kernel} on wasm supports dataFormat 'NHWC' only, got '${String(dataFormat)}'`,
    );
  }
}

/**
 * The input rows (or columns) a filter gradient reads: `padBefore` zeros, then the input, cropped
 * or padded at the end so that exactly (filter - 1) * dilation + (out - 1) * stride + 1 remain.
 */
export function filterGradWindow(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  dilation: number,
  padBefore: number,
): Pair {
  const needed = (filterSize - 1) * dilation + (outSize - 1) * stride + 1;
  return [padBefore, needed - inSize - padBefore];
}

/** Each value followed by (stride - 1) zeros along rows and columns: [N, OH * sh, OW * sw, C]. */
function spreadByStride(s: Scratch, x: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return x;
  const [n, oh, ow, c] = x.shape as [number, number, number, number];
  const paddings = [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ];
  const spread = s.run('PadV2', { x: s.reshape(x, [n, oh, 1, ow, 1, c]) }, { paddings, constantValue: 0 });
  return s.reshape(spread, [n, oh * sh, ow * sw, c]);
}

/**
 * The input of a transposed convolution written as a plain one: `dy` upsampled by the stride
 * (each value followed by stride - 1 zeros) and padded so that a stride-1 correlation with the
 * spatially flipped filter (dilated as in the forward pass) yields exactly the input's size.
 */
export function transposedConvInput(
  s: Scratch,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [, oh, ow] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const up = spreadByStride(s, dy, sh, sw);
  const top = (info.filterHeight - 1) * dh - info.padInfo.top;
  const left = (info.filterWidth - 1) * dw - info.padInfo.left;
  const rows = info.inHeight + (info.filterHeight - 1) * dh;
  const cols = info.inWidth + (info.filterWidth - 1) * dw;
  return s.padOrCrop(up, [top, rows - top - oh * sh], [left, cols - left - ow * sw]);
}

export function callKernel(config: KernelConfig, { inputs, attrs, backend }: KernelArgs): TensorInfo {
  return config.kernelFunc({ inputs, attrs: attrs ?? {}, backend: backend as KernelBackend }) as TensorInfo;
}
