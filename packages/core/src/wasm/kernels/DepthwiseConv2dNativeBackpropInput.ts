/**
 * The depthwise input gradient: a depthwise convolution of the zero-upsampled output gradient with
 * the spatially flipped filter. wasm 4.22 has none.
 */
import type {
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelBackend,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { Scratch, transposedConvInput } from '../compose';
import type { KernelArgs } from '../heap';
import type { WasmKernelConfig } from '../register';

function depthwiseBackpropInput({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const [n, h, w, c] = inputShape as [number, number, number, number];
  const { filterHeight: fh, filterWidth: fw, dilationHeight: dh, dilationWidth: dw } = info;
  const cm = info.outChannels;
  const s = new Scratch(backend as KernelBackend);
  const upP = transposedConvInput(s, dy, info);
  const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [fh, fw, cm, 1]);
  const grad = s.run(
    'DepthwiseConv2dNative',
    { x: upP, filter: flipped },
    { strides: [1, 1], dilations: [dh, dw], pad: 'valid', dataFormat: 'NHWC' },
  ); // [N, H, W, C * M]
  if (cm === c) return s.finish(grad);
  const perMultiplier = s.reshape(grad, [n, h, w, c, cm / c]);
  return s.finish(s.run('Sum', { x: perMultiplier }, { axis: [4], keepDims: false }));
}

export const depthwiseConv2dNativeBackpropInputConfig: WasmKernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  mode: 'add',
  kernelFunc: depthwiseBackpropInput,
};
