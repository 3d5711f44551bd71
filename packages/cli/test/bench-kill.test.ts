import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
import { tempDir, tinyExperiment, writeYaml } from './helpers';

const root = resolve(__dirname, '..');
const hook = resolve(root, '../../tools/test/kill-hook.ts');
/** The atomic writes of the bench below: 4 kept runs, 2 charts as SVG and PNG, results.md, results.json, report.html. */
const WRITES = 11;

/** `recallkit bench` from the sources in a child process, killed at `point` when given. */
function bench(config: string, out: string, point?: KillPoint): ChildProcess {
  const args = ['--import', 'tsx', '--import', hook, '--conditions=source', join(root, 'src/cli.ts')];
  args.push('bench', config, '--seeds', '0,1', '--workers', '1', '--out', out, '--json');
  return spawnWithKillPoint(args, root, point);
}

const filesUnder = (dir: string) =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];

/** What must not depend on an interruption: each run's metrics and curve, and the summaries. */
function outcome(out: string) {
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  return {
    runs: results.runs.map((r: Record<string, unknown>) => [
      r['experiment'],
      r['seed'],
      r['metrics'],
      r['curve'],
    ]),
    summaries: results.summaries.map((s: Record<string, unknown>) => [
      s['experiment'],
      s['recall'],
      s['mapAtR'],
    ]),
  };
}

const seed = killSeed();
const perKind = killsPerKind(2);
const rng = killRng(seed + 1000);
const cases = Array.from({ length: perKind }, (_, i) => {
  const fraction = rng.next() * 1.1;
  const point: KillPoint = {
    kind: 'atomic-write',
    target: '/report/',
    nth: rng.int(1, WRITES),
    fraction: fraction > 1 ? 2 : fraction,
  };
  return { point, name: `mid-report-write ${i + 1}/${perKind}: ${describeKillPoint(point)}` };
});
console.log(
  `bench kill points (seed ${seed}, RECALLKIT_KILL_SEED=<n> to change, RECALLKIT_KILL_MATRIX=<n> in all):\n${cases
    .map((c) => `  ${c.name}  ${JSON.stringify(c.point)}`)
    .join('\n')}`,
);

describe(`recallkit bench killed with SIGKILL while writing its report (seed ${seed}), then run again`, () => {
  let config: string;
  let reference: ReturnType<typeof outcome>;
  let referenceFiles: string[];
  beforeAll(async () => {
    const dir = await tempDir();
    config = await writeYaml(dir, 'rsk.yaml', tinyExperiment('kill-rsk', { name: 'rsk', k: [1, 2] }));
    const out = join(dir, 'report');
    await exitSignal(bench(config, out));
    reference = outcome(out);
    referenceFiles = filesUnder(out);
  }, 60_000);

  it.each(cases)(
    '$name',
    async ({ point }) => {
      const out = join(await tempDir(), 'report');
      expect(await exitSignal(bench(config, out, point)), 'the kill point was not reached').toBe('SIGKILL');
      // What a kill leaves under a file's own name is whole: kept runs parse.
      for (const name of filesUnder(join(out, 'runs')).filter((n) => n.endsWith('.json'))) {
        expect(() => JSON.parse(readFileSync(join(out, 'runs', name), 'utf8'))).not.toThrow();
      }
      expect(await exitSignal(bench(config, out))).toBeNull();
      expect(outcome(out)).toEqual(reference);
      // The same files as an uninterrupted bench: no temporary file is left.
      expect(filesUnder(out)).toEqual(referenceFiles);
      const png = readFileSync(join(out, 'recall.png'));
      expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    },
    60_000,
  );
});
