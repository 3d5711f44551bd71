import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { main } from '../src/index';

const tinyDataPlugin = fileURLToPath(new URL('./fixtures/tiny-data.ts', import.meta.url));

/** A tiny experiment: 4x4 blobs, an MLP, 4 classes x 3 per batch, a few steps on the cpu backend. */
export function tinyExperiment(name: string, loss: unknown, extra: Record<string, unknown> = {}) {
  return {
    name,
    plugins: [tinyDataPlugin],
    seeds: [0],
    backend: 'cpu',
    dataset: 'tiny-blobs',
    sampler: { name: 'rsk', classesPerBatch: 4, samplesPerClass: 3 },
    model: { backbone: { name: 'mlp', hidden: [16], embeddingDim: 8 } },
    loss,
    optimizer: { name: 'adam', lr: 0.01 },
    train: { epochs: 1 },
    evaluator: { name: 'retrieval', k: [1, 2, 4], index: 'exact' },
    ...extra,
  };
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'recallkit-cli-'));
}

export async function writeYaml(dir: string, file: string, content: unknown): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, typeof content === 'string' ? content : stringify(content));
  return path;
}

/** A non-TTY output stream that hands everything written to `append`. */
export function sink(append: (s: string) => void): NodeJS.WriteStream {
  return {
    write: (chunk: string) => {
      append(String(chunk));
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
}

/** Runs the command line in this process, capturing its output. */
export async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

/**
 * A PNG (or JPEG) of seeded noise around a colour: images of one `colour` look alike, so a trained
 * network tells their classes apart; `seed` makes each image its own.
 */
export async function noiseImage(
  file: string,
  colour: readonly [number, number, number],
  seed: number,
  size: { width: number; height: number } = { width: 24, height: 20 },
): Promise<void> {
  let state = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const px = Buffer.alloc(size.width * size.height * 3);
  for (let i = 0; i < px.length; i++) {
    px[i] = Math.max(0, Math.min(255, Math.round(colour[i % 3]! + (next() - 0.5) * 120)));
  }
  await mkdir(dirname(file), { recursive: true });
  const image = sharp(px, { raw: { width: size.width, height: size.height, channels: 3 } });
  await (file.endsWith('.jpg') ? image.jpeg({ quality: 95 }) : image.png()).toFile(file);
}

const COLOURS: readonly (readonly [number, number, number])[] = [
  [200, 40, 40],
  [40, 200, 40],
  [40, 40, 200],
  [200, 200, 40],
];

/**
 * Trains a tiny network on an image folder (4 classes x 3 images in train/ and test/, read at
 * 16 x 16) and exports it: the RGB model that index, query and the instance tests embed with.
 */
export async function trainedImageExport(
  dir: string,
): Promise<{ root: string; run: string; exported: string }> {
  const root = join(dir, 'images');
  for (const [split, offset] of [
    ['train', 0],
    ['test', 100],
  ] as const) {
    for (const [c, colour] of COLOURS.entries()) {
      for (let i = 0; i < 3; i++)
        await noiseImage(join(root, split, `c${c}`, `${i}.png`), colour, offset + c * 10 + i);
    }
  }
  const config = await writeYaml(dir, 'images.yaml', {
    name: 'tiny-images',
    seeds: [0],
    backend: 'cpu',
    dataset: { name: 'image-folder', root, size: 16 },
    sampler: { name: 'rsk', classesPerBatch: 4, samplesPerClass: 3 },
    model: { backbone: { name: 'mlp', hidden: [16], embeddingDim: 8 } },
    loss: { name: 'rsk', k: [1, 2] },
    optimizer: { name: 'adam', lr: 0.01 },
    train: { epochs: 2 },
    evaluator: { name: 'retrieval', k: [1, 2], index: 'exact' },
  });
  const runDir = join(dir, 'run');
  const trained = await run(['train', config, '--out', runDir]);
  if (trained.code !== 0) throw new Error(`training failed: ${trained.stderr}`);
  const exported = join(runDir, 'export');
  const result = await run(['export', runDir]);
  if (result.code !== 0) throw new Error(`export failed: ${result.stderr}`);
  return { root, run: runDir, exported };
}
