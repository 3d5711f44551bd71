import { tf } from './tf';

/**
 * tfjs frees the tensors that ops saved on the gradient tape only when the backward pass runs, so
 * an error that ends a forward pass leaks them. This frees them and empties the tape when the
 * engine is at gradient depth `depth` (0: after a failed `tf.grad` / `tf.valueAndGrad`, where the
 * tape was abandoned; 1: inside one, whose backward pass can then no longer run); at any other
 * depth the tape is still in use and is left alone.
 */
export function releaseActiveTape(depth: 0 | 1): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== depth || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  // Outside any gradient no tape records (null); inside one, recording goes on into an empty tape.
  state.activeTape = depth === 0 ? (null as unknown as typeof state.activeTape) : [];
}

/**
 * Runs the part of a custom-gradient forward pass that may fail; when it throws while a tape
 * records (and not inside a higher-order gradient), the tape's saved tensors are freed
 * (`releaseActiveTape(1)`) before the error goes on.
 */
export function releasingTapeOnError<T>(forward: () => T): T {
  try {
    return forward();
  } catch (error) {
    releaseActiveTape(1);
    throw error;
  }
}
