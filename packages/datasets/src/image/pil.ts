/**
 * Pillow's 8-bit integer arithmetic for the two operations of the emoji protocol, so that pixels
 * equal those of the PyTorch peer (PIL 9): `Image.alpha_composite` over an opaque white image,
 * then `convert('RGB')`, and `Image.resize(size, Image.BILINEAR)` (separable triangle filter
 * widened by the scale when shrinking, 22-bit fixed-point weights, horizontal pass first).
 */

/** RGBA (straight alpha) composited over opaque white, as Pillow's ImagingAlphaComposite; returns RGB. */
export function compositeOnWhite(rgba: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  const div255 = (a: number) => ((a >>> 8) + a) >>> 8; // SHIFTFORDIV255
  const bits = 7; // Pillow's PRECISION_BITS for alpha compositing
  for (let p = 0; p < pixels; p++) {
    const a = rgba[p * 4 + 3]!;
    if (a === 0) {
      out[p * 3] = 255;
      out[p * 3 + 1] = 255;
      out[p * 3 + 2] = 255;
      continue;
    }
    // dst = (255, 255, 255, 255): blend = 255 * (255 - a), outA255 = a * 255 + blend.
    const outA255 = a * 255 + 255 * (255 - a);
    const coef1 = Math.floor((a * 255 * 255 * (1 << bits)) / outA255);
    const coef2 = 255 * (1 << bits) - coef1;
    for (let c = 0; c < 3; c++) {
      const tmp = rgba[p * 4 + c]! * coef1 + 255 * coef2;
      out[p * 3 + c] = div255(tmp + (0x80 << bits)) >>> bits;
    }
  }
  return out;
}

const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1). */
function coefficients(
  inSize: number,
  outSize: number,
): { bounds: Int32Array; weights: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] =
        w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(v: number): number {
  if (v >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/** Pillow's `resize((width, height), BILINEAR)` of an 8-bit RGB image (horizontal pass, then vertical). */
export function resizeBilinear(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  let src = rgb;
  let w = width;
  if (outWidth !== width) {
    const { bounds, weights, ksize } = coefficients(width, outWidth);
    const tmp = new Uint8Array(outWidth * height * 3);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        for (let c = 0; c < 3; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++)
            ss += src[(y * width + x + xmin) * 3 + c]! * weights[xx * ksize + x]!;
          tmp[(y * outWidth + xx) * 3 + c] = clip8(ss);
        }
      }
    }
    src = tmp;
    w = outWidth;
  }
  if (outHeight === height) return src === rgb ? rgb.slice() : src;
  const { bounds, weights, ksize } = coefficients(height, outHeight);
  const out = new Uint8Array(w * outHeight * 3);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src[((y + ymin) * w + x) * 3 + c]! * weights[yy * ksize + y]!;
        out[(yy * w + x) * 3 + c] = clip8(ss);
      }
    }
  }
  return out;
}
