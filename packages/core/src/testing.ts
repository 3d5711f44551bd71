/** Helpers for tests in every Recallkit package. */
import { RecallkitError } from './errors';
import { tf } from './tf';

/**
 * Runs `fn` (sync or async) and throws TENSOR_LEAK if it leaves more tensors alive than before
 * (`tf.memory().numTensors`), or more data buffers on the backend. Returns `fn`'s result; when
 * the result holds tensors, say how many with `allowed`.
 */
export async function assertNoTensorLeaks<T>(
  fn: () => T | Promise<T>,
  options: { allowed?: number } = {},
): Promise<T> {
  const allowed = options.allowed ?? 0;
  const tensorsBefore = tf.memory().numTensors;
  const buffersBefore = tf.engine().backend.numDataIds();
  const result = await fn();
  const tensorsAfter = tf.memory().numTensors;
  const buffersAfter = tf.engine().backend.numDataIds();
  if (tensorsAfter - tensorsBefore > allowed) {
    throw new RecallkitError(
      'TENSOR_LEAK',
      `${tensorsAfter - tensorsBefore} tensor(s) leaked (${tensorsBefore} before, ${tensorsAfter} after, ${allowed} allowed)`,
      { tensorsBefore, tensorsAfter, allowed },
    );
  }
  if (buffersAfter - buffersBefore > allowed) {
    throw new RecallkitError(
      'TENSOR_LEAK',
      `${buffersAfter - buffersBefore} backend buffer(s) leaked on '${tf.getBackend()}' (${buffersBefore} before, ${buffersAfter} after, ${allowed} allowed)`,
      { buffersBefore, buffersAfter, allowed },
    );
  }
  return result;
}
