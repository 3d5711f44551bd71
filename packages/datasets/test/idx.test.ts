import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseIdx, readIdx } from '../src/idx';

// Hand-built IDX files: magic 00 00 <type> <ndim>, big-endian uint32 dims, big-endian values.
const u8 = Uint8Array.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);
const i32 = Uint8Array.from([0, 0, 0x0c, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0]);

describe('IDX reader', () => {
  it('reads uint8 arrays with their shape', () => {
    const a = parseIdx(u8);
    expect(a.shape).toEqual([2, 1, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 255]);
    expect(a.data).toBeInstanceOf(Uint8Array);
  });

  it('reads big-endian int32 and float64', () => {
    expect(Array.from(parseIdx(i32).data)).toEqual([-2, 256]);
    const f = Buffer.alloc(4 + 4 + 16);
    f.set([0, 0, 0x0e, 1]);
    f.writeUInt32BE(2, 4);
    f.writeDoubleBE(0.1, 8);
    f.writeDoubleBE(-3.5, 16);
    expect(Array.from(parseIdx(f).data)).toEqual([0.1, -3.5]);
  });

  it('reads gzip files like plain ones, from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    writeFileSync(join(dir, 'a.idx'), u8);
    writeFileSync(join(dir, 'a.idx.gz'), gzipSync(u8));
    expect(readIdx(join(dir, 'a.idx.gz'))).toEqual(readIdx(join(dir, 'a.idx')));
  });

  it('names the file when it is missing, truncated or not IDX', () => {
    expect(() => readIdx('/nonexistent/x-idx3-ubyte')).toThrow(/not found: \/nonexistent\/x-idx3-ubyte/);
    expect(() => parseIdx(u8.subarray(0, u8.length - 1), 'f.idx')).toThrow(
      /f.idx: 21 bytes, expected 22.*truncated/,
    );
    expect(() => parseIdx(Uint8Array.from([1, 2, 3, 4]), 'g.idx')).toThrow(/g.idx: not an IDX file/);
    expect(() => parseIdx(gzipSync(u8).subarray(0, 10), 'h.gz')).toThrow(/h.gz: gzip stream is corrupt/);
  });
});
