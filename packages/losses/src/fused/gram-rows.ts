import { tf } from '@recallkit/core';

/**
 * Row blocks of S = E E^T, requested in order, computing only the upper triangle: block [r0, r1)
 * multiplies its rows by columns r0.. only (about half the FLOPs of the full product overall) and
 * takes columns ..r0 from the blocks before it, by symmetry. The upper parts are kept until the
 * last block (about B^2 / 2 floats), so S is never held as a tensor.
 */
export function gramRowBlocks(e: tf.Tensor2D, eT: tf.Tensor2D): (r0: number, r1: number) => Float32Array {
  const n = e.shape[0];
  const upper: { r0: number; r1: number; data: Float32Array }[] = [];
  return (r0, r1) => {
    const rows = r1 - r0;
    const width = n - r0;
    const part = tf.tidy(() =>
      tf.matMul(tf.slice(e, [r0, 0], [rows, -1]), tf.slice(eT, [0, r0], [-1, width])),
    );
    const data = part.dataSync() as Float32Array;
    part.dispose();
    const out = new Float32Array(rows * n);
    for (let i = 0; i < rows; i++) out.set(data.subarray(i * width, (i + 1) * width), i * n + r0);
    for (const b of upper) {
      const w = n - b.r0;
      for (let j = b.r0; j < b.r1; j++) {
        const src = (j - b.r0) * w + (r0 - b.r0); // S[j][r0..r1) in block b's rows
        for (let i = 0; i < rows; i++) out[i * n + j] = b.data[src + i]!;
      }
    }
    upper.push({ r0, r1, data });
    return out;
  };
}
