import { RecallkitError } from './errors';
import { tf } from './tf';

/**
 * How a loss or SiMix computes, one switch for every package: 'fused' in JavaScript (or worker
 * threads) on typed arrays read back from the backend, with a hand-written gradient — fast on
 * `wasm` and `cpu`; 'composite' as tfjs ops, differentiated by tfjs — the data stays on a GPU
 * backend. 'auto' picks 'fused' on `wasm` and `cpu` and 'composite' elsewhere.
 */
export type Implementation = 'fused' | 'composite';

/** The implementation `wanted` ('auto' or undefined: by backend); INVALID_OPTION naming `what` otherwise. */
export function chooseImplementation(
  wanted: Implementation | 'auto' | undefined,
  what: string,
): Implementation {
  if (wanted === undefined || wanted === 'auto') {
    const backend = tf.getBackend();
    return backend === 'wasm' || backend === 'cpu' ? 'fused' : 'composite';
  }
  if (wanted !== 'fused' && wanted !== 'composite') {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${what} must be 'auto', 'fused' or 'composite', got '${String(wanted)}'`,
    );
  }
  return wanted;
}
