/**
 * Backend benchmark: matMul GFLOPS, and images/s of forward and forward+backward of the small
 * MNIST CNN (conv3x3-32 ReLU maxpool2, conv3x3-64 ReLU maxpool2, flatten, dense 128, L2 norm) on
 * every backend that loads here (wasm at each thread count of --threads), next to the same CNN
 * step in PyTorch (CPU, 2 threads; and 1 thread, for the per-core view) in the same run.
 *
 *   cd bench && npx tsx --conditions=source backends/run.ts [--batch 400] [--threads 1,2]
 *     [--backends wasm,cpu]
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { type BackendName, backendNames, describeBackend, tf, useBackend } from '@recallkit/core';
import { randn, smallCnn } from './cnn';

const BATCH = Number(option('--batch') ?? 400);
/** wasm thread counts to measure (default: 1 and every core). */
const THREADS = (option('--threads') ?? [...new Set([1, availableParallelism()])].join(','))
  .split(',')
  .map(Number);
const BACKENDS = (option('--backends')?.split(',') ?? backendNames) as readonly BackendName[];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Median wall time of `reps` runs of `fn` after one warm-up; `fn` must finish its work (await data). */
async function time(fn: () => Promise<void>, reps: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await fn();
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

async function matMulGflops(n: number, reps: number): Promise<number> {
  const a = randn([n, n], 1) as tf.Tensor2D;
  const b = randn([n, n], 1) as tf.Tensor2D;
  const seconds = await time(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  }, reps);
  tf.dispose([a, b]);
  return (2 * n ** 3) / seconds / 1e9;
}

async function cnnImagesPerSecond(batch: number, reps: number) {
  const net = smallCnn();
  const x = tf.tidy(() => tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1)) as tf.Tensor4D;
  const target = randn([batch, 128], 1);
  const forward = await time(async () => {
    const e = net.embed(x);
    await e.data();
    e.dispose();
  }, reps);
  const step = await time(async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.sum(tf.mul(net.embed(x), target), 1)) as tf.Scalar,
      net.params,
    );
    await Promise.all(Object.values(grads).map((g) => g.data()));
    tf.dispose([value, ...Object.values(grads)]);
  }, reps);
  tf.dispose([x, target, ...net.params]);
  return { forward: batch / forward, step: batch / step };
}

const torchScript = (threads: number) => `
import json, time, torch
torch.set_num_threads(${threads})
torch.manual_seed(0)
B = ${BATCH}
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(1600, 128))
x = torch.rand(B, 1, 28, 28)
target = torch.randn(B, 128)
def embed():
    return torch.nn.functional.normalize(net(x), dim=1)
def forward():
    with torch.no_grad():
        embed()
def step():
    net.zero_grad()
    (embed() * target).sum(1).mean().backward()
def timeit(fn, reps=5):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]
n = 1024
a, b = torch.randn(n, n), torch.randn(n, n)
mm = timeit(lambda: a @ b)
print(json.dumps({"torch": torch.__version__, "matmul_gflops": 2 * n**3 / mm / 1e9,
                  "forward": B / timeit(forward), "step": B / timeit(step)}))
`;

import { option } from '../args';

interface Row {
  backend: string;
  note: string;
  matmul: number;
  matmulSize: number;
  forward: number;
  step: number;
  batch: number;
}

const loadBefore = loadavg()[0] as number;
const rows: Row[] = [];
const runs = BACKENDS.flatMap(
  (name): Array<{ name: BackendName; threads: number | undefined }> =>
    name === 'wasm' ? THREADS.map((threads) => ({ name, threads })) : [{ name, threads: undefined }],
);
for (const { name, threads } of runs) {
  try {
    await useBackend(name, threads === undefined ? {} : { threads });
  } catch (error) {
    console.error(`skip ${name}: ${(error as Error).message.split('\n')[0]}`);
    continue;
  }
  const d = describeBackend();
  const slow = name === 'cpu';
  // The pure-JS cpu backend is ~40x slower: smaller sizes keep the run short.
  const matmulSize = slow ? 512 : 1024;
  const batch = slow ? 10 : BATCH;
  const matmul = await matMulGflops(matmulSize, slow ? 1 : 5);
  const cnn = await cnnImagesPerSecond(batch, slow ? 1 : 3);
  const note = [
    d.simd === undefined ? '' : d.simd ? 'SIMD' : 'no SIMD',
    d.threads ? `${d.threads} thread${d.threads > 1 ? 's' : ''}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  rows.push({ backend: name, note, matmul, matmulSize, batch, ...cnn });
  console.error(`${name}: done`);
}

interface TorchResult {
  torch: string;
  matmul_gflops: number;
  forward: number;
  step: number;
}
const peer = (threads: number): TorchResult => {
  const run = spawnSync('/usr/bin/python3', ['-c', torchScript(threads)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`PyTorch peer failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as TorchResult;
};
const torch = peer(2);
const torch1 = peer(1);
const loadAfter = loadavg()[0] as number;

const f = (v: number, digits = 0) => v.toFixed(digits);
const lines = [
  '| backend | matMul GFLOPS (n) | CNN forward img/s | CNN fwd+bwd img/s | fwd / PyTorch | fwd+bwd / PyTorch |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.backend}${r.note ? ` (${r.note})` : ''} | ${f(r.matmul, 2)} (${r.matmulSize}) | ${f(r.forward)} (batch ${r.batch}) | ${f(r.step)} | ${f(r.forward / torch.forward, 2)} | ${f(r.step / torch.step, 2)} |`,
  ),
  `| PyTorch ${torch.torch} CPU, 2 threads (peer) | ${f(torch.matmul_gflops, 2)} (1024) | ${f(torch.forward)} (batch ${BATCH}) | ${f(torch.step)} | 1 | 1 |`,
  `| PyTorch ${torch1.torch} CPU, 1 thread | ${f(torch1.matmul_gflops, 2)} (1024) | ${f(torch1.forward)} (batch ${BATCH}) | ${f(torch1.step)} | ${f(torch1.forward / torch.forward, 2)} | ${f(torch1.step / torch.step, 2)} |`,
];
console.log(lines.join('\n'));
console.log(
  `\n1-minute load average: ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after (2 cores).`,
);
