import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const script = path.join(root, 'test/fixtures/train-child.ts');
const TOTAL_STEPS = 24;

function start(dir: string, resume: boolean, delayMs: number): ChildProcess {
  // One node process with tsx's loader (the tsx command would run the script in a grandchild
  // that a SIGKILL of the command leaves running).
  const args = [
    '--import',
    'tsx',
    '--conditions=source',
    script,
    dir,
    resume ? 'resume' : 'no',
    String(delayMs),
  ];
  return spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finish(child: ChildProcess): Promise<number | null> {
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code, signal) =>
      code === 0 || signal ? resolve(code) : reject(new Error(`child failed (${code}): ${stderr}`)),
    ),
  );
}

function finalWeights(dir: string): { steps: number; weights: number[][] } {
  return JSON.parse(readFileSync(path.join(dir, 'final.json'), 'utf8'));
}

describe('a run killed with SIGKILL and resumed', () => {
  it('ends with the same weights as an uninterrupted run', async () => {
    const straight = mkdtempSync(path.join(tmpdir(), 'engine-straight-'));
    const killed = mkdtempSync(path.join(tmpdir(), 'engine-killed-'));
    const killAt = 4 + Math.floor(Math.random() * (TOTAL_STEPS - 8)); // a random step, past the first checkpoint
    const reference = finish(start(straight, false, 0));

    const victim = start(killed, false, 40);
    let seen = 0;
    victim.stdout?.on('data', (d: Buffer) => {
      const steps = [...d.toString().matchAll(/step (\d+)/g)].map((m) => Number(m[1]));
      seen = Math.max(seen, ...steps);
      if (seen >= killAt) victim.kill('SIGKILL');
    });
    await finish(victim);
    expect(victim.signalCode).toBe('SIGKILL');
    expect(existsSync(path.join(killed, 'final.json'))).toBe(false);
    const left = readdirSync(path.join(killed, 'ckpt')).filter((f) => f.startsWith('step-'));
    expect(left.length).toBeGreaterThan(0);

    await finish(start(killed, true, 0));
    await reference;
    const a = finalWeights(straight);
    const b = finalWeights(killed);
    expect(a.steps).toBe(TOTAL_STEPS);
    expect(b.steps).toBe(TOTAL_STEPS);
    // Bit-for-bit: every weight equal, not merely close.
    expect(b.weights).toEqual(a.weights);
    // The resumed log holds each step once, in order.
    const steps = readFileSync(path.join(killed, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: TOTAL_STEPS }, (_, i) => i + 1));
  }, 60_000);
});
