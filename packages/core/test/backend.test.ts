import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeBackend } from '../src/backend';
import { describeBackend, RecallkitError, tf, useBackend } from '../src/index';

function notFound(id: string): Error {
  return Object.assign(new Error(`Cannot find package '${id}' imported from /app/index.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

async function codeOf(promise: Promise<unknown>): Promise<RecallkitError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RecallkitError) return error;
    throw error;
  }
  throw new Error('expected a RecallkitError');
}

describe('useBackend', () => {
  const saved = process.env['RECALLKIT_BACKEND'];
  afterEach(() => {
    if (saved === undefined) delete process.env['RECALLKIT_BACKEND'];
    else process.env['RECALLKIT_BACKEND'] = saved;
  });

  it('initialises wasm and computes on it', async () => {
    expect(await useBackend('wasm')).toBe('wasm');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
  });

  it('names the install command when a native backend is not installed', async () => {
    for (const [name, pkg] of [
      ['tensorflow', '@tensorflow/tfjs-node'],
      ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
    ] as const) {
      const error = await codeOf(
        useBackend(name, {
          importer: async (id) => {
            throw notFound(id);
          },
        }),
      );
      expect(error.code).toBe('BACKEND_NOT_INSTALLED');
      expect(error.message).toContain(`npm install ${pkg}`);
    }
  });

  it('tells an installed-but-broken native package from a missing one', async () => {
    const error = await codeOf(
      loadNativeBackend('tensorflow', async () => {
        throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found');
      }),
    );
    expect(error.code).toBe('BACKEND_LOAD_FAILED');
    expect(error.message).toContain('tfjs_binding.node');
    expect(error.message).toContain('npm install @tensorflow/tfjs-node');
  });

  it('a missing dependency of the native package is not reported as the package missing', async () => {
    const error = await codeOf(
      loadNativeBackend('tensorflow', async () => {
        throw notFound('some-other-dep');
      }),
    );
    expect(error.code).toBe('BACKEND_LOAD_FAILED');
  });

  it('falls back in order tensorflow-gpu, tensorflow, wasm when natives are missing', async () => {
    const tried: string[] = [];
    const chosen = await useBackend(undefined, {
      importer: async (id) => {
        tried.push(id);
        throw notFound(id);
      },
    });
    expect(tried).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    expect(chosen).toBe('wasm');
    const description = describeBackend();
    expect(description.backend).toBe('wasm');
    expect(description.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(description.skipped[0]?.reason).toContain('npm install @tensorflow/tfjs-node-gpu');
  });

  it('RECALLKIT_BACKEND overrides the order, an argument overrides the variable', async () => {
    process.env['RECALLKIT_BACKEND'] = 'cpu';
    expect(await useBackend()).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await useBackend('wasm')).toBe('wasm');
    process.env['RECALLKIT_BACKEND'] = 'tpu';
    const error = await codeOf(useBackend());
    expect(error.code).toBe('UNKNOWN_BACKEND');
    expect(error.message).toContain('RECALLKIT_BACKEND');
    expect(error.message).toContain('wasm');
  });

  it("describes wasm: SIMD, threads (by default the machine's cores), versions", async () => {
    const savedThreads = process.env['RECALLKIT_THREADS'];
    delete process.env['RECALLKIT_THREADS'];
    try {
      await useBackend('wasm');
    } finally {
      if (savedThreads !== undefined) process.env['RECALLKIT_THREADS'] = savedThreads;
    }
    const d = describeBackend();
    expect(d.tfBackend).toBe('wasm');
    expect(d.package).toBe('@tensorflow/tfjs-backend-wasm');
    expect(typeof d.simd).toBe('boolean');
    expect(d.threads).toBe(Math.min(availableParallelism(), 8));
    expect(d.versions['@tensorflow/tfjs-core']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(d.versions['@tensorflow/tfjs-backend-wasm']).toBe(d.versions['@tensorflow/tfjs-core']);
  });
});
