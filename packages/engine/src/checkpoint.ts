import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RecallkitError, removeOrphanTemporaries, writeFileAtomic } from '@recallkit/core';

/** A named float32 array with its shape. */
export interface StoredTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** What a checkpoint file holds: JSON metadata and float32 tensors. */
export interface CheckpointContents {
  meta: Record<string, unknown>;
  tensors: StoredTensor[];
}

const MAGIC = 'RECALLKIT-CHECKPOINT';
const VERSION = 1;

/**
 * Writes a checkpoint atomically: a temporary file in the same folder, flushed to disk, then
 * renamed over the target. A reader therefore sees the old file or the new one, never a mix.
 * Layout: one header line `RECALLKIT-CHECKPOINT 1 sha256=<hex> bytes=<n>`, then n bytes of body
 * (u32 length of the JSON index, the JSON, padding to 4 bytes, the float32 data).
 */
export async function writeCheckpoint(file: string, contents: CheckpointContents): Promise<void> {
  const body = encodeBody(contents);
  const sha = createHash('sha256').update(body).digest('hex');
  const header = Buffer.from(`${MAGIC} ${VERSION} sha256=${sha} bytes=${body.length}\n`);
  await writeFileAtomic(file, [header, body]);
}

/** Reads and verifies a checkpoint; a truncated or altered file is refused with CHECKPOINT_CORRUPT. */
export async function readCheckpoint(file: string): Promise<CheckpointContents> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    throw new RecallkitError(
      'CHECKPOINT_MISSING',
      `cannot read checkpoint ${file}: ${(error as Error).message}`,
    );
  }
  const corrupt = (why: string) =>
    new RecallkitError('CHECKPOINT_CORRUPT', `checkpoint ${file} is unusable: ${why}`, { file });
  const newline = bytes.indexOf(10);
  if (
    newline < 0 &&
    MAGIC.startsWith(bytes.subarray(0, MAGIC.length).toString('latin1')) &&
    bytes.length > 0
  ) {
    throw corrupt(`truncated: only ${bytes.length} bytes, the header itself is incomplete`);
  }
  const match =
    newline > 0 &&
    /^RECALLKIT-CHECKPOINT (\d+) sha256=([0-9a-f]{64}) bytes=(\d+)$/.exec(
      bytes.subarray(0, newline).toString('latin1'),
    );
  if (!match) throw corrupt('no checkpoint header (not a Recallkit checkpoint, or its start is damaged)');
  if (Number(match[1]) !== VERSION)
    throw corrupt(`format version ${match[1]} is not supported (expected ${VERSION})`);
  const body = bytes.subarray(newline + 1);
  const expected = Number(match[3]);
  if (body.length !== expected) {
    throw corrupt(
      body.length < expected
        ? `truncated: ${body.length} of ${expected} bytes present`
        : `${body.length - expected} unexpected bytes after the declared ${expected}`,
    );
  }
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== match[2]) throw corrupt(`checksum mismatch (sha256 ${sha}, header says ${match[2]})`);
  return decodeBody(body);
}

/**
 * The metadata of a checkpoint from the start of its file, without reading or verifying the
 * tensors: undefined when the start of the file is not a readable checkpoint index. Only for
 * telling files apart (which run wrote them); load with `readCheckpoint`.
 */
async function peekCheckpointMeta(file: string): Promise<Record<string, unknown> | undefined> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle!.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    const head = await read(0, 256);
    const newline = head.indexOf(10);
    if (newline < 0 || !head.subarray(0, newline).toString('latin1').startsWith(`${MAGIC} `))
      return undefined;
    const length = (await read(newline + 1, 4)).readUInt32LE(0);
    const json = await read(newline + 5, length);
    if (json.length !== length) return undefined;
    const index = JSON.parse(json.toString('utf8')) as { meta?: unknown };
    return index.meta && typeof index.meta === 'object' ? (index.meta as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

function encodeBody({ meta, tensors }: CheckpointContents): Buffer {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    const length = t.shape.reduce((a, b) => a * b, 1);
    if (length !== t.data.length) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `tensor '${t.name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`,
      );
    }
    entries.push({ name: t.name, shape: t.shape, offset, length });
    offset += length * 4;
  }
  const json = Buffer.from(JSON.stringify({ meta, tensors: entries }));
  const dataStart = align4(4 + json.length);
  const body = Buffer.alloc(dataStart + offset);
  body.writeUInt32LE(json.length, 0);
  json.copy(body, 4);
  tensors.forEach((t, i) => {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    bytes.copy(body, dataStart + (entries[i] as TensorEntry).offset);
  });
  return body;
}

function decodeBody(body: Buffer): CheckpointContents {
  const jsonLength = body.readUInt32LE(0);
  const index = JSON.parse(body.subarray(4, 4 + jsonLength).toString('utf8')) as {
    meta: Record<string, unknown>;
    tensors: TensorEntry[];
  };
  const dataStart = align4(4 + jsonLength);
  const tensors = index.tensors.map(({ name, shape, offset, length }) => {
    // Copy into a fresh, aligned buffer: the file's bytes need not be 4-byte aligned in memory.
    const data = new Float32Array(length);
    new Uint8Array(data.buffer).set(body.subarray(dataStart + offset, dataStart + offset + length * 4));
    return { name, shape, data };
  });
  return { meta: index.meta, tensors };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

// The trainer's checkpoint folder: one file per saved step, best.ckpt, and the run each belongs to.

export function stepFile(dir: string, step: number): string {
  return path.join(dir, `step-${String(step).padStart(9, '0')}.ckpt`);
}

export async function listStepCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^step-\d{9}\.ckpt$/.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * Removes the temporary files of checkpoint writes that were interrupted (a kill, a full disk):
 * those of `writeFileAtomic` (see `removeOrphanTemporaries` of @recallkit/core) and the names of
 * an earlier scheme (`.ckpt.tmp-`).
 */
export async function removeCheckpointTemporaries(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const earlier = names.filter((n) => n.includes('.ckpt.tmp-'));
  await Promise.all(earlier.map((n) => fs.rm(path.join(dir, n), { force: true })));
  await removeOrphanTemporaries(dir, (target) => target.endsWith('.ckpt'));
}

export interface FoundCheckpoint {
  file: string;
  kind: 'step' | 'best';
  /** Whether the start of the file could be read; `run` is then its run (undefined: unnamed). */
  readable: boolean;
  run: string | undefined;
}

/** The trainer's checkpoints in `dir` (step-NNNNNNNNN.ckpt and best.ckpt), with the run of each. */
export async function trainerCheckpoints(dir: string): Promise<FoundCheckpoint[]> {
  const files = [...(await listStepCheckpoints(dir))];
  const best = path.join(dir, 'best.ckpt');
  const hasBest = await fs.stat(best).then(
    (info) => info.isFile(),
    () => false,
  );
  if (hasBest) files.push(best);
  return Promise.all(
    files.map(async (file): Promise<FoundCheckpoint> => {
      const meta = await peekCheckpointMeta(file);
      return {
        file,
        kind: file === best ? 'best' : 'step',
        readable: meta !== undefined,
        run: typeof meta?.['run'] === 'string' ? meta['run'] : undefined,
      };
    }),
  );
}

/** A folder holding another run's checkpoints: `resuming` is the run that was to continue there. */
export function inUse(dir: string, found: FoundCheckpoint[], resuming: string | undefined): RecallkitError {
  const runs = [...new Set(found.map((c) => (c.readable ? (c.run ?? 'unnamed') : 'unreadable')))];
  const held = `${runs.length > 1 ? 'runs' : 'run'} ${runs.join(', ')} (${found.map((c) => path.basename(c.file)).join(', ')})`;
  const message = resuming
    ? `checkpoint folder ${dir} holds checkpoints of ${held} besides those of run ${resuming}, which is resuming: move the other run's files away; nothing was deleted`
    : `checkpoint folder ${dir} already holds checkpoints of ${held}: continue that run with resume: true, or give this run another checkpoint.dir; nothing was deleted`;
  return new RecallkitError('CHECKPOINT_DIR_IN_USE', message, { dir, files: found.map((c) => c.file), runs });
}

/**
 * The error for a corrupt newest checkpoint: it names the newest older checkpoint that reads back
 * intact, or says that none does.
 */
export async function corruptNewest(
  error: RecallkitError,
  file: string,
  older: string[],
): Promise<RecallkitError> {
  const alsoCorrupt: string[] = [];
  for (const previous of [...older].reverse()) {
    try {
      await readCheckpoint(previous);
    } catch {
      alsoCorrupt.push(previous);
      continue;
    }
    const skipped =
      alsoCorrupt.length > 0
        ? ` (${alsoCorrupt.join(', ')} ${alsoCorrupt.length > 1 ? 'are' : 'is'} unusable too)`
        : '';
    return new RecallkitError(
      'CHECKPOINT_CORRUPT',
      `${error.message}; the older checkpoint ${previous} is intact${skipped}: resume from it with resume: '${previous}' after checking the disk`,
      { file, previous, alsoCorrupt },
    );
  }
  const others =
    alsoCorrupt.length > 0
      ? `; the older ${alsoCorrupt.join(', ')} ${alsoCorrupt.length > 1 ? 'are' : 'is'} unusable too`
      : '';
  return new RecallkitError(
    'CHECKPOINT_CORRUPT',
    `${error.message}${others}: no intact checkpoint is left to resume from; check the disk, then start the run again`,
    { file, alsoCorrupt },
  );
}
