import { readFile } from 'node:fs/promises';
import { RecallkitError } from '@recallkit/core';

export interface StoredTensor {
  dtype: string;
  shape: number[];
  /** The values widened to float32 (integer tensors too). */
  data: Float32Array;
}

const WIDTH: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function decode(dtype: string, bytes: Buffer, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32':
        out[i] = view.getFloat32(4 * i, true);
        break;
      case 'F64':
        out[i] = view.getFloat64(8 * i, true);
        break;
      case 'F16':
        out[i] = halfToFloat(view.getUint16(2 * i, true));
        break;
      case 'BF16':
        out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0]!;
        break;
      case 'I64':
        out[i] = Number(view.getBigInt64(8 * i, true));
        break;
      case 'I32':
        out[i] = view.getInt32(4 * i, true);
        break;
      case 'I16':
        out[i] = view.getInt16(2 * i, true);
        break;
      case 'I8':
        out[i] = view.getInt8(i);
        break;
      default:
        out[i] = view.getUint8(i);
    }
  }
  return out;
}

/**
 * Reads a .safetensors file (8-byte little-endian header size, JSON header, raw little-endian data),
 * the format PyTorch checkpoints are published in on the Hugging Face hub.
 */
export async function readSafetensors(path: string): Promise<Map<string, StoredTensor>> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (error) {
    throw new RecallkitError('SAFETENSORS_READ', `cannot read ${path}: ${(error as Error).message}`);
  }
  const bad = (why: string) =>
    new RecallkitError('INVALID_SAFETENSORS', `${path} is not a safetensors file: ${why}`);
  if (file.length < 8) throw bad('shorter than its 8-byte header size');
  const headerSize = Number(file.readBigUInt64LE(0));
  if (headerSize > file.length - 8) throw bad(`header size ${headerSize} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(file.subarray(8, 8 + headerSize).toString('utf8'));
  } catch {
    throw bad('the header is not JSON');
  }
  const body = file.subarray(8 + headerSize);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const width = WIDTH[entry.dtype];
    if (width === undefined) throw bad(`tensor '${name}' has unsupported dtype ${entry.dtype}`);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = entry.data_offsets;
    if (end - begin !== count * width || end > body.length) {
      throw bad(
        `tensor '${name}' (${entry.dtype} [${entry.shape}]) has byte range [${begin}, ${end}) of the wrong size`,
      );
    }
    tensors.set(name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: decode(entry.dtype, body.subarray(begin, end), count),
    });
  }
  return tensors;
}
