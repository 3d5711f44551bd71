import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type MatNumeric, type MatStruct, parseMat } from '../src/mat';

const nums = (v: unknown) => Array.from((v as MatNumeric).data as ArrayLike<number>);
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cars196');

// A level-5 writer for the test, following the MathWorks layout by hand, in either byte order.
function writer(little: boolean) {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    little ? b.writeUInt32LE(v) : b.writeUInt32BE(v);
    return b;
  };
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
  const element = (type: number, data: Buffer) => Buffer.concat([u32(type), u32(data.length), pad(data)]);
  const small = (type: number, data: Buffer) => {
    // small data element: [bytes:16 | type:16] then 4 data bytes
    const head = Buffer.alloc(4);
    little ? head.writeUInt16LE(type, 0) : head.writeUInt16BE(data.length, 0);
    little ? head.writeUInt16LE(data.length, 2) : head.writeUInt16BE(type, 2);
    return Buffer.concat([head, data, Buffer.alloc(4 - data.length)]);
  };
  const int32s = (xs: number[]) =>
    Buffer.concat(
      xs.map((x) => {
        const b = Buffer.alloc(4);
        little ? b.writeInt32LE(x) : b.writeInt32BE(x);
        return b;
      }),
    );
  const matrix = (cls: number, dims: number[], name: string, payload: Buffer[]) =>
    element(
      14,
      Buffer.concat([
        element(6, Buffer.concat([u32(cls), u32(0)])),
        element(5, int32s(dims)),
        name ? element(1, Buffer.from(name)) : element(1, Buffer.alloc(0)),
        ...payload,
      ]),
    );
  const header = () => {
    const h = Buffer.alloc(128, 32);
    h.write('MATLAB 5.0 MAT-file, written by a test', 0, 'latin1');
    h.writeUInt16LE(0x0100, 124);
    h.write(little ? 'IM' : 'MI', 126, 'latin1');
    return h;
  };
  return { element, small, matrix, header, int32s };
}

describe('MAT level-5 reader', () => {
  for (const little of [true, false]) {
    it(`reads a hand-written ${little ? 'little' : 'big'}-endian file: doubles, int16 as double, chars, small elements`, () => {
      const w = writer(little);
      const doubles = Buffer.alloc(24);
      for (const [i, v] of [1.5, -2, 1e10].entries()) {
        little ? doubles.writeDoubleLE(v, 8 * i) : doubles.writeDoubleBE(v, 8 * i);
      }
      const i16 = Buffer.alloc(4);
      little ? i16.writeInt16LE(-7, 0) : i16.writeInt16BE(-7, 0);
      little ? i16.writeInt16LE(300, 2) : i16.writeInt16BE(300, 2);
      const chars = Buffer.alloc(8);
      // 2 x 2 char array ['ab'; 'cd'] stored column-major as uint16: a c b d
      for (const [i, c] of [97, 99, 98, 100].entries()) {
        little ? chars.writeUInt16LE(c, 2 * i) : chars.writeUInt16BE(c, 2 * i);
      }
      const file = Buffer.concat([
        w.header(),
        w.matrix(6, [1, 3], 'x', [w.element(9, doubles)]),
        w.matrix(6, [2, 1], 'y', [w.small(3, i16)]),
        w.matrix(4, [2, 2], 's', [w.element(4, chars)]),
      ]);
      const vars = parseMat(file);
      expect(nums(vars['x'])).toEqual([1.5, -2, 1e10]);
      const y = vars['y'] as MatNumeric;
      expect(y.matlabClass).toBe('double'); // the class decides the type, not the storage type
      expect(nums(y)).toEqual([-7, 300]);
      expect(vars['s']).toEqual({ kind: 'char', dims: [2, 2], rows: ['ab', 'cd'] });
    });
  }

  it('inflates miCOMPRESSED variables', () => {
    const w = writer(true);
    const inner = w.matrix(12, [1, 2], 'k', [w.element(5, w.int32s([4, -5]))]);
    const compressed = deflateSync(inner);
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(15, 0);
    tag.writeUInt32LE(compressed.length, 4);
    const k = parseMat(Buffer.concat([w.header(), tag, compressed]))['k'] as MatNumeric;
    expect(k.data).toBeInstanceOf(Int32Array);
    expect(nums(k)).toEqual([4, -5]);
  });

  it('reads the struct and cell arrays of the SciPy-made cars_annos.mat', () => {
    const vars = parseMat(readFileSync(join(fixtures, 'cars_annos.mat')));
    const ann = vars['annotations'] as MatStruct;
    expect(ann.dims).toEqual([1, 7]);
    expect(ann.fields).toEqual([
      'relative_im_path',
      'bbox_x1',
      'bbox_y1',
      'bbox_x2',
      'bbox_y2',
      'class',
      'test',
    ]);
    expect(ann.elements[6]!['relative_im_path']).toEqual({
      kind: 'char',
      dims: [1, 18],
      rows: ['car_ims/000007.jpg'],
    });
    expect(nums(ann.elements[6]!['class'])).toEqual([100]);
    expect(nums(ann.elements[2]!['bbox_x2'])).toEqual([42]);
    const names = vars['class_names'];
    expect(names?.kind === 'cell' && names.cells.map((c) => (c.kind === 'char' ? c.rows[0] : ''))).toEqual([
      'AM General Hummer SUV 2000',
      'Acura RL Sedan 2012',
      'Porsche 911 2012',
      'Ram C/V 2012',
    ]);
  });

  it('names the file when it is truncated, HDF5 (v7.3) or not a MAT-file', () => {
    const full = readFileSync(join(fixtures, 'cars_annos_v6.mat'));
    expect(() => parseMat(full.subarray(0, 600), 'c.mat')).toThrow(
      /c.mat: element at byte 128 runs past the end/,
    );
    const hdf = Buffer.alloc(1024);
    hdf.write('\x89HDF', 512, 'latin1');
    expect(() => parseMat(hdf, 'v73.mat')).toThrow(/v73.mat: MATLAB v7.3 \(HDF5\)/);
    expect(() => parseMat(Buffer.alloc(10), 'tiny.mat')).toThrow(
      /tiny.mat: shorter than the 128-byte MAT header/,
    );
  });
});
