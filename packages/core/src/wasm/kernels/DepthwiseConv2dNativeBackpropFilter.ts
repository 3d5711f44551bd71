/**
 * The depthwise filter gradient: every (sample, channel) pair becomes one channel of a depthwise
 * convolution over one image, summed over the batch. wasm 4.22 has none.
 */
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  KernelBackend,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { filterGradWindow, Scratch } from '../compose';
import type { KernelArgs } from '../heap';
import type { WasmKernelConfig } from '../register';

function depthwiseBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const { outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const m = info.outChannels / c;
  const s = new Scratch(backend as KernelBackend);
  // Every (sample, channel) pair becomes one channel of a depthwise convolution over one image.
  const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]);
  const rows = filterGradWindow(h, oh, fh, info.strideHeight, info.dilationHeight, info.padInfo.top);
  const cols = filterGradWindow(w, ow, fw, info.strideWidth, info.dilationWidth, info.padInfo.left);
  const xP = s.padOrCrop(xT, rows, cols);
  const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, m]);
  const grad = s.run(
    'DepthwiseConv2dNative',
    { x: xP, filter: dyT },
    {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: 'valid',
      dataFormat: 'NHWC',
    },
  ); // [1, FH, FW, N * C * M]
  const perSample = s.reshape(grad, [fh, fw, n, c * m]);
  const summed = n === 1 ? perSample : s.run('Sum', { x: perSample }, { axis: [2], keepDims: false });
  return s.finish(s.reshape(summed, [fh, fw, c, m]));
}

export const depthwiseConv2dNativeBackpropFilterConfig: WasmKernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  mode: 'add',
  kernelFunc: depthwiseBackpropFilter,
};
