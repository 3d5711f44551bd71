import { RecallkitError } from './errors';
import { tf } from './tf';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Selects and initialises a TensorFlow.js backend; see the package README for the order of preference. */
export async function useBackend(name?: BackendName): Promise<string> {
  const wanted = name ?? (process.env['RECALLKIT_BACKEND'] as BackendName | undefined) ?? 'wasm';
  const backend = wanted === 'tensorflow-gpu' ? 'tensorflow' : wanted;
  if (!(await tf.setBackend(backend))) {
    throw new RecallkitError(
      'BACKEND_UNAVAILABLE',
      `TensorFlow.js backend '${wanted}' could not be initialised`,
    );
  }
  await tf.ready();
  return tf.getBackend();
}
