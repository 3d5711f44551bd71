import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { run, tempDir } from './helpers';

const sopConfig = fileURLToPath(new URL('../../../experiments/sop-rsk.yaml', import.meta.url));
// A torchvision-layout Bottleneck ResNet of width 4 (made by models' fixture script).
const weights = fileURLToPath(
  new URL('../../models/test/fixtures/torch_resnet_bottleneck.safetensors', import.meta.url),
);

/**
 * A Stanford Online Products tree in the official layout: Ebay_train.txt / Ebay_test.txt and JPEGs
 * under <super class>_final/, train classes 1..6 x 4 images, test classes 11319..11322 x 3.
 */
async function sopTree(): Promise<string> {
  const root = await tempDir();
  await mkdir(join(root, 'bicycle_final'), { recursive: true });
  const header = 'image_id class_id super_class_id path\n';
  const lines = { train: [header], test: [header] };
  let id = 0;
  const add = async (split: 'train' | 'test', cls: number, images: number) => {
    for (let i = 0; i < images; i++) {
      const path = `bicycle_final/${cls}_${i}.JPG`;
      // Each class its own colour, each image its own noise and size.
      const jpeg = await sharp({
        create: {
          width: 40 + 8 * i,
          height: 32 + 4 * i,
          channels: 3,
          background: { r: (cls * 53) % 256, g: (cls * 97) % 256, b: (cls * 31) % 256 },
          noise: { type: 'gaussian', mean: 0, sigma: 20 },
        },
      })
        .jpeg()
        .toBuffer();
      await writeFile(join(root, path), jpeg);
      lines[split].push(`${++id} ${cls} 1 ${path}\n`);
    }
  };
  for (let c = 1; c <= 6; c++) await add('train', c, 4);
  for (let c = 11319; c <= 11322; c++) await add('test', c, 3);
  await writeFile(join(root, 'Ebay_train.txt'), lines.train.join(''));
  await writeFile(join(root, 'Ebay_test.txt'), lines.test.join(''));
  return root;
}

describe('experiments/sop-rsk.yaml end to end', () => {
  it('trains on the official layout with the configured recipe, evaluating every 5 epochs', async () => {
    const root = await sopTree();
    const out = join(await tempDir(), 'run');
    const { code, stdout, stderr } = await run([
      'train',
      sopConfig,
      '--out',
      out,
      '--json',
      '--epochs',
      '5',
      '--set',
      `dataset.root=${root}`,
      '--set',
      `model.backbone.file=${weights}`,
      // 2 classes x 4 images per batch (the config's 1000 x 4 needs SOP itself), chunks of 200.
      '--set',
      'sampler.classesPerBatch=2',
      // k of 10 and more exceed the 12 test images.
      '--set',
      'evaluator.k=[1,2,4]',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    // 24 images, 8 per batch: 3 steps per epoch; the authors' recipe evaluates after epoch 5.
    expect(result.steps).toBe(15);
    expect(result.evaluations.map((e: { epoch: number }) => e.epoch)).toEqual([5]);
    expect(result.best.metrics).toEqual(result.metrics);
    expect(result.components).toMatchObject({
      dataset: 'dataset:sop',
      backbone: 'backbone:torch-resnet',
      head: 'head:embedding-head',
      loss: 'loss:rsk',
      optimizer: 'optimizer:adam',
      schedule: 'schedule:step',
    });
    for (const file of ['model.ckpt', 'best.ckpt', 'train.jsonl', 'metrics.json'])
      expect((await stat(join(out, file))).size).toBeGreaterThan(0);
    const log = (await readFile(join(out, 'train.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.filter((r) => r.event === 'evaluation')).toHaveLength(1);
    expect(log.filter((r) => r.event === undefined).map((r) => r.step)).toEqual(
      Array.from({ length: 15 }, (_, i) => i + 1),
    );
    // The loss moved: the recipe trained the network.
    expect(log[0].loss).not.toBe(log[14].loss);
  }, 300_000);
});
