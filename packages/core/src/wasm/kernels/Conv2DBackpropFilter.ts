/**
 * The filter gradient as a convolution of the input (channels as batch, batch as channels) with the
 * output gradient as filter, the roles of stride and dilation swapped, summed over chunks of the
 * batch. wasm 4.22 has no Conv2DBackpropFilter. Native where the kernels package is installed.
 */
import type {
  Conv2DBackpropFilterAttrs,
  KernelBackend,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { filterGradWindow, requireChannelsLast, Scratch } from '../compose';
import { conv2DBackpropFilterInfo } from '../conv-info';
import { type KernelArgs, sliceLeading } from '../heap';
import { preferNative } from '../native';
import type { WasmKernelConfig } from '../register';

function conv2DBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  requireChannelsLast('Conv2DBackpropFilter', a.dataFormat);
  const info = conv2DBackpropFilterInfo(x, a);
  const s = new Scratch(backend as KernelBackend);
  // XNNPACK's GEMM streams the whole reduction (N * OH * OW) per output tile, so a long one runs
  // from memory rather than cache: summing the gradients of batch chunks is faster.
  const n = info.batchSize;
  const chunk = Math.max(1, Math.ceil(FILTER_GRAD_CHUNK / (info.outHeight * info.outWidth)));
  if (n <= chunk) return s.finish(s.transpose(filterGradOfImages(s, x, dy, info), [1, 2, 0, 3]));
  const parts: TensorInfo[] = [];
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const xPart = s.keep(sliceLeading(backend as KernelBackend, x, start, count));
    const dyPart = s.keep(sliceLeading(backend as KernelBackend, dy, start, count));
    parts.push(filterGradOfImages(s, xPart, dyPart, info));
  }
  const grad = s.run('AddN', parts as unknown as NamedTensorInfoMap); // [Cin, FH, FW, Cout]
  return s.finish(s.transpose(grad, [1, 2, 0, 3]));
}

/** Rows of the output gradient (N * OH * OW) that one chunk's filter gradient sums over. */
const FILTER_GRAD_CHUNK = 6144;

/**
 * The filter gradient of a stack of images as one convolution: the input with channels as batch
 * and batch as channels, the output gradient as filter, stride and dilation swapped. [Cin, FH, FW, Cout].
 */
function filterGradOfImages(
  s: Scratch,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  // [N, H, W, Cin] -> [Cin, H, W, N]: input channels become the batch, the batch is summed over.
  const xT = s.transpose(x, [3, 1, 2, 0]);
  const rows = filterGradWindow(
    info.inHeight,
    info.outHeight,
    info.filterHeight,
    info.strideHeight,
    info.dilationHeight,
    info.padInfo.top,
  );
  const cols = filterGradWindow(
    info.inWidth,
    info.outWidth,
    info.filterWidth,
    info.strideWidth,
    info.dilationWidth,
    info.padInfo.left,
  );
  const xP = s.padOrCrop(xT, rows, cols);
  // [N, OH, OW, Cout] -> [OH, OW, N, Cout]: the output gradient is the filter.
  const dyT = s.transpose(dy, [1, 2, 0, 3]);
  return s.run(
    'Conv2D',
    { x: xP, filter: dyT },
    {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: 'valid',
      dataFormat: 'NHWC',
    },
  );
}

export const conv2DBackpropFilterConfig: WasmKernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  mode: 'add',
  kernelFunc: preferNative(tf.Conv2DBackpropFilter, conv2DBackpropFilter),
};
