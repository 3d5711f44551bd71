import { tf } from '@recallkit/core';

/** E E^T. */
export function gramMatrix(e: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(e, e, false, true);
}
