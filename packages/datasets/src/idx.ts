import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { RecallkitError } from '@recallkit/core';

/** An IDX array (the format of the MNIST files): its shape and its values in row-major order. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

// IDX type codes (third byte of the magic number) and their element sizes.
const TYPES: Record<number, { name: string; bytes: number }> = {
  8: { name: 'uint8', bytes: 1 },
  9: { name: 'int8', bytes: 1 },
  11: { name: 'int16', bytes: 2 },
  12: { name: 'int32', bytes: 4 },
  13: { name: 'float32', bytes: 4 },
  14: { name: 'float64', bytes: 8 },
};

/** Parses IDX bytes (plain or gzip-compressed, detected by the gzip magic 1f 8b). `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new RecallkitError('IDX_CORRUPT', `${source}: gzip stream is corrupt (${(e as Error).message})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new RecallkitError(
      'IDX_CORRUPT',
      `${source}: not an IDX file (magic must start with two zero bytes)`,
    );
  }
  const type = TYPES[buf[2]!];
  if (!type) {
    throw new RecallkitError('IDX_CORRUPT', `${source}: unknown IDX element type 0x${buf[2]!.toString(16)}`);
  }
  const ndim = buf[3]!;
  const header = 4 + 4 * ndim;
  if (buf.length < header) {
    throw new RecallkitError('IDX_CORRUPT', `${source}: truncated header (${ndim} dimensions declared)`);
  }
  const shape = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = header + count * type.bytes;
  if (buf.length !== expected) {
    throw new RecallkitError(
      'IDX_CORRUPT',
      `${source}: ${buf.length} bytes, expected ${expected} for ${type.name} [${shape.join(', ')}]` +
        (buf.length < expected ? ' (truncated)' : ''),
    );
  }
  return { shape, data: decode(buf, header, count, buf[2]!) };
}

function decode(buf: Buffer, offset: number, count: number, code: number): IdxArray['data'] {
  switch (code) {
    case 0x08:
      return new Uint8Array(buf.subarray(offset, offset + count));
    case 0x09:
      return new Int8Array(buf.subarray(offset, offset + count));
    case 0x0b:
      return Int16Array.from({ length: count }, (_, i) => buf.readInt16BE(offset + 2 * i));
    case 0x0c:
      return Int32Array.from({ length: count }, (_, i) => buf.readInt32BE(offset + 4 * i));
    case 0x0d:
      return Float32Array.from({ length: count }, (_, i) => buf.readFloatBE(offset + 4 * i));
    default:
      return Float64Array.from({ length: count }, (_, i) => buf.readDoubleBE(offset + 8 * i));
  }
}

/** Reads an IDX file (plain or .gz). */
export function readIdx(path: string): IdxArray {
  if (!existsSync(path)) {
    throw new RecallkitError('DATASET_FILE_MISSING', `IDX file not found: ${path}`, { path });
  }
  return parseIdx(readFileSync(path), path);
}
