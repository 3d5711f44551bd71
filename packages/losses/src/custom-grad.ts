import { tf } from '@recallkit/core';

/** `tf.customGrad` for a function of one tensor, with precise types. */
export function unaryCustomGrad<T extends tf.Tensor>(
  f: (
    x: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => { value: T; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor },
): (x: tf.Tensor) => T {
  type Arg = Parameters<typeof tf.customGrad>[0];
  return tf.customGrad(f as unknown as Arg) as unknown as (x: tf.Tensor) => T;
}
