import { RecallkitError } from './errors';
import { tf } from './tf';

/**
 * Class labels, one per row of embeddings: a 1-D tensor, an Int32Array, a BigInt64Array (as
 * int64 `.npy` files hold them) or a plain array of 32-bit integers.
 */
export type Labels = tf.Tensor1D | Int32Array | BigInt64Array | ArrayLike<number>;

/**
 * `labels` as an Int32Array, checked: 1-D, `rows` entries where `rows` is given, each a 32-bit
 * integer. The one label validator of every package: throws INVALID_LABELS naming `what` (the
 * argument, e.g. 'labels' or 'options.galleryLabels') and the entry at fault.
 */
export function labelArray(labels: Labels, what = 'labels', rows?: number): Int32Array {
  let values: ArrayLike<number | bigint>;
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1) {
      throw new RecallkitError('INVALID_LABELS', `${what} must be a 1-D tensor, got shape [${labels.shape}]`);
    }
    values = labels.dataSync();
  } else if (labels !== null && typeof labels === 'object' && typeof labels.length === 'number') {
    values = labels;
  } else {
    throw new RecallkitError(
      'INVALID_LABELS',
      `${what} must be a tf.Tensor1D, Int32Array, BigInt64Array or number[], got ${labels === null ? 'null' : typeof labels}`,
    );
  }
  if (rows !== undefined && values.length !== rows) {
    throw new RecallkitError(
      'INVALID_LABELS',
      `${what} has ${values.length} entries for ${rows} embedding rows`,
    );
  }
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) {
      throw new RecallkitError(
        'INVALID_LABELS',
        `${what}[${i}] = ${String(v)} is not a 32-bit integer label`,
      );
    }
    out[i] = n;
  }
  return out;
}
