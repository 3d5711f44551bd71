import { tf, useBackend } from '@recallkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gramBackward, SPARSE_RATIO } from '../src/fused/index';
import { maxAbsDiff, seeded } from './brute';

beforeAll(async () => {
  await useBackend('wasm');
});

/** (G + G^T) E by plain float64 loops: the value every path of gramBackward must produce. */
function reference(g: Float32Array, e: Float32Array, n: number, dim: number): Float64Array {
  const out = new Float64Array(n * dim);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const h = g[i * n + j]! + g[j * n + i]!;
      for (let c = 0; c < dim; c++) out[i * dim + c]! += h * e[j * dim + c]!;
    }
  return out;
}

describe('d loss / d E from the kernel output G', () => {
  const dim = 7;
  const rand = seeded(41);

  it.each([
    ['dense (row blocks)', 60, 1, 1],
    ['row-sparse (two small products)', 60, 0.15, 1],
    ['entrywise sparse (plain JS)', 400, 1, 0.004],
  ])('%s', (name, n, rowShare, entryShare) => {
    const e = Float32Array.from({ length: n * dim }, () => rand() - 0.5);
    const g = new Float32Array(n * n);
    const rowTouched = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (rand() >= rowShare && i !== 0) continue;
      rowTouched[i] = 1;
      for (let j = 0; j < n; j++) if (rand() < entryShare || j === i) g[i * n + j] = rand() - 0.5;
    }
    let [touched, nonZero] = [0, 0];
    for (let i = 0; i < n; i++) touched += rowTouched[i]!;
    for (let i = 0; i < n * n; i++) if (g[i] !== 0) nonZero++;
    expect(nonZero * SPARSE_RATIO < touched * n).toBe(name.startsWith('entrywise'));
    const x = tf.tensor2d(e, [n, dim]);
    const got = gramBackward({ loss: 0, grad: g, rowTouched }, x, 25 * n);
    expect(maxAbsDiff(got.dataSync(), reference(g, e, n, dim))).toBeLessThan(1e-5);
    tf.dispose([x, got]);
  });
});
