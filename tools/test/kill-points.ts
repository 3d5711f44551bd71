/**
 * Seeded kill points for the crash-consistency tests: a child process is killed with SIGKILL at a
 * point a seeded generator chose (mid-step, half-way through an atomic write, half-way through a
 * log append), then resumed. `RECALLKIT_KILL_SEED` picks the seed (default 1) and
 * `RECALLKIT_KILL_MATRIX=<n>` runs n kill points per kind instead of the few of the default run;
 * the tests print the seed and every kill point, so a failing one is rerun with its seed.
 *
 * The child side is `installKillPoint`, which the child calls (or `kill-hook.ts` does, preloaded
 * with `--import`) with the point from its environment: it wraps `fs.promises` of this process
 * only, and does nothing when no point is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/** Where the child kills itself. */
export type KillPoint =
  /** At the `nth` (1-based) call of a counted function of the child (its loss, its data loading). */
  | { kind: 'call'; nth: number }
  /**
   * At the `nth` atomic write (a `<file>.<pid>.<hex>.tmp` opened for writing) whose target matches
   * `target`: after `fraction` (0..1) of its bytes reached the temporary file, before the rename;
   * a fraction above 1 kills just after the rename instead.
   */
  | { kind: 'atomic-write'; target: string; nth: number; fraction: number }
  /** At the `nth` `appendFile` of a file matching `target`, after `fraction` of the text was appended. */
  | { kind: 'append'; target: string; nth: number; fraction: number };

/** The environment variable that carries a kill point (JSON) to a child. */
const KILL_POINT_ENV = 'RECALLKIT_KILL_POINT';

export function killSeed(): number {
  const seed = Number(process.env['RECALLKIT_KILL_SEED'] ?? 1);
  if (!Number.isInteger(seed)) throw new Error(`RECALLKIT_KILL_SEED must be an integer; got ${seed}`);
  return seed;
}

/** Kill points per kind: `RECALLKIT_KILL_MATRIX` when set, else `quick`. */
export function killsPerKind(quick: number): number {
  const n = Number(process.env['RECALLKIT_KILL_MATRIX'] ?? quick);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`RECALLKIT_KILL_MATRIX must be a positive integer; got ${n}`);
  return n;
}

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export function killRng(seed: number): { next(): number; int(lo: number, hi: number): number } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  /** An integer in [lo, hi]. */
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int };
}

/** A kill point in words, for the test output. */
export function describeKillPoint(point: KillPoint): string {
  if (point.kind === 'call') return `call #${point.nth}`;
  const where = point.kind === 'atomic-write' ? 'atomic write' : 'append';
  const at =
    point.fraction > 1 ? 'just after its rename' : `after ${(point.fraction * 100).toFixed(1)}% of its bytes`;
  return `${where} #${point.nth} of /${point.target}/, ${at}`;
}

/** The kill point given to this process, if any. */
export function killPointFromEnv(): KillPoint | undefined {
  const text = process.env[KILL_POINT_ENV];
  return text ? (JSON.parse(text) as KillPoint) : undefined;
}

function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL ends the process before this line; should it not, nothing else may run either.
  throw new Error('unreachable');
}

const TEMPORARY = /^(.*)\.\d+\.[0-9a-f]+\.tmp$/;

/**
 * Arms `point` in this process. For a 'call' point it returns the function to call at each counted
 * call; for the file points it wraps `fs.promises.open`, `rename` and `appendFile`.
 */
export function installKillPoint(point: KillPoint | undefined): () => void {
  if (!point) return () => {};
  let calls = 0;
  if (point.kind === 'call') {
    return () => {
      calls += 1;
      if (calls === point.nth) die();
    };
  }
  const target = new RegExp(point.target);
  if (point.kind === 'atomic-write') {
    const open = fsp.open.bind(fsp);
    const rename = fsp.rename.bind(fsp);
    let armed: string | undefined;
    fsp.open = (async (file: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
      const handle = await open(file, flags, mode);
      const match = flags === 'w' ? TEMPORARY.exec(String(file)) : null;
      if (!match || !target.test(match[1] as string)) return handle;
      calls += 1;
      if (calls !== point.nth) return handle;
      if (point.fraction > 1) {
        armed = String(file);
        return handle;
      }
      // Collects what is written, then writes its first `fraction` to the file and dies at the sync.
      const chunks: Buffer[] = [];
      return new Proxy(handle, {
        get(h, key) {
          if (key === 'write') {
            return async (buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset) => {
              chunks.push(Buffer.from(buffer.subarray(offset, offset + length)));
              return { bytesWritten: length, buffer };
            };
          }
          if (key === 'sync') {
            return async () => {
              const all = Buffer.concat(chunks);
              await h.write(all, 0, Math.floor(all.length * point.fraction));
              await h.sync();
              die();
            };
          }
          const value = Reflect.get(h, key);
          return typeof value === 'function' ? value.bind(h) : value;
        },
      });
    }) as typeof fsp.open;
    fsp.rename = async (from: fs.PathLike, to: fs.PathLike) => {
      await rename(from, to);
      if (armed !== undefined && String(from) === armed) die();
    };
  } else {
    const appendFile = fsp.appendFile.bind(fsp);
    fsp.appendFile = (async (file: fs.PathLike, data: string | Uint8Array, options?: fs.WriteFileOptions) => {
      if (!target.test(String(file))) return appendFile(file, data, options);
      calls += 1;
      if (calls !== point.nth) return appendFile(file, data, options);
      const bytes = Buffer.from(data);
      await appendFile(file, bytes.subarray(0, Math.floor(bytes.length * point.fraction)));
      die();
    }) as typeof fsp.appendFile;
  }
  syncBuiltinESMExports();
  return () => {};
}

/** `node args` in `cwd` as a child, with `point` in its environment (none when omitted). */
export function spawnWithKillPoint(args: string[], cwd: string, point?: KillPoint): ChildProcess {
  const env = { ...process.env };
  if (point) env[KILL_POINT_ENV] = JSON.stringify(point);
  else delete env[KILL_POINT_ENV];
  return spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The signal that ended `child` (null when it exited with 0); rejects with its stderr when it failed. */
export function exitSignal(child: ChildProcess): Promise<NodeJS.Signals | null> {
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code, signal) =>
      code === 0 || signal ? resolve(signal) : reject(new Error(`child failed (${code}): ${stderr}`)),
    ),
  );
}
