/**
 * The geometry (tfjs's Conv2DInfo) of each convolution and pooling kernel that Recallkit computes on
 * wasm, from the kernel's own inputs and attributes: one place for the wasm compositions and the
 * native kernels.
 */
import type {
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  MaxPoolGradAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { tf } from '../tf';

type Shape4 = [number, number, number, number];

/** Conv2D and FusedConv2D (channels-last or channels-first, as the attributes say). */
export function conv2DInfo(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DAttrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
}

/** Conv2DBackpropInput: the forward convolution's geometry (tfjs's gradients have no dilation). */
export function conv2DBackpropInputInfo(
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
}

/** Conv2DBackpropFilter: the forward convolution's geometry. */
export function conv2DBackpropFilterInfo(
  x: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
}

/** MaxPoolGrad: the forward pooling's geometry. */
export function maxPoolGradInfo(input: TensorInfo, attrs: MaxPoolGradAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}
