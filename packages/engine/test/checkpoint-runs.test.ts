// Checkpoint folders: each checkpoint names its run; a run never deletes, overwrites or resumes
// another's; interrupted writes leave temporary files that the next start removes.
import { spawn, spawnSync } from 'node:child_process';
import {
  promises as fsp,
  mkdtempSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useBackend, writeFileAtomic } from '@recallkit/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { readCheckpoint, type TrainOptions, train, writeCheckpoint } from '../src/index';
import { memoryDataset, mlp, mPerClass, pairLoss } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const dataset = memoryDataset(48, [8], 6);
const temp = (name: string) => mkdtempSync(path.join(tmpdir(), `engine-${name}-`));

/** 3 batches per epoch; a checkpoint every 2 steps, the last 2 kept. */
function options(dir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model: mlp(8, 6, 3),
    loss: pairLoss,
    dataset,
    sampler: mPerClass(dataset.labels, 2, 4, 5),
    epochs: 2,
    chunkSize: 5,
    seed: 1,
    optimizer: { type: 'adamw', learningRate: 0.01 },
    progress: false,
    checkpoint: { dir, everySteps: 2 },
    ...extra,
  };
}

/** File name -> bytes, for everything in `dir`. */
const contents = (dir: string) =>
  Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(path.join(dir, n)).toString('hex')]));

describe('run identity', () => {
  it('every checkpoint names its run, and a resumed run keeps the name', async () => {
    const dir = temp('identity');
    const first = await train(options(dir, { epochs: 1 }));
    expect(first.run).toMatch(/^[0-9a-f-]{36}$/);
    expect((await readCheckpoint(first.lastCheckpoint!)).meta['run']).toBe(first.run);
    const resumed = await train(options(dir, { epochs: 2, resume: true }));
    expect(resumed.run).toBe(first.run);
    expect(resumed.steps).toBe(6);
    for (const name of readdirSync(dir)) {
      expect((await readCheckpoint(path.join(dir, name))).meta['run']).toBe(first.run);
    }
    const other = await train(options(temp('identity-other'), { epochs: 1 }));
    expect(other.run).not.toBe(first.run);
  });

  it('a fresh run in a folder holding another run is refused and deletes nothing', async () => {
    const dir = temp('fresh');
    const older = await train(options(dir, { epochs: 3 })); // steps 1..9: keeps 8 and 9
    const before = contents(dir);
    expect(Object.keys(before).sort()).toEqual(['step-000000008.ckpt', 'step-000000009.ckpt']);
    const attempt = train(options(dir, { epochs: 1 }));
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_DIR_IN_USE' });
    await expect(attempt).rejects.toThrow(new RegExp(`run ${older.run}.*resume: true.*nothing was deleted`));
    expect(contents(dir)).toEqual(before);
    // The older run is still there to continue.
    const resumed = await train(options(dir, { epochs: 4, resume: true }));
    expect(resumed).toMatchObject({ run: older.run, steps: 12 });
    expect(readdirSync(dir).sort()).toEqual(['step-000000010.ckpt', 'step-000000012.ckpt']);
    expect(resumed.lastCheckpoint).toBe(path.join(dir, 'step-000000012.ckpt'));
  });

  it('a resume never loads another run: a folder with checkpoints of two runs is refused', async () => {
    const a = temp('two-a');
    const b = temp('two-b');
    const runA = await train(options(a, { epochs: 1 })); // steps 2, 3
    await train(options(b, { epochs: 2 })); // steps 4, 6: newer than a's
    // b's newest checkpoint lands in a's folder (copied by hand, a sync tool, ...).
    await fsp.copyFile(path.join(b, 'step-000000006.ckpt'), path.join(a, 'step-000000006.ckpt'));
    const before = contents(a);
    const attempt = train(options(a, { epochs: 3, resume: true }));
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_DIR_IN_USE' });
    await expect(attempt).rejects.toThrow(new RegExp(`runs? ${runA.run}`));
    expect(contents(a)).toEqual(before);
  });

  it('housekeeping deletes only its own run: a damaged file of unknown origin stays', async () => {
    const dir = temp('housekeeping');
    const run = await train(options(dir, { epochs: 1 }));
    writeFileSync(path.join(dir, 'step-000000001.ckpt'), 'not a checkpoint');
    const resumed = await train(options(dir, { epochs: 3, resume: path.join(dir, 'step-000000003.ckpt') }));
    expect(resumed).toMatchObject({ run: run.run, steps: 9 });
    expect(readdirSync(dir).sort()).toEqual([
      'step-000000001.ckpt',
      'step-000000008.ckpt',
      'step-000000009.ckpt',
    ]);
    expect(readFileSync(path.join(dir, 'step-000000001.ckpt'), 'utf8')).toBe('not a checkpoint');
  });

  it('a resume that finds no step checkpoint starts the run over, log included', async () => {
    const dir = temp('restart');
    const log = path.join(temp('restart-log'), 'log.jsonl');
    writeFileSync(log, `${JSON.stringify({ step: 1, loss: 9 })}\n${JSON.stringify({ step: 2, loss: 9 })}\n`);
    const result = await train(options(dir, { epochs: 1, resume: true, log }));
    expect(result.steps).toBe(3);
    const steps = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(steps.every((r) => r.loss !== 9)).toBe(true);
  });

  it('checkpoints written before runs were named resume, and the folder stays theirs', async () => {
    const dir = temp('unnamed');
    await train(options(dir, { epochs: 1 }));
    // Strip the run's name, as an older Recallkit wrote them.
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      const { meta, tensors } = await readCheckpoint(file);
      delete meta['run'];
      await writeCheckpoint(file, { meta, tensors });
    }
    const resumed = await train(options(dir, { epochs: 3, resume: true }));
    expect(resumed.steps).toBe(9);
    expect(readdirSync(dir).sort()).toEqual(['step-000000008.ckpt', 'step-000000009.ckpt']);
  });
});

describe('temporary files', () => {
  const deadPid = () => {
    const child = spawnSync(process.execPath, ['-e', '0']);
    return child.pid as number;
  };

  it("the trainer's cleanup knows the atomic writer's temporary names", async () => {
    const dir = temp('temp-name');
    const opened: string[] = [];
    const open = fsp.open;
    const spy = vi.spyOn(fsp, 'open').mockImplementation((...args: Parameters<typeof open>) => {
      opened.push(String(args[0]));
      return open(...args);
    });
    try {
      await writeFileAtomic(path.join(dir, 'step-000000002.ckpt'), 'x');
    } finally {
      spy.mockRestore();
    }
    const tmp = opened.find((f) => f.endsWith('.tmp'));
    expect(tmp).toBeDefined();
    // As a kill between write and rename leaves it; the finished file goes (a fresh folder).
    await fsp.rm(path.join(dir, 'step-000000002.ckpt'));
    const orphan = path.basename(tmp!).replace(`.${process.pid}.`, `.${deadPid()}.`);
    writeFileSync(path.join(dir, orphan), 'half');
    await train(options(dir, { epochs: 1 }));
    expect(readdirSync(dir).sort()).toEqual(['step-000000002.ckpt', 'step-000000003.ckpt']);
  });

  it('orphans are removed on start; a live process keeps its write in progress', async () => {
    const dir = temp('temps');
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const names = {
        dead: `step-000000004.ckpt.${deadPid()}.0a1b2c3d.tmp`,
        own: `step-000000006.ckpt.${process.pid}.deadbeef.tmp`,
        legacy: 'step-000000002.ckpt.tmp-1234',
        live: `best.ckpt.${live.pid}.00ff00ff.tmp`,
        unrelated: 'notes.txt.tmp',
      };
      for (const name of Object.values(names)) writeFileSync(path.join(dir, name), 'partial bytes');
      await train(options(dir, { epochs: 1 }));
      expect(readdirSync(dir).sort()).toEqual(
        [names.live, names.unrelated, 'step-000000002.ckpt', 'step-000000003.ckpt'].sort(),
      );
    } finally {
      live.kill();
    }
  });
});

describe('corrupt checkpoints', () => {
  it('when every checkpoint is corrupt, the message recommends none of them', async () => {
    const dir = temp('all-corrupt');
    await train(options(dir, { epochs: 2 })); // keeps 4 and 6
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      truncateSync(file, Math.floor(readFileSync(file).length / 2));
    }
    const attempt = train(options(dir, { epochs: 3, resume: true }));
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    const message = await attempt.catch((e: Error) => e.message);
    expect(message).toMatch(/step-000000004\.ckpt is unusable too/);
    expect(message).toMatch(/no intact checkpoint is left/);
    expect(message).not.toMatch(/resume from it/);
  });

  it('skips a corrupt older checkpoint and names the newest intact one', async () => {
    const dir = temp('some-corrupt');
    await train(options(dir, { epochs: 3, checkpoint: { dir, everySteps: 2, keep: 3 } })); // 6, 8, 9
    for (const name of ['step-000000009.ckpt', 'step-000000008.ckpt']) {
      const file = path.join(dir, name);
      truncateSync(file, Math.floor(readFileSync(file).length / 2));
    }
    const attempt = train(options(dir, { epochs: 4, resume: true }));
    await expect(attempt).rejects.toThrow(
      /step-000000006\.ckpt is intact \(.*step-000000008\.ckpt is unusable too\): resume from it/,
    );
  });
});
