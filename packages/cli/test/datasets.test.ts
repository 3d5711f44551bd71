import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistry } from '@recallkit/registry';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/index';
import type { DatasetSplits } from '../src/types';
import { tempDir } from './helpers';

/** A VehicleID tree in the official layout: 2 training vehicles, test lists of 1, 2 and 3 vehicles. */
async function vehicleIdTree(): Promise<string> {
  const root = await tempDir();
  await mkdir(join(root, 'image'), { recursive: true });
  await mkdir(join(root, 'train_test_split'), { recursive: true });
  const lists: Record<string, [string, number][]> = {
    'train_list.txt': [
      ['0000001', 1],
      ['0000002', 1],
      ['0000003', 2],
      ['0000004', 2],
    ],
    'test_list_800.txt': [
      ['0000011', 11],
      ['0000012', 11],
    ],
    'test_list_1600.txt': [
      ['0000011', 11],
      ['0000012', 11],
      ['0000013', 12],
      ['0000014', 12],
    ],
    'test_list_2400.txt': [
      ['0000011', 11],
      ['0000012', 11],
      ['0000013', 12],
      ['0000014', 12],
      ['0000015', 13],
      ['0000016', 13],
    ],
  };
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  for (const [file, rows] of Object.entries(lists)) {
    await writeFile(join(root, 'train_test_split', file), rows.map(([i, v]) => `${i} ${v}\n`).join(''));
    for (const [image] of rows) await writeFile(join(root, 'image', `${image}.jpg`), jpeg);
  }
  return root;
}

describe('dataset components', () => {
  it('vehicle-id evaluates the small test list and, by default, the medium and large ones too', async () => {
    const registry = registerBuiltins(createRegistry());
    const root = await vehicleIdTree();
    const resolve = async (options: Record<string, unknown>) => {
      const id = 'dataset:vehicle-id' as const;
      return (await registry.resolve(id, registry.validate(id, { root, ...options }))) as DatasetSplits;
    };
    const all = await resolve({});
    expect(all.train.length).toBe(4);
    expect(all.test.length).toBe(2);
    expect(Object.fromEntries(Object.entries(all.testSets ?? {}).map(([k, d]) => [k, d.length]))).toEqual({
      medium: 4,
      large: 6,
    });
    const one = await resolve({ testSize: 1600 });
    expect(one.test.length).toBe(4);
    expect(one.testSets).toBeUndefined();
  });
});
