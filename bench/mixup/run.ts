/**
 * SiMix: the similarity route (mix the B x B similarities, M S Mᵀ) against the naive route (build
 * the mixed d-dim embeddings M E, then their similarities), in one run on the same inputs. Each
 * route runs in its own child process so that its peak resident memory (maxRSS: tensors in the
 * wasm heap plus JavaScript arrays) is its own; tf.profile gives the peak tensor memory besides.
 * Measured: the forward pass and forward + backward (a fixed upstream gradient on the extended
 * similarities, back to the embeddings).
 *
 * Default: B = 4000 (1000 classes x 4), d = 512, 10,000 virtual samples = every same-class pair
 * (6 per class: 6000, the authors' mixup, queries and database items) + 4000 cross-class mixes
 * (database items only), i.e. 2.5 virtual samples per original: Q = 10,000 queries x N = 14,000.
 *
 *   cd bench && npx tsx --conditions=source mixup/run.ts [--batch 4000] [--dim 512] [--cross 4000]
 *   cd bench && npx tsx --conditions=source mixup/run.ts --route loss   # the whole SiMix RS@k step
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRng, tf, useBackend } from '@recallkit/core';
import { recallAtKSurrogate } from '@recallkit/losses';
import { type MixPlan, mixEmbeddings, mixSimilarities, planMixup, simix } from '@recallkit/mixup';

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] as string) : fallback;
}

const B = Number(argument('batch', '4000'));
const D = Number(argument('dim', '512'));
const CROSS = Number(argument('cross', '4000'));
const PER_CLASS = 4;
const SAMPLE_ROWS = 8; // rows of the block each route returns for the equality check

type Route = (e: tf.Tensor2D, plan: MixPlan) => tf.Tensor2D;
const routes: Record<string, Route> = {
  similarities: (e, plan) => mixSimilarities(tf.matMul(e, e, false, true), plan),
  naive: (e, plan) => {
    const x = mixEmbeddings(e, plan);
    return tf.matMul(tf.slice(x, 0, plan.queries), x, false, true);
  },
};

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const loadavg = () => os.loadavg().map((x) => round(x));

function inputs(batch: number, dim: number, crossClass: number, seed: number) {
  const rng = createRng(seed);
  const raw = tf.tensor2d(
    Float32Array.from({ length: batch * dim }, () => rng.normal()),
    [batch, dim],
  );
  const e = tf.tidy(() => tf.div(raw, tf.norm(raw, 'euclidean', 1, true)) as tf.Tensor2D);
  raw.dispose();
  const labels = Array.from({ length: batch }, (_, i) => Math.floor(i / PER_CLASS));
  const plan = planMixup(labels, { crossClass }, { rng: rng.split('mixup') });
  return { e, plan };
}

/**
 * Runs `fn` once under tf.profile: wall time, CPU time of this process (less sensitive than wall
 * time to other processes on a shared machine) and peak tensor memory above what existed before.
 */
async function profiled<T>(
  fn: () => T,
): Promise<{ seconds: number; cpuSeconds: number; peakMiB: number; result: T }> {
  const base = tf.memory().numBytes;
  let result: T | undefined;
  let seconds = 0;
  let cpuSeconds = 0;
  const info = await tf.profile(() => {
    const start = performance.now();
    const cpu = process.cpuUsage();
    result = fn();
    const used = process.cpuUsage(cpu);
    cpuSeconds = (used.user + used.system) / 1e6;
    seconds = (performance.now() - start) / 1000;
  });
  return { seconds, cpuSeconds, peakMiB: Math.round((info.peakBytes - base) / 2 ** 20), result: result as T };
}

/** Child: measure one route, print one JSON line. */
async function measureRoute(name: string) {
  const route = routes[name] as Route;
  await useBackend('wasm');
  {
    const { e, plan } = inputs(64, 16, 16, 1); // warm-up: every kernel once
    const g = tf.ones([plan.queries, plan.labels.length]) as tf.Tensor2D;
    tf.tidy(() => tf.grad((x: tf.Tensor) => route(x as tf.Tensor2D, plan))(e, g));
    tf.dispose([e, g]);
  }
  const { e, plan } = inputs(B, D, CROSS, 2);
  const upstream = tf.tidy(() => tf.randomNormal([plan.queries, plan.labels.length], 0, 1e-3, 'float32', 4));
  // untimed full-size pass: grows the wasm heap to its working size, so no timing below pays for it
  tf.grad((x: tf.Tensor) => route(x as tf.Tensor2D, plan))(e, upstream).dispose();
  const forward = await profiled(() => route(e, plan));
  const block = forward.result;
  const sample = tf.tidy(() =>
    tf
      .concat([tf.slice(block, 0, SAMPLE_ROWS), tf.slice(block, plan.queries - SAMPLE_ROWS, SAMPLE_ROWS)])
      .arraySync(),
  );
  block.dispose();
  const both = await profiled(() =>
    tf
      .grad((x: tf.Tensor) => route(x as tf.Tensor2D, plan))(e, upstream)
      .dispose(),
  );
  console.log(
    JSON.stringify({
      route: name,
      forward_s: round(forward.seconds),
      forward_backward_s: round(both.seconds),
      forward_cpu_s: round(forward.cpuSeconds),
      forward_backward_cpu_s: round(both.cpuSeconds),
      tensor_peak_forward_MiB: forward.peakMiB,
      tensor_peak_forward_backward_MiB: both.peakMiB,
      max_rss_MiB: Math.round(process.resourceUsage().maxRSS / 1024),
      queries: plan.queries,
      database: plan.labels.length,
      virtual: plan.alpha.length,
      sameClass: plan.sameClass,
      sample,
    }),
  );
}

/**
 * Child for `--route loss`: a whole SiMix RS@k evaluation, simix(recallAtKSurrogate()) value and
 * gradient at the same sizes, for context (the ranking loss on the Q x N block is common to both
 * routes). CPU time is the process's, worker threads of the fused loss kernel included.
 */
async function measureLoss() {
  await useBackend('wasm');
  const { e } = inputs(B, D, CROSS, 2);
  const labels = Array.from({ length: B }, (_, i) => Math.floor(i / PER_CLASS));
  const loss = simix(recallAtKSurrogate(), { seed: 1, crossClass: CROSS });
  const step = () => {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
    const v = value.dataSync()[0];
    tf.dispose([value, grad]);
    return v;
  };
  step(); // untimed: warm-up and heap growth
  const timed = await profiled(step);
  console.log(
    JSON.stringify({
      route: 'simix(recallAtKSurrogate()) value and gradient',
      forward_backward_s: round(timed.seconds),
      forward_backward_cpu_s: round(timed.cpuSeconds),
      max_rss_MiB: Math.round(process.resourceUsage().maxRSS / 1024),
      loss: timed.result,
      stats: loss.lastStats,
    }),
  );
}

function main() {
  const self = fileURLToPath(import.meta.url);
  const header = {
    B,
    d: D,
    cross: CROSS,
    backend: 'wasm',
    cpus: os.cpus().length,
    loadavg_before: loadavg(),
  };
  console.log(JSON.stringify(header));
  const results: Record<string, Record<string, unknown>> = {};
  for (const name of Object.keys(routes)) {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, self, '--route', name, '--batch', `${B}`, '--dim', `${D}`, '--cross', `${CROSS}`],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    const result = JSON.parse(out.trim().split('\n').at(-1) as string);
    results[name] = result;
    const { sample: _, ...shown } = result;
    console.log(JSON.stringify(shown));
  }
  const s = results.similarities as Record<string, number> & { sample: number[][] };
  const n = results.naive as Record<string, number> & { sample: number[][] };
  let difference = 0;
  s.sample.forEach((row, i) => {
    row.forEach((v, j) => {
      difference = Math.max(difference, Math.abs(v - (n.sample[i]?.[j] ?? Number.NaN)));
    });
  });
  const ratio = (key: string) => round((s[key] as number) / (n[key] as number), 3);
  console.log(
    JSON.stringify({
      sampled_rows_max_abs_difference: difference,
      similarities_over_naive: {
        forward_time: ratio('forward_s'),
        forward_backward_time: ratio('forward_backward_s'),
        forward_cpu: ratio('forward_cpu_s'),
        forward_backward_cpu: ratio('forward_backward_cpu_s'),
        tensor_peak_forward_backward: ratio('tensor_peak_forward_backward_MiB'),
        max_rss: ratio('max_rss_MiB'),
      },
      loadavg_after: loadavg(),
    }),
  );
}

const child = argument('route', '');
if (child === 'loss') await measureLoss();
else if (child) await measureRoute(child);
else main();
