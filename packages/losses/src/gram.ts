import { tf } from '@recallkit/core';

/**
 * E E^T. The transpose is materialised first: on the wasm backend `matMul(e, e, false, true)` takes
 * a slow path, about 10x slower than a plain product with the transposed copy.
 */
export function gramMatrix(e: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(e, tf.transpose(e)));
}
