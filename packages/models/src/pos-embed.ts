import { RecallkitError } from '@recallkit/core';

/**
 * How a position embedding is resampled to another patch grid, each as PyTorch's F.interpolate
 * (align_corners=False) computes it:
 * - 'bicubic-antialias': bicubic with antialias=True (Keys' kernel with a = -0.5, widened when
 *   shrinking), what timm >= 0.9 does when it loads pretrained weights at another image size;
 * - 'bicubic': plain bicubic (a = -0.75, edge samples repeated): timm 0.5 to 0.6;
 * - 'bilinear': timm 0.4.12, the version the RS@k authors' code pins.
 */
export type PositionResample = 'bicubic-antialias' | 'bicubic' | 'bilinear';

export const POSITION_RESAMPLES: readonly PositionResample[] = ['bicubic-antialias', 'bicubic', 'bilinear'];

const cubic1 = (x: number, a: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
const cubic2 = (x: number, a: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;

/** Row `o` holds the weights of the input samples that output sample `o` mixes: an [output x input] matrix. */
function axisWeights(input: number, output: number, mode: PositionResample): Float64Array {
  const w = new Float64Array(output * input);
  const scale = input / output;
  const clamp = (i: number) => Math.min(Math.max(i, 0), input - 1);
  for (let o = 0; o < output; o++) {
    const row = o * input;
    if (mode === 'bilinear') {
      const source = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.floor(source);
      const i1 = i0 < input - 1 ? i0 + 1 : i0;
      const t = source - i0;
      w[row + i0]! += 1 - t;
      w[row + i1]! += t;
    } else if (mode === 'bicubic') {
      const source = scale * (o + 0.5) - 0.5;
      const i = Math.floor(source);
      const t = source - i;
      const a = -0.75;
      const coefficients = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)];
      for (let k = 0; k < 4; k++) w[row + clamp(i - 1 + k)]! += coefficients[k]!;
    } else {
      // PyTorch's separable antialiased kernel (_upsample_bicubic2d_aa), as PIL: the support grows
      // with the scale when shrinking, and the weights are normalised to sum to one.
      const support = scale >= 1 ? 2 * scale : 2;
      const invScale = scale >= 1 ? 1 / scale : 1;
      const centre = scale * (o + 0.5);
      const first = Math.max(Math.trunc(centre - support + 0.5), 0);
      const end = Math.min(Math.trunc(centre + support + 0.5), input);
      let total = 0;
      for (let j = first; j < end; j++) {
        const x = Math.abs((j - centre + 0.5) * invScale);
        const value = x < 1 ? cubic1(x, -0.5) : x < 2 ? cubic2(x, -0.5) : 0;
        w[row + j] = value;
        total += value;
      }
      if (total !== 0) for (let j = first; j < end; j++) w[row + j]! /= total;
    }
  }
  return w;
}

export interface ResamplePositionEmbeddingOptions {
  /** The grid of the stored embedding, [rows, columns] of patches. */
  from: [number, number];
  /** The grid wanted. */
  to: [number, number];
  /** Channels per token. */
  channels: number;
  /** Tokens before the grid that are kept as they are (default 1: the class token). */
  prefixTokens?: number;
  /** Default 'bicubic-antialias'. */
  mode?: PositionResample;
}

/**
 * Resamples a ViT's position embedding ([prefix + rows * columns] tokens x channels, row-major) to
 * another patch grid as timm does: the prefix (class token) embeddings are kept, the grid part is
 * interpolated as an image with one plane per channel.
 */
export function resamplePositionEmbedding(
  embedding: Float32Array,
  options: ResamplePositionEmbeddingOptions,
): Float32Array {
  const { from, to, channels } = options;
  const prefix = options.prefixTokens ?? 1;
  const mode = options.mode ?? 'bicubic-antialias';
  if (!POSITION_RESAMPLES.includes(mode)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `resamplePositionEmbedding: mode must be one of ${POSITION_RESAMPLES.join(', ')}, got ${JSON.stringify(mode)}`,
    );
  }
  const [h0, w0] = from;
  const [h1, w1] = to;
  if (embedding.length !== (prefix + h0 * w0) * channels) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `resamplePositionEmbedding: ${embedding.length} values are not ${prefix} + ${h0} x ${w0} tokens of ${channels} channels`,
    );
  }
  const rows = axisWeights(h0, h1, mode);
  const columns = axisWeights(w0, w1, mode);
  const grid = embedding.subarray(prefix * channels);
  // Columns first: [h0, w0, C] -> [h0, w1, C], then rows: -> [h1, w1, C].
  const wide = new Float64Array(h0 * w1 * channels);
  for (let r = 0; r < h0; r++) {
    for (let o = 0; o < w1; o++) {
      const out = (r * w1 + o) * channels;
      for (let j = 0; j < w0; j++) {
        const weight = columns[o * w0 + j]!;
        if (weight === 0) continue;
        const src = (r * w0 + j) * channels;
        for (let c = 0; c < channels; c++) wide[out + c]! += weight * grid[src + c]!;
      }
    }
  }
  const result = new Float32Array((prefix + h1 * w1) * channels);
  result.set(embedding.subarray(0, prefix * channels));
  const body = new Float64Array(h1 * w1 * channels);
  for (let o = 0; o < h1; o++) {
    for (let i = 0; i < h0; i++) {
      const weight = rows[o * h0 + i]!;
      if (weight === 0) continue;
      for (let col = 0; col < w1; col++) {
        const out = (o * w1 + col) * channels;
        const src = (i * w1 + col) * channels;
        for (let c = 0; c < channels; c++) body[out + c]! += weight * wide[src + c]!;
      }
    }
  }
  result.set(body, prefix * channels);
  return result;
}
