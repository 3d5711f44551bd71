import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistry } from '@recallkit/registry';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/index';
import type { DatasetSplits } from '../src/types';
import { run, tempDir, writeYaml } from './helpers';

/** train/: 4 classes x 3 PNGs and one zero-byte file; test/: 2 classes x 2 PNGs, a truncated and a zero-byte file. */
async function tree(): Promise<{ root: string; bad: { split: string; path: string }[] }> {
  const root = await tempDir();
  const png = (v: number) =>
    sharp({
      create: { width: 10, height: 10, channels: 3, background: { r: v, g: 255 - v, b: (v * 7) % 256 } },
    })
      .png()
      .toBuffer();
  const put = async (path: string, bytes: Buffer | string) => {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, bytes);
  };
  for (const [c, cls] of ['a', 'b', 'c', 'd'].entries())
    for (let i = 0; i < 3; i++) await put(join(root, 'train', cls, `${i}.png`), await png(c * 40 + i * 9));
  for (const [c, cls] of ['e', 'f'].entries())
    for (let i = 0; i < 2; i++)
      await put(join(root, 'test', cls, `${i}.png`), await png(200 + c * 20 + i * 5));
  const whole = await png(17);
  const bad = [
    { split: 'train', path: join(root, 'train', 'c', 'zero.png') },
    { split: 'test', path: join(root, 'test', 'e', 'cut.png') },
    { split: 'test', path: join(root, 'test', 'e', 'zero.jpg') },
  ];
  await put(bad[0]!.path, '');
  await put(bad[1]!.path, whole.subarray(0, Math.floor(whole.length * 0.7)));
  await put(bad[2]!.path, '');
  return { root, bad };
}

describe('image-folder dataset component', () => {
  it('validates its options and builds splits without the unreadable files', async () => {
    const registry = registerBuiltins(createRegistry());
    const { root } = await tree();
    const id = 'dataset:image-folder' as const;
    expect(() => registry.validate(id, { root, trainFraction: 1.5 })).toThrow(/trainFraction/);
    expect(() => registry.validate(id, { root, colour: true })).toThrow(/colour/);
    const options = registry.validate(id, { root, size: 8 });
    const data = (await registry.resolve(id, options)) as DatasetSplits;
    expect([data.train.length, data.train.numClasses, data.train.sampleShape]).toEqual([12, 4, [8, 8, 3]]);
    expect([data.test.length, data.test.numClasses]).toEqual([4, 2]);
    expect(Array.from(data.test.labels)).toEqual([0, 0, 1, 1]);
  });

  it("counts the skipped files in the run's metrics.json and summary line", async () => {
    const { root, bad } = await tree();
    const dir = await tempDir();
    const config = await writeYaml(dir, 'folder.yaml', {
      name: 'folder-rsk',
      seeds: [0],
      backend: 'cpu',
      dataset: { name: 'image-folder', root, size: 8, resize: 8 },
      sampler: { name: 'rsk', classesPerBatch: 2, samplesPerClass: 3 },
      model: { backbone: { name: 'mlp', hidden: [8], embeddingDim: 4 } },
      loss: { name: 'rsk', k: [1, 2] },
      optimizer: { name: 'adam', lr: 0.01 },
      train: { epochs: 1 },
      evaluator: { name: 'retrieval', k: [1], index: 'exact' },
    });
    const out = join(dir, 'run');
    const trained = await run(['train', config, '--out', out]);
    expect(trained.code).toBe(0);
    expect(trained.stdout).toContain('unreadable images: 3 skipped');
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.badImages.skipped).toBe(3);
    expect(metrics.badImages.failedLoads).toBe(0);
    expect(
      metrics.badImages.files.map((f: { split: string; path: string }) => ({ split: f.split, path: f.path })),
    ).toEqual(bad);
    expect(metrics.badImages.files[2].reason).toBe('empty file (0 bytes)');
    // 12 training images in 4 classes, batches of 2 classes x 3: 2 steps, every image once.
    expect([metrics.steps, metrics.trainImages]).toEqual([2, 12]);
    // Unchecked, the bad test files are evaluated as zero rows: reported as such, not as skipped.
    const unchecked = join(dir, 'unchecked');
    const again = await run(['train', config, '--out', unchecked, '--set', 'dataset.checkImages=false']);
    expect(again.code).toBe(0);
    const loose = JSON.parse(await readFile(join(unchecked, 'metrics.json'), 'utf8')).badImages;
    expect(loose.skipped).toBe(0);
    expect(
      loose.files.filter((f: { split: string }) => f.split === 'test').map((f: { path: string }) => f.path),
    ).toEqual([bad[1]!.path, bad[2]!.path]);
    expect(loose.failedLoads).toBe(loose.files.length);
    expect(again.stdout).toMatch(/unreadable images: 0 skipped, [23] loaded as zeros/);
  }, 60_000);
});
