/**
 * A reader for MATLAB level-5 MAT-files (versions 6 and 7: the default `save` format up to v7.3,
 * which is HDF5 and not handled). It covers what annotation files hold: numeric and logical
 * arrays, char arrays, cells and structs, compressed (miCOMPRESSED, v7) or not, either byte order.
 *
 * Layout (MathWorks, "MAT-File Format", level 5): a 128-byte header (116 bytes of text, 8 bytes of
 * subsystem offset, version 0x0100, endian indicator 'MI' as a 16-bit value) followed by data
 * elements. Each element has an 8-byte tag (uint32 type, uint32 byte count) and data padded to 8
 * bytes, or a "small element" packed in 8 bytes (uint16 count, uint16 type, 4 data bytes).
 * A variable is a miMATRIX element: array flags, dimensions, name, then the class's payload.
 *
 * No maintained MAT reader on npm fits (the one level-5 reader there is GPL-licensed and
 * unmaintained), hence this small one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { RecallkitError } from '@recallkit/core';

export type MatNumericData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A numeric or logical array; `data` is column-major, typed by the MATLAB class. */
export interface MatNumeric {
  kind: 'numeric';
  matlabClass: string;
  dims: number[];
  data: MatNumericData;
  imag?: MatNumericData;
  logical: boolean;
}
/** A char array; `rows` are its rows as strings (a 1 x n char array has one row). */
export interface MatChar {
  kind: 'char';
  dims: number[];
  rows: string[];
}
/** A cell array; `cells` are column-major. */
export interface MatCell {
  kind: 'cell';
  dims: number[];
  cells: MatValue[];
}
/** A struct array; `elements` are column-major, each a record of its fields. */
export interface MatStruct {
  kind: 'struct';
  dims: number[];
  fields: string[];
  elements: Record<string, MatValue>[];
}
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

// Data types (mi*) and array classes (mx*).
const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;
const MX_NAMES: Record<number, string> = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};
const MI_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 2,
  5: 4,
  6: 4,
  7: 4,
  9: 8,
  12: 8,
  13: 8,
  16: 1,
  17: 2,
  18: 4,
};

interface Element {
  type: number;
  data: Buffer;
}

class Reader {
  offset = 0;
  constructor(
    readonly buf: Buffer,
    readonly little: boolean,
    readonly source: string,
  ) {}

  fail(message: string): never {
    throw new RecallkitError('MAT_CORRUPT', `${this.source}: ${message}`);
  }

  u32(at: number): number {
    return this.little ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  get done(): boolean {
    return this.offset >= this.buf.length;
  }

  /** The next data element (small or regular), with the offset moved past its padding. */
  element(): Element {
    if (this.offset + 8 > this.buf.length) this.fail(`truncated element tag at byte ${this.offset}`);
    const first = this.u32(this.offset);
    const smallBytes = first >>> 16;
    if (smallBytes !== 0) {
      // Small element: byte count and type packed in the first 4 bytes, data in the next 4.
      const type = first & 0xffff;
      const data = this.buf.subarray(this.offset + 4, this.offset + 4 + smallBytes);
      this.offset += 8;
      return { type, data };
    }
    const bytes = this.u32(this.offset + 4);
    const start = this.offset + 8;
    if (start + bytes > this.buf.length)
      this.fail(`element at byte ${this.offset} runs past the end (truncated file)`);
    const data = this.buf.subarray(start, start + bytes);
    // Compressed elements are not padded; all others are padded to 8 bytes.
    this.offset = first === MI.COMPRESSED ? start + bytes : start + Math.ceil(bytes / 8) * 8;
    return { type: first, data };
  }
}

function numbers(r: Reader, el: Element): MatNumericData {
  const size = MI_SIZE[el.type];
  if (!size || el.type === MI.UTF8 || el.type === MI.UTF16 || el.type === MI.UTF32) {
    r.fail(`numeric data of type ${el.type} is not supported`);
  }
  const n = el.data.length / size;
  const view = new DataView(el.data.buffer, el.data.byteOffset, el.data.byteLength);
  const le = r.little;
  const read = {
    [MI.INT8]: () => Int8Array.from({ length: n }, (_, i) => view.getInt8(i)),
    [MI.UINT8]: () => Uint8Array.from(el.data),
    [MI.INT16]: () => Int16Array.from({ length: n }, (_, i) => view.getInt16(2 * i, le)),
    [MI.UINT16]: () => Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, le)),
    [MI.INT32]: () => Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, le)),
    [MI.UINT32]: () => Uint32Array.from({ length: n }, (_, i) => view.getUint32(4 * i, le)),
    [MI.SINGLE]: () => Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, le)),
    [MI.DOUBLE]: () => Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, le)),
    [MI.INT64]: () => BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(8 * i, le)),
    [MI.UINT64]: () => BigUint64Array.from({ length: n }, (_, i) => view.getBigUint64(8 * i, le)),
  }[el.type];
  return read ? read() : r.fail(`numeric data of type ${el.type} is not supported`);
}

/** Converts stored values to the array's own class (MATLAB stores e.g. a double array of small integers as uint8). */
function asClass(data: MatNumericData, cls: string): MatNumericData {
  const plain = Array.from(data as ArrayLike<number | bigint>, Number);
  switch (cls) {
    case 'double':
      return data instanceof Float64Array ? data : Float64Array.from(plain);
    case 'single':
      return data instanceof Float32Array ? data : Float32Array.from(plain);
    case 'int8':
      return Int8Array.from(plain);
    case 'uint8':
      return Uint8Array.from(plain);
    case 'int16':
      return Int16Array.from(plain);
    case 'uint16':
      return Uint16Array.from(plain);
    case 'int32':
      return Int32Array.from(plain);
    case 'uint32':
      return Uint32Array.from(plain);
    case 'int64':
      return data instanceof BigInt64Array ? data : BigInt64Array.from(plain, BigInt);
    default:
      return data instanceof BigUint64Array ? data : BigUint64Array.from(plain, BigInt);
  }
}

function text(r: Reader, el: Element): number[] {
  if (el.type === MI.UTF8) return Array.from(el.data.toString('utf8'), (c) => c.codePointAt(0)!);
  return Array.from(numbers(r, el) as ArrayLike<number>);
}

/** Parses one miMATRIX payload; returns the variable's name and value. */
function matrix(r: Reader, data: Buffer): { name: string; value: MatValue } {
  if (data.length === 0) {
    return {
      name: '',
      value: {
        kind: 'numeric',
        matlabClass: 'double',
        dims: [0, 0],
        data: new Float64Array(0),
        logical: false,
      },
    };
  }
  const sub = new Reader(data, r.little, r.source);
  const flags = sub.element();
  if (flags.data.length < 4) r.fail('array flags element is too short');
  const flagWord = r.little ? flags.data.readUInt32LE(0) : flags.data.readUInt32BE(0);
  const classCode = flagWord & 0xff;
  const cls = MX_NAMES[classCode] ?? r.fail(`unknown array class ${classCode}`);
  const complex = (flagWord & 0x800) !== 0;
  const logical = (flagWord & 0x200) !== 0;
  const dims = Array.from(numbers(r, sub.element()) as ArrayLike<number>, Number);
  const name = String.fromCodePoint(...text(r, sub.element()));
  const count = dims.reduce((a, b) => a * b, 1);
  if (cls === 'cell') {
    const cells = Array.from({ length: count }, () => {
      const el = sub.element();
      if (el.type !== MI.MATRIX) r.fail(`cell element of type ${el.type}, expected miMATRIX`);
      return matrix(r, el.data).value;
    });
    return { name, value: { kind: 'cell', dims, cells } };
  }
  if (cls === 'struct' || cls === 'object') {
    if (cls === 'object') sub.element(); // class name
    const fieldLength = Number((numbers(r, sub.element()) as ArrayLike<number>)[0]);
    const raw = sub.element().data;
    const fields = Array.from({ length: fieldLength ? raw.length / fieldLength : 0 }, (_, i) => {
      const bytes = raw.subarray(i * fieldLength, (i + 1) * fieldLength);
      const end = bytes.indexOf(0);
      return bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
    });
    const elements = Array.from({ length: count }, () => {
      const record: Record<string, MatValue> = {};
      for (const field of fields) {
        const el = sub.element();
        if (el.type !== MI.MATRIX) r.fail(`field '${field}' of type ${el.type}, expected miMATRIX`);
        record[field] = matrix(r, el.data).value;
      }
      return record;
    });
    return { name, value: { kind: 'struct', dims, fields, elements } };
  }
  if (cls === 'char') {
    const codes = count === 0 ? [] : text(r, sub.element());
    const [rows = 0, cols = 0] = dims;
    // Column-major: character (i, j) is codes[i + j * rows].
    const lines = Array.from({ length: rows }, (_, i) =>
      String.fromCodePoint(...Array.from({ length: cols }, (_, j) => codes[i + j * rows] ?? 0)),
    );
    return { name, value: { kind: 'char', dims, rows: lines } };
  }
  if (cls === 'sparse') r.fail(`variable '${name}': sparse arrays are not supported`);
  const real = asClass(numbers(r, sub.element()), cls);
  const value: MatNumeric = {
    kind: 'numeric',
    matlabClass: logical ? 'logical' : cls,
    dims,
    data: real,
    logical,
  };
  if (complex) value.imag = asClass(numbers(r, sub.element()), cls);
  return { name, value };
}

function inflate(data: Buffer, source: string): Buffer {
  try {
    return inflateSync(data);
  } catch (e) {
    throw new RecallkitError(
      'MAT_CORRUPT',
      `${source}: compressed variable does not inflate (${(e as Error).message})`,
    );
  }
}

/** Parses the bytes of a level-5 MAT-file into its variables. `source` names the file in errors. */
export function parseMat(bytes: Uint8Array, source = 'MAT-file'): Record<string, MatValue> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 128)
    throw new RecallkitError('MAT_CORRUPT', `${source}: shorter than the 128-byte MAT header`);
  const indicator = buf.toString('latin1', 126, 128);
  if (indicator !== 'IM' && indicator !== 'MI') {
    const head = buf.toString('latin1', 0, 8);
    throw new RecallkitError(
      'MAT_UNSUPPORTED',
      head.startsWith('\x89HDF') || buf.toString('latin1', 512, 516) === '\x89HDF'
        ? `${source}: MATLAB v7.3 (HDF5) files are not supported; re-save with save(..., '-v7')`
        : `${source}: not a level-5 MAT-file (no endian indicator at byte 126)`,
    );
  }
  const r = new Reader(buf, indicator === 'IM', source);
  r.offset = 128;
  const vars: Record<string, MatValue> = {};
  while (!r.done) {
    let el = r.element();
    if (el.type === MI.COMPRESSED) {
      el = new Reader(inflate(el.data, source), r.little, source).element();
    }
    if (el.type !== MI.MATRIX) continue; // e.g. padding or subsystem data
    const { name, value } = matrix(r, el.data);
    vars[name] = value;
  }
  return vars;
}

/** Reads a level-5 MAT-file from disk. */
export function readMat(path: string): Record<string, MatValue> {
  if (!existsSync(path))
    throw new RecallkitError('DATASET_FILE_MISSING', `MAT-file not found: ${path}`, { path });
  return parseMat(readFileSync(path), path);
}
