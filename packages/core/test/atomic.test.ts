import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atomicTemporary, writeFileAtomic } from '../src/index';

describe('writeFileAtomic', () => {
  it('writes text and byte parts in order, creating the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-atomic-'));
    const file = join(dir, 'nested', 'out.bin');
    await writeFileAtomic(file, [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    await writeFileAtomic(file, 'replaced');
    expect(readFileSync(file, 'utf8')).toBe('replaced');
    expect(readdirSync(join(dir, 'nested'))).toEqual(['out.bin']);
  });

  it('leaves the previous file intact and no temporary file when a write fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-atomic-'));
    const file = join(dir, 'report.json');
    writeFileSync(file, 'previous');
    const bad = [Uint8Array.of(1), { byteLength: 4 } as unknown as Uint8Array];
    await expect(writeFileAtomic(file, bad)).rejects.toThrow();
    expect(readFileSync(file, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['report.json']);
  });
});

describe('atomicTemporary', () => {
  it('reads the target and the writer from a temporary name, and nothing from other names', () => {
    expect(atomicTemporary('step-000000004.ckpt.4242.0a1b2c3d.tmp')).toEqual({
      target: 'step-000000004.ckpt',
      pid: 4242,
    });
    expect(atomicTemporary('notes.txt.tmp')).toBeUndefined();
    expect(atomicTemporary('step-000000002.ckpt.tmp-1234')).toBeUndefined();
    expect(atomicTemporary('out.bin.12.XYZ.tmp')).toBeUndefined();
  });
});
