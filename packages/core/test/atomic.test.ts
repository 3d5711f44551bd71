import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atomicTemporary, removeOrphanTemporaries, writeFileAtomic } from '../src/index';

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

describe('removeOrphanTemporaries', () => {
  it('removes the temporaries of gone processes (and of this one) among the targets asked for', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'recallkit-orphans-'));
    // A pid no process has: above the kernel's pid_max.
    const gone = 4_194_400;
    const names = [
      `results.md.${gone}.0a1b2c3d.tmp`,
      `results.json.${process.pid}.00ff00ff.tmp`,
      `report.html.${process.ppid}.12345678.tmp`,
      `train.jsonl.${gone}.deadbeef.tmp`,
      'results.md',
      'notes.tmp',
    ];
    for (const name of names) await writeFile(join(dir, name), 'x');
    const removed = await removeOrphanTemporaries(dir, (target) => target !== 'train.jsonl');
    expect(removed.sort()).toEqual([names[1], names[0]].sort());
    // The parent is alive (a write in progress); other targets and other names stay.
    expect((await readdir(dir)).sort()).toEqual([names[2], names[3], 'notes.tmp', 'results.md'].sort());
    expect(await removeOrphanTemporaries(join(dir, 'absent'))).toEqual([]);
  });
});
