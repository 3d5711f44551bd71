import { open } from 'node:fs/promises';
import { RecallkitError, writeFileAtomic } from '@recallkit/core';

/** The array types `.npy` files are read into and written from. */
export type NpyArray = Float32Array | Int32Array | BigInt64Array;
export type NpyDtype = 'float32' | 'int32' | 'int64';

export interface Npy {
  data: NpyArray;
  shape: number[];
  dtype: NpyDtype;
}

const MAGIC = '\x93NUMPY';
const DESCR: Record<NpyDtype, string> = { float32: '<f4', int32: '<i4', int64: '<i8' };
const BYTES: Record<NpyDtype, number> = { float32: 4, int32: 4, int64: 8 };

function bad(path: string, why: string): RecallkitError {
  return new RecallkitError('NPY_BAD_FILE', `${path}: ${why}`, { path });
}

function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new RecallkitError('NPY_HOST_ENDIANNESS', '.npy support needs a little-endian host');
  }
}

/** Parses the Python-literal header dict, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }`. */
function parseHeader(path: string, header: string): { dtype: NpyDtype; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(path, `malformed header ${JSON.stringify(header.trim())}`);
  }
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((d) => DESCR[d] === descr);
  if (dtype === undefined) {
    throw new RecallkitError(
      'NPY_UNSUPPORTED_DTYPE',
      `${path}: dtype '${descr}' is not supported (supported: little-endian float32 '<f4', int32 '<i4', int64 '<i8')`,
      { path, descr },
    );
  }
  if (fortran === 'True') {
    throw new RecallkitError('NPY_UNSUPPORTED_ORDER', `${path}: Fortran-ordered arrays are not supported`, {
      path,
    });
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw bad(path, `bad shape entry '${s}'`);
      return Number(s);
    });
  return { dtype, shape };
}

/** Reads a C-ordered, little-endian `.npy` file of float32, int32 or int64 values. */
export async function readNpy(path: string): Promise<Npy> {
  assertLittleEndianHost();
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new RecallkitError('NPY_READ_FAILED', `${path}: cannot open (${error.code ?? error.message})`, {
      path,
    });
  });
  try {
    const size = (await file.stat()).size;
    const pre = Buffer.alloc(12);
    const { bytesRead } = await file.read(pre, 0, 12, 0);
    if (bytesRead < 10 || pre.toString('latin1', 0, 6) !== MAGIC)
      throw bad(path, 'not a .npy file (bad magic)');
    const major = pre[6];
    let headerLength: number;
    let headerStart: number;
    if (major === 1) {
      headerLength = pre.readUInt16LE(8);
      headerStart = 10;
    } else if (major === 2 || major === 3) {
      if (bytesRead < 12) throw bad(path, 'truncated header');
      headerLength = pre.readUInt32LE(8);
      headerStart = 12;
    } else {
      throw bad(path, `unsupported .npy format version ${major}`);
    }
    if (headerStart + headerLength > size) throw bad(path, 'truncated header');
    const headerBytes = Buffer.alloc(headerLength);
    await file.read(headerBytes, 0, headerLength, headerStart);
    const { dtype, shape } = parseHeader(path, headerBytes.toString(major === 3 ? 'utf8' : 'latin1'));
    const count = shape.reduce((a, b) => a * b, 1);
    const dataStart = headerStart + headerLength;
    const expected = count * BYTES[dtype];
    if (size - dataStart !== expected) {
      throw bad(path, `holds ${size - dataStart} data bytes, shape (${shape.join(', ')}) needs ${expected}`);
    }
    const data =
      dtype === 'float32'
        ? new Float32Array(count)
        : dtype === 'int32'
          ? new Int32Array(count)
          : new BigInt64Array(count);
    // read straight into the typed array: no second copy of large embedding files
    const view = new Uint8Array(data.buffer);
    let done = 0;
    while (done < expected) {
      const chunk = Math.min(expected - done, 1 << 30);
      const { bytesRead: got } = await file.read(view, done, chunk, dataStart + done);
      if (got === 0) throw bad(path, 'unexpected end of file');
      done += got;
    }
    return { data, shape, dtype };
  } finally {
    await file.close();
  }
}

function dtypeOf(array: NpyArray): NpyDtype {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof BigInt64Array) return 'int64';
  throw new RecallkitError(
    'NPY_UNSUPPORTED_DTYPE',
    'writeNpy takes a Float32Array, Int32Array or BigInt64Array',
  );
}

/** The `.npy` header (format 1.0, padded so the data starts on a 64-byte boundary) for `array`. */
function npyHeader(array: NpyArray, shape: readonly number[]): Buffer {
  assertLittleEndianHost();
  const dtype = dtypeOf(array);
  if (!shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new RecallkitError('NPY_BAD_SHAPE', `shape (${shape.join(', ')}) must be non-negative integers`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== array.length) {
    throw new RecallkitError(
      'NPY_BAD_SHAPE',
      `shape (${shape.join(', ')}) holds ${count} values but the array has ${array.length}`,
    );
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += `${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write(MAGIC, 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}

/**
 * Writes `array` with `shape` (default: one dimension) as a `.npy` file, atomically: the bytes go to
 * a temporary file in the same directory, which is then renamed over `path`.
 */
export async function writeNpy(path: string, array: NpyArray, shape?: readonly number[]): Promise<void> {
  const header = npyHeader(array, shape ?? [array.length]);
  try {
    await writeFileAtomic(path, [header, new Uint8Array(array.buffer, array.byteOffset, array.byteLength)]);
  } catch (error) {
    throw new RecallkitError(
      'NPY_WRITE_FAILED',
      `${path}: cannot write (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      { path },
    );
  }
}
