// The command line given bad config files and dataset roots: a named error with nothing left in the
// run folder, or a defined behaviour (the @recallkit/cli table in docs/bad-input.md).
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import { createProgram } from '../src/index';
import { sink } from './helpers';

const ROOT = mkdtempSync(join(tmpdir(), 'recallkit-cli-bad-'));
let serial = 0;

/** Runs `recallkit <args...> --out <folder>`; a failure must leave no folder behind. */
async function recallkit(args: string[]): Promise<{ out: string; stdout: string; warnings: string[] }> {
  const out = join(ROOT, `run-${++serial}`);
  let stdout = '';
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    await createProgram({ stdout: sink((s) => (stdout += s)), stderr: sink(() => {}) }).parseAsync(
      [...args, '--out', out],
      { from: 'user' },
    );
  } catch (error) {
    if (existsSync(out)) throw new Error(`${out} was left behind by a failed command: ${readdirSync(out)}`);
    throw error;
  } finally {
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
  }
  return { out, stdout, warnings };
}

async function file(name: string, content: string | Buffer | object): Promise<string> {
  const path = join(ROOT, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(
    path,
    typeof content === 'string' || Buffer.isBuffer(content) ? content : stringify(content),
  );
  return path;
}

const png = (v: number) =>
  sharp({
    create: { width: 10, height: 10, channels: 3, background: { r: v, g: 255 - v, b: (v * 7) % 256 } },
  })
    .png()
    .toBuffer();

/** An image folder: `train` and `test` classes with `counts` PNGs each, and extra files. */
async function images(
  name: string,
  counts: Record<string, number>,
  extra: Record<string, Buffer | string> = {},
) {
  const root = join(ROOT, name);
  let v = 0;
  for (const [cls, n] of Object.entries(counts))
    for (let i = 0; i < n; i++) await file(join(name, cls, `${i}.png`), await png((v += 23) % 256));
  for (const [path, bytes] of Object.entries(extra)) await file(join(name, path), bytes);
  return root;
}

const experiment = (root: string, loss: Record<string, unknown> = {}) => ({
  name: 'folder',
  seeds: [0],
  backend: 'cpu',
  dataset: { name: 'image-folder', root, size: 8, resize: 8 },
  sampler: { name: 'rsk', classesPerBatch: 2, samplesPerClass: 2 },
  model: { backbone: { name: 'mlp', hidden: [8], embeddingDim: 4 } },
  loss: { name: 'rsk', k: [1, 2], ...loss },
  optimizer: { name: 'adam', lr: 0.01 },
  train: { epochs: 1 },
  evaluator: { name: 'retrieval', k: [1], index: 'exact' },
});
const FOUR = { 'train/a': 2, 'train/b': 2, 'test/c': 2, 'test/d': 2 };

/** 64 seeded bytes, NUL and bytes above 0x7f among them. */
const garbage = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 97 + 13) % 256));

/** The files of a finished run, checked to hold no temporary file. */
function runFiles(out: string): string[] {
  const files = readdirSync(out, { recursive: true, encoding: 'utf8' }).sort();
  if (files.some((f) => f.endsWith('.tmp'))) throw new Error(`temporary file left in ${out}: ${files}`);
  return files;
}

const cases: BadInputCase[] = [
  {
    entry: 'recallkit train <config>',
    input: 'an empty YAML file (0 bytes)',
    run: async () => recallkit(['train', await file('empty.yaml', '')]),
    error: { code: 'CONFIG_EMPTY', message: /empty\.yaml: the experiment file is empty: it needs/ },
  },
  {
    entry: 'recallkit train <config>',
    input: 'a YAML file of comments only',
    run: async () => recallkit(['train', await file('comments.yaml', '# name: sop\n# dataset: sop\n')]),
    error: {
      code: 'CONFIG_EMPTY',
      message: /comments\.yaml: the experiment file is empty \(comments only\)/,
    },
  },
  {
    entry: 'recallkit train <config>',
    input: '64 bytes of binary garbage named .yaml',
    run: async () => recallkit(['train', await file('garbage.yaml', garbage)]),
    error: {
      code: 'CONFIG_SYNTAX',
      message:
        /garbage\.yaml: not YAML text: line \d+ holds (the control character|bytes that are not UTF-8)/,
    },
  },
  {
    entry: 'recallkit train <config>',
    input: 'bytes that are not UTF-8 in a .yaml file',
    run: async () =>
      recallkit(['train', await file('latin1.yaml', Buffer.from('name: caf\xe9\n', 'latin1'))]),
    error: {
      code: 'CONFIG_SYNTAX',
      message: /latin1\.yaml: not YAML text: line 1 holds bytes that are not UTF-8/,
    },
  },
  {
    entry: 'recallkit bench <config>',
    input: 'an empty YAML file',
    run: async () => recallkit(['bench', await file('empty-bench.yaml', ''), '--workers', '1']),
    error: { code: 'CONFIG_EMPTY', message: /empty-bench\.yaml: the experiment file is empty/ },
  },
  {
    entry: 'recallkit train <config>',
    input: 'dataset.root is a folder that does not exist',
    run: async () => recallkit(['train', await file('missing.yaml', experiment(join(ROOT, 'nowhere')))]),
    error: { code: 'DATASET_FILE_MISSING', message: /folder not found: .*nowhere/ },
  },
  {
    entry: 'recallkit train <config>',
    input: 'dataset.root holds a truncated and a zero-byte image',
    run: async () => {
      const cut = (await png(99)).subarray(0, 40);
      const root = await images('damaged', FOUR, { 'train/a/cut.png': cut, 'test/c/zero.png': '' });
      return recallkit(['train', await file('damaged.yaml', experiment(root))]);
    },
    defined: (r) => {
      const { out } = r as { out: string };
      const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
      const skipped = metrics.badImages.files.map((f: { path: string; reason: string }) => f.path);
      if (metrics.badImages.skipped !== 2 || metrics.steps !== 1)
        throw new Error(JSON.stringify(metrics.badImages));
      return `trains on the readable images (exit 0): both files are left out, warned about and counted in metrics.json (badImages.skipped = 2: ${skipped.join(', ')}); the run folder holds ${runFiles(out).join(', ')}`;
    },
  },
  {
    entry: 'recallkit train <config>',
    input: 'a training class with a single image',
    run: async () => {
      const root = await images('single', { ...FOUR, 'train/e': 1 });
      return recallkit(['train', await file('single.yaml', experiment(root))]);
    },
    defined: (r) => {
      const { out, warnings } = r as { out: string; warnings: string[] };
      const dataset = warnings.find((w) => w.includes('single image'));
      const sampler = warnings.find((w) => w.startsWith('rskSampler'));
      if (!dataset || !sampler) throw new Error(`no warning about the single image: ${warnings}`);
      runFiles(out);
      return `trains (exit 0) with two warnings: \`${dataset}\` and \`${sampler}\``;
    },
  },
  {
    entry: 'recallkit train <config>',
    input: 'loss.memoryLimit below what the batch needs',
    run: async () =>
      recallkit([
        'train',
        await file('limit.yaml', experiment(await images('limit', FOUR), { memoryLimit: 10 })),
      ]),
    error: {
      code: 'LOSS_MEMORY_LIMIT',
      message: /a batch of 4 needs about \d+ bytes .*above the limit of 10 bytes/,
    },
  },
];

badInputSuite('@recallkit/cli', cases, (text) => text.replaceAll(ROOT, '<root>'));
