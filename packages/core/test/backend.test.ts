import { describe, expect, it } from 'vitest';
import { RecallkitError, tf, useBackend } from '../src/index';

describe('useBackend', () => {
  it('initialises wasm and computes on it', async () => {
    expect(await useBackend('wasm')).toBe('wasm');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
  });

  it('carries a stable code on its errors', () => {
    const e = new RecallkitError('X_CODE', 'message');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('X_CODE');
  });
});
