import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  describeKillPoint,
  exitSignal,
  type KillPoint,
  killRng,
  killSeed,
  killsPerKind,
  spawnWithKillPoint,
} from '../../../tools/test/kill-points';
import { readCheckpoint } from '../src/checkpoint';

const root = path.resolve(__dirname, '..');
const script = path.join(root, 'test/fixtures/train-child.ts');
const TOTAL_STEPS = 24;
/** Data loads and loss calls of the fixture's run: 2 chunks in stage 1, the loss, 2 chunks in stage 3. */
const CALLS = TOTAL_STEPS * 5;
/** Step checkpoints the fixture writes (every 3 steps). */
const CHECKPOINTS = TOTAL_STEPS / 3;

function start(dir: string, resume: boolean, point?: KillPoint): ChildProcess {
  // One node process with tsx's loader (the tsx command would run the script in a grandchild
  // that a SIGKILL of the command leaves running).
  const args = ['--import', 'tsx', '--conditions=source', script, dir, resume ? 'resume' : 'no'];
  return spawnWithKillPoint(args, root, point);
}

function finalOf(dir: string): { steps: number; calls: number; weights: number[][] } {
  return JSON.parse(readFileSync(path.join(dir, 'final.json'), 'utf8'));
}

function filesUnder(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }) : [];
}

// The kill points, drawn from the seed: printed so that a failing one can be rerun.
const seed = killSeed();
const perKind = killsPerKind(2);
const rng = killRng(seed);
/** Each kind's kill point, and for some a second one that kills the first resume. */
const kinds: { kind: string; draw: () => KillPoint | [KillPoint, KillPoint] }[] = [
  { kind: 'mid-step', draw: () => ({ kind: 'call', nth: rng.int(1, CALLS) }) },
  {
    kind: 'mid-checkpoint-write',
    draw: () => {
      const fraction = rng.next() * 1.1;
      return {
        kind: 'atomic-write',
        target: '\\.ckpt$',
        nth: rng.int(1, CHECKPOINTS),
        fraction: fraction > 1 ? 2 : fraction,
      };
    },
  },
  {
    // Then the resume is killed too, half-way through rewriting the log without the torn line.
    kind: 'mid-log-append',
    draw: () => [
      { kind: 'append', target: 'train\\.jsonl$', nth: rng.int(1, TOTAL_STEPS), fraction: rng.next() },
      { kind: 'atomic-write', target: 'train\\.jsonl$', nth: 1, fraction: rng.next() },
    ],
  },
];
const cases = kinds.flatMap(({ kind, draw }) =>
  Array.from({ length: perKind }, (_, i) => {
    const drawn = draw();
    const points = Array.isArray(drawn) ? drawn : [drawn];
    const name = `${kind} ${i + 1}/${perKind}: ${points.map(describeKillPoint).join('; resume killed at ')}`;
    return { kind, i, points, name };
  }),
);
console.log(
  `kill points (seed ${seed}, RECALLKIT_KILL_SEED=<n> to change, RECALLKIT_KILL_MATRIX=<n> per kind):\n${cases
    .map((c) => `  ${c.name}  ${JSON.stringify(c.points)}`)
    .join('\n')}`,
);

describe(`a run killed with SIGKILL at seeded points (seed ${seed}) and resumed`, () => {
  let reference: ReturnType<typeof finalOf>;
  beforeAll(async () => {
    const straight = mkdtempSync(path.join(tmpdir(), 'engine-straight-'));
    await exitSignal(start(straight, false));
    reference = finalOf(straight);
    expect(reference.steps).toBe(TOTAL_STEPS);
    expect(reference.calls).toBe(CALLS);
  }, 60_000);

  it.each(cases)(
    '$name',
    async ({ points }) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'engine-killed-'));
      for (const [i, point] of points.entries()) {
        const signal = await exitSignal(start(dir, i > 0, point));
        expect(signal, `kill point ${i + 1} was not reached`).toBe('SIGKILL');
        expect(filesUnder(dir)).not.toContain('final.json');
        // Whatever is left under a checkpoint's name is a whole checkpoint: a half-written one is
        // only ever a temporary file, which no resume reads.
        const ckpt = path.join(dir, 'ckpt');
        for (const name of filesUnder(ckpt).filter((n) => n.endsWith('.ckpt'))) {
          await expect(readCheckpoint(path.join(ckpt, name))).resolves.toBeDefined();
        }
      }

      await exitSignal(start(dir, true));
      const resumed = finalOf(dir);
      expect(resumed.steps).toBe(TOTAL_STEPS);
      // Bit-for-bit: every weight equal, not merely close.
      expect(resumed.weights).toEqual(reference.weights);
      // The resumed log holds each step once, in order, each line whole.
      const text = readFileSync(path.join(dir, 'train.jsonl'), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      const steps = text
        .slice(0, -1)
        .split('\n')
        .map((l) => JSON.parse(l).step);
      expect(steps).toEqual(Array.from({ length: TOTAL_STEPS }, (_, i) => i + 1));
      expect(filesUnder(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    },
    60_000,
  );
});
