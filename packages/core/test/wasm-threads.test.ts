import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  assertNoTensorLeaks,
  createRng,
  describeBackend,
  isRecallkitError,
  tf,
  useBackend,
} from '../src/index';
import { createThreadedWasmBackend } from '../src/wasm/threads';

const rng = createRng('wasm-threads');
const normals = (n: number): Float32Array<ArrayBuffer> =>
  Float32Array.from({ length: n }, () => rng.normal());

// Inputs drawn once, so every backend computes on the same numbers.
const A = normals(200 * 300);
const B = normals(300 * 160);
const X = normals(6 * 20 * 20 * 8);
const W = normals(3 * 3 * 8 * 16);
const W2 = normals(3 * 3 * 16 * 12);
const R1 = normals(6 * 20 * 20 * 16);
const R2 = normals(6 * 9 * 9 * 12);

/** matMul, two conv2d (stride 1 'same', stride 2 'valid') and their gradients for x and filters. */
async function compute(): Promise<Record<string, Float32Array>> {
  return assertNoTensorLeaks(async () => {
    const a = tf.tensor2d(A, [200, 300]);
    const b = tf.tensor2d(B, [300, 160]);
    const x = tf.tensor4d(X, [6, 20, 20, 8]);
    const w = tf.tensor4d(W, [3, 3, 8, 16]);
    const w2 = tf.tensor4d(W2, [3, 3, 16, 12]);
    const r1 = tf.tensor4d(R1, [6, 20, 20, 16]);
    const r2 = tf.tensor4d(R2, [6, 9, 9, 12]);
    const mm = tf.matMul(a, b);
    const mmT = tf.tidy(() => tf.matMul(a, b.transpose(), false, true));
    const conv1 = tf.conv2d(x, w, 1, 'same');
    const conv2 = tf.conv2d(conv1, w2, 2, 'valid');
    const loss = (xi: tf.Tensor, wi: tf.Tensor, w2i: tf.Tensor) => {
      const h = tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same');
      const o = tf.conv2d(tf.relu(h), w2i as tf.Tensor4D, 2, 'valid');
      return tf.add(tf.sum(tf.mul(h, r1)), tf.sum(tf.mul(o, r2))) as tf.Scalar;
    };
    const [dx, dw, dw2] = tf.grads(loss)([x, w, w2]) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const named = { mm, mmT, conv1, conv2, dx, dw, dw2 };
    const out: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(named)) out[k] = (await t.data()) as Float32Array;
    tf.dispose([a, b, x, w, w2, r1, r2, ...Object.values(named)]);
    return out;
  });
}

function expectClose(got: Record<string, Float32Array>, ref: Record<string, Float32Array>, label: string) {
  for (const [k, r] of Object.entries(ref)) {
    const g = got[k] as Float32Array;
    expect(g.length, `${label} ${k}`).toBe(r.length);
    const scale = Math.max(...Array.from(r, Math.abs));
    expect(scale, `${label} ${k} is not all zero`).toBeGreaterThan(0);
    let err = 0;
    for (let i = 0; i < r.length; i++) err = Math.max(err, Math.abs((g[i] as number) - (r[i] as number)));
    expect(err / scale, `${label} ${k}`).toBeLessThan(1e-5);
  }
}

describe('wasm on several threads', () => {
  const saved = process.env['RECALLKIT_THREADS'];
  afterEach(() => {
    if (saved === undefined) delete process.env['RECALLKIT_THREADS'];
    else process.env['RECALLKIT_THREADS'] = saved;
  });

  it('matMul, conv2d and conv2d gradients on 2 and 3 threads equal 1-thread wasm and cpu', async () => {
    await useBackend('cpu');
    const cpu = await compute();
    await useBackend('wasm', { threads: 1 });
    expect(describeBackend().threads).toBe(1);
    const single = await compute();
    expectClose(single, cpu, 'wasm 1 thread vs cpu');
    for (const threads of [2, 3]) {
      await useBackend('wasm', { threads });
      expect(describeBackend().threads).toBe(threads);
      const threaded = await compute();
      expectClose(threaded, single, `wasm ${threads} threads vs 1 thread`);
      expectClose(threaded, cpu, `wasm ${threads} threads vs cpu`);
    }
  });

  it('reports the count asked for: option, RECALLKIT_THREADS, the cap of 8', async () => {
    await useBackend('wasm', { threads: 4 });
    let d = describeBackend();
    expect([d.threads, d.simd, d.threadsNote]).toEqual([4, true, undefined]);
    process.env['RECALLKIT_THREADS'] = '2';
    await useBackend('wasm');
    expect(describeBackend().threads).toBe(2);
    expect(await useBackend('wasm', { threads: 3 })).toBe('wasm'); // the option wins
    expect(describeBackend().threads).toBe(3);
    await useBackend('wasm', { threads: 12 });
    d = describeBackend();
    expect(d.threads).toBe(8);
    expect(d.threadsNote).toContain('at most 8');
    process.env['RECALLKIT_THREADS'] = 'many';
    const error = await useBackend('wasm').catch((e: unknown) => e);
    expect(isRecallkitError(error, 'INVALID_OPTION')).toBe(true);
    expect((error as Error).message).toContain('RECALLKIT_THREADS');
  });

  it('will not drop tensors to change the thread count', async () => {
    await useBackend('wasm', { threads: 2 });
    const kept = tf.ones([4]);
    const error = await useBackend('wasm', { threads: 1 }).catch((e: unknown) => e);
    expect(isRecallkitError(error, 'BACKEND_BUSY')).toBe(true);
    expect(describeBackend().threads).toBe(2);
    expect(Array.from(await kept.data())).toEqual([1, 1, 1, 1]);
    kept.dispose();
  });

  it('falls back to one thread, saying why, when the workers cannot start', async () => {
    const broken = new URL(
      `data:text/javascript,${encodeURIComponent("throw new Error('no workers here')")}`,
    );
    await expect(createThreadedWasmBackend(2, { workerUrl: broken })).rejects.toThrow('no workers here');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(await useBackend('wasm', { threads: 2, wasmOverrides: { workerUrl: broken } })).toBe('wasm');
      const d = describeBackend();
      expect(d.threads).toBe(1);
      expect(d.threadsNote).toContain('threaded wasm could not start (no workers here)');
      expect(String(warn.mock.calls[0]?.[0])).toContain('RECALLKIT_THREADS=1');
    } finally {
      warn.mockRestore();
    }
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
  });

  it('a script on the threaded backend exits by itself', async () => {
    const root = path.resolve(__dirname, '..');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', path.join(root, 'test/fixtures/threads-child.ts'), '2'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    clearTimeout(killer);
    expect(signal, `still running after 45 s: ${stderr}`).toBeNull();
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ threads: 2, finite: true });
  });
});
