/**
 * How the wasm backend's work splits over its threads, from CPU time per thread (Linux
 * /proc/self/task), for matMul 1024 and the small CNN's training step (the network of run.ts).
 * Wall time on a shared machine says little about scaling (another job holding a core stalls
 * every barrier of a thread pool); CPU time per thread does not depend on the load as much:
 * - total: CPU seconds of the whole process per operation (1 thread: the work itself);
 * - longest: CPU seconds of the busiest thread per operation, a lower bound of the wall time
 *   with every thread on a free core;
 * - bound: total at 1 thread / longest, the speed-up that split allows on an idle machine.
 *
 *   cd bench && npx tsx --conditions=source backends/thread-split.ts [--threads 1,2] [--batch 400]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { describeBackend, tf, useBackend } from '@recallkit/core';
import { option } from '../args';
import { randn, smallCnn } from './cnn';

const BATCH = Number(option('--batch') ?? 400);
const THREADS = (option('--threads') ?? [...new Set([1, availableParallelism()])].join(','))
  .split(',')
  .map(Number);

/** CPU seconds (user + system) of every thread of this process, by thread id. */
function threadSeconds(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) / 100); // clock ticks (USER_HZ = 100)
    } catch {
      // the thread ended
    }
  }
  return out;
}

async function split(fn: () => Promise<void>, reps: number) {
  await fn();
  const before = threadSeconds();
  const start = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  const wall = (performance.now() - start) / 1000 / reps;
  const after = threadSeconds();
  const used = [...after].map(([tid, s]) => s - (before.get(tid) ?? 0)).filter((s) => s > 0);
  return {
    wall,
    total: used.reduce((a, b) => a + b, 0) / reps,
    longest: Math.max(...used) / reps,
  };
}

const rows: string[] = [];
const base: Record<string, number> = {};
const load = [loadavg()[0] as number];
for (const threads of THREADS) {
  await useBackend('wasm', { threads });
  const running = describeBackend().threads ?? 1;
  const n = 1024;
  const a = randn([n, n], 1) as tf.Tensor2D;
  const b = randn([n, n], 1) as tf.Tensor2D;
  const mm = await split(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  }, 10);
  tf.dispose([a, b]);
  const net = smallCnn();
  const x = tf.tidy(() => tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1)) as tf.Tensor4D;
  const target = randn([BATCH, 128], 1);
  const step = await split(async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.sum(tf.mul(net.embed(x), target), 1)) as tf.Scalar,
      net.params,
    );
    await Promise.all(Object.values(grads).map((g) => g.data()));
    tf.dispose([value, ...Object.values(grads)]);
  }, 5);
  tf.dispose([x, target, ...net.params]);
  for (const [name, r] of [
    ['matMul 1024', mm],
    [`CNN step (batch ${BATCH})`, step],
  ] as const) {
    if (running === 1) base[name] = r.total;
    const bound = base[name] === undefined ? '' : (base[name] / r.longest).toFixed(2);
    rows.push(
      `| ${name} | ${running} | ${r.wall.toFixed(3)} | ${r.total.toFixed(3)} | ${r.longest.toFixed(3)} | ${bound} |`,
    );
  }
  load.push(loadavg()[0] as number);
}
console.log(
  [
    '| operation | threads | wall s | CPU s, all threads | CPU s, busiest thread | bound on idle speed-up |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
console.log(`\n1-minute load average during the run: ${load.map((l) => l.toFixed(1)).join(', ')} (2 cores).`);
