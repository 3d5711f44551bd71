import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { main } from '../src/index';

export const tinyDataPlugin = fileURLToPath(new URL('./fixtures/tiny-data.ts', import.meta.url));

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

/** Runs the command line in this process, capturing its output. */
export async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    ({
      write: (chunk: string) => {
        append(String(chunk));
        return true;
      },
      isTTY: false,
    }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}
