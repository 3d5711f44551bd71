import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** `<file>.<pid>.<hex>.tmp`: the temporary file of a `writeFileAtomic` of `file` by process `pid`. */
const TEMPORARY = /^(.*)\.(\d+)\.[0-9a-f]+\.tmp$/;

/**
 * The target and the writing process of a temporary file name of `writeFileAtomic`, or undefined
 * for any other name: what a cleanup needs to tell an interrupted write from one in progress.
 */
export function atomicTemporary(name: string): { target: string; pid: number } | undefined {
  const match = TEMPORARY.exec(name);
  return match ? { target: match[1] as string, pid: Number(match[2]) } : undefined;
}

/**
 * Removes the temporary files of `writeFileAtomic` in `folder` that interrupted writes (a kill, a
 * full disk) left behind, those whose target `targets` accepts: a temporary whose process is gone,
 * or is this one (call this before this process writes there), is an orphan; one of a live process
 * is a write in progress and stays. Returns the names removed.
 */
export async function removeOrphanTemporaries(
  folder: string,
  targets: (target: string) => boolean = () => true,
): Promise<string[]> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  const orphans = names.filter((name) => {
    const temporary = atomicTemporary(name);
    return temporary !== undefined && targets(temporary.target) && !runningElsewhere(temporary.pid);
  });
  await Promise.all(orphans.map((name) => fs.rm(path.join(folder, name), { force: true })));
  return orphans;
}

function runningElsewhere(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes a file atomically: the parts go to a temporary file in the same folder, which is flushed
 * to disk and renamed over the target, and the folder is synced so the rename itself survives a
 * crash. A reader sees the old file or the new one, never half of either; on failure the
 * temporary file is removed and the target is untouched.
 */
export async function writeFileAtomic(
  file: string,
  parts: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const chunks =
    typeof parts === 'string' ? [Buffer.from(parts)] : parts instanceof Uint8Array ? [parts] : parts;
  const folder = path.dirname(file);
  await fs.mkdir(folder, { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(temporary, 'w');
    try {
      for (const chunk of chunks) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          // One write call takes at most 2 GiB; larger arrays go in 1 GiB pieces.
          const length = Math.min(chunk.byteLength - offset, 1 << 30);
          const { bytesWritten } = await handle.write(chunk, offset, length);
          offset += bytesWritten;
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await syncFolder(folder);
}

async function syncFolder(folder: string): Promise<void> {
  // Not every platform can open a folder for syncing; the rename has happened either way.
  try {
    const handle = await fs.open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort */
  }
}
