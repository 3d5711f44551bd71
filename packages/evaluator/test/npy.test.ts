import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, writeNpy } from '@recallkit/evaluator';
import { describe, expect, it } from 'vitest';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

describe('readNpy on files written by NumPy', () => {
  it('reads float32 matrices', async () => {
    const { data, shape, dtype } = await readNpy(fixture('f32_3x2.npy'));
    expect(dtype).toBe('float32');
    expect(shape).toEqual([3, 2]);
    expect(Array.from(data as Float32Array)).toEqual([1.5, -2, 0.25, Math.fround(3e-8), 1e6, -0]);
  });

  it('reads int64 and int32 labels', async () => {
    const i64 = await readNpy(fixture('i64_5.npy'));
    expect(i64.dtype).toBe('int64');
    expect(i64.shape).toEqual([5]);
    expect(Array.from(i64.data as BigInt64Array)).toEqual([3n, -1n, 2147483647n, 0n, 7n]);
    const i32 = await readNpy(fixture('i32_4.npy'));
    expect(Array.from(i32.data as Int32Array)).toEqual([9, 8, -7, 6]);
  });

  it('rejects unsupported dtypes, Fortran order and big-endian data by name', async () => {
    await expect(readNpy(fixture('f64_2.npy'))).rejects.toMatchObject({ code: 'NPY_UNSUPPORTED_DTYPE' });
    await expect(readNpy(fixture('f64_2.npy'))).rejects.toThrow(/'<f8'/);
    await expect(readNpy(fixture('f32_fortran.npy'))).rejects.toMatchObject({
      code: 'NPY_UNSUPPORTED_ORDER',
    });
    await expect(readNpy(fixture('f32_bigendian.npy'))).rejects.toThrow(/'>f4' is not supported/);
  });
});

describe('writeNpy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recallkit-npy-'));

  it('round-trips every supported dtype and writes the header NumPy writes', async () => {
    const path = join(dir, 'x.npy');
    await writeNpy(path, Float32Array.from([1.5, -2, 0.25, Math.fround(3e-8), 1e6, -0]), [3, 2]);
    // byte-identical to NumPy's own file for the same array
    expect(readFileSync(path).equals(readFileSync(fixture('f32_3x2.npy')))).toBe(true);
    await writeNpy(join(dir, 'l.npy'), BigInt64Array.from([3n, -1n, 2147483647n, 0n, 7n]));
    expect(readFileSync(join(dir, 'l.npy')).equals(readFileSync(fixture('i64_5.npy')))).toBe(true);
    const i32 = Int32Array.from([4, 5, 6]);
    await writeNpy(join(dir, 'i.npy'), i32);
    expect(await readNpy(join(dir, 'i.npy'))).toEqual({ data: i32, shape: [3], dtype: 'int32' });
  });

  it('replaces files atomically and leaves no temporary file', async () => {
    const path = join(dir, 'atomic.npy');
    writeFileSync(path, 'old contents');
    await writeNpy(path, Float32Array.from([1, 2, 3, 4]), [2, 2]);
    expect((await readNpy(path)).shape).toEqual([2, 2]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // A folder that cannot exist (its parent is a file): the write fails with a coded error.
    await expect(writeNpy(join(path, 'x.npy'), Float32Array.of(1))).rejects.toMatchObject({
      code: 'NPY_WRITE_FAILED',
    });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects a shape that does not match the data, and other array types', async () => {
    await expect(writeNpy(join(dir, 'bad.npy'), Float32Array.of(1, 2, 3), [2, 2])).rejects.toThrow(
      /holds 4 values but the array has 3/,
    );
    await expect(writeNpy(join(dir, 'bad.npy'), Float64Array.of(1) as never)).rejects.toMatchObject({
      code: 'NPY_UNSUPPORTED_DTYPE',
    });
  });

  it('rejects files that are not .npy or are cut short', async () => {
    writeFileSync(join(dir, 'text.npy'), 'hello world, not numpy');
    await expect(readNpy(join(dir, 'text.npy'))).rejects.toThrow(/bad magic/);
    const whole = readFileSync(fixture('f32_3x2.npy'));
    writeFileSync(join(dir, 'short.npy'), whole.subarray(0, whole.length - 4));
    await expect(readNpy(join(dir, 'short.npy'))).rejects.toThrow(
      /holds 20 data bytes, shape \(3, 2\) needs 24/,
    );
    const broken = Buffer.from(whole);
    broken.write("{'descr': '<f4', 'shape': (3, 2), }", 10, 'latin1');
    writeFileSync(join(dir, 'header.npy'), broken);
    await expect(readNpy(join(dir, 'header.npy'))).rejects.toMatchObject({ code: 'NPY_BAD_FILE' });
    await expect(readNpy(join(dir, 'absent.npy'))).rejects.toMatchObject({ code: 'NPY_READ_FAILED' });
  });
});
