/**
 * The composite (TensorFlow.js ops) RS@k and Smooth-AP on a GPU, through the WebGPU backend
 * (Dawn's Node binding, the `webgpu` package): loss and gradient at B = 1000..4000, d = 512,
 * 4 per class, checked against the fused float64 CPU kernel on the same embeddings, and timed.
 *
 * Usage (on a machine with a GPU and a Vulkan loader):
 *   cd bench && npx tsx --conditions=source gpu/run.ts [B ...]
 * RECALLKIT_REFERENCE_BACKEND (default wasm) runs the fused reference; RECALLKIT_CHECK_UPTO
 * (default 4000) skips the reference above that batch size. Prints one JSON line per (loss, B).
 */
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
(globalThis as { navigator?: unknown }).navigator = { gpu: create([]) };

const { tf } = await import('@recallkit/core');
await import('@tensorflow/tfjs-backend-webgpu');
const { recallAtKSurrogate, smoothAP, terminateWorkers } = await import('@recallkit/losses');

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((b) => b > 0);
const batches = sizes.length > 0 ? sizes : [1000, 2000, 4000];
const dim = 512;
const referenceBackend = process.env['RECALLKIT_REFERENCE_BACKEND'] ?? 'wasm';
const checkUpTo = Number(process.env['RECALLKIT_CHECK_UPTO'] ?? 4000);

const adapter = await (globalThis as unknown as { navigator: { gpu: GPU } }).navigator.gpu.requestAdapter();
if (!adapter) throw new Error('no WebGPU adapter: this machine exposes no GPU through Vulkan');
console.log(JSON.stringify({ adapter: adapter.info ?? null }));

function batch(B: number): { e: Float32Array; labels: Int32Array } {
  const e = new Float32Array(B * dim);
  let s = 12345;
  for (let i = 0; i < e.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = (s + 0.5) / 4294967296;
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const v = (s + 0.5) / 4294967296;
    e[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  for (let r = 0; r < B; r++) {
    let n = 0;
    for (let c = 0; c < dim; c++) n += e[r * dim + c]! ** 2;
    const inv = 1 / Math.sqrt(n);
    for (let c = 0; c < dim; c++) e[r * dim + c]! *= inv;
  }
  return { e, labels: Int32Array.from({ length: B }, (_, i) => Math.floor(i / 4)) };
}

async function valueAndGrad(
  backend: string,
  loss: (e: import('@recallkit/core').tf.Tensor2D, l: Int32Array) => import('@recallkit/core').tf.Scalar,
  data: { e: Float32Array; labels: Int32Array },
  B: number,
  reps: number,
) {
  await tf.setBackend(backend);
  await tf.ready();
  const e = tf.tensor2d(data.e, [B, dim]);
  const f = tf.valueAndGrad((x: import('@recallkit/core').tf.Tensor2D) => loss(x, data.labels));
  let out: { value: number; grad: Float32Array } | undefined;
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const { value, grad } = f(e);
    const v = (await value.data())[0]!;
    const g = (await grad.data()) as Float32Array;
    times.push((performance.now() - t0) / 1000);
    value.dispose();
    grad.dispose();
    out = { value: v, grad: g };
  }
  e.dispose();
  times.sort((a, b) => a - b);
  return { ...out!, seconds: times[Math.floor(times.length / 2)]!, first: times[0]! };
}

for (const [name, make] of [
  ['rsk', recallAtKSurrogate],
  ['smoothap', smoothAP],
] as const) {
  for (const B of batches) {
    const data = batch(B);
    const gpu = await valueAndGrad('webgpu', make({ implementation: 'composite' }), data, B, 4);
    const cpu =
      B <= checkUpTo
        ? await valueAndGrad(referenceBackend, make({ implementation: 'fused' }), data, B, 1)
        : { value: Number.NaN, grad: new Float32Array(0), seconds: Number.NaN };
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < cpu.grad.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(gpu.grad[i]! - cpu.grad[i]!));
      maxRef = Math.max(maxRef, Math.abs(cpu.grad[i]!));
    }
    console.log(
      JSON.stringify({
        loss: name,
        B,
        d: dim,
        gpuValue: gpu.value,
        fusedValue: cpu.value,
        valueDiff: Math.abs(gpu.value - cpu.value),
        gradMaxAbsDiff: maxAbs,
        gradMaxAbs: maxRef,
        gpuSeconds: gpu.seconds,
        fusedSeconds: cpu.seconds,
        fusedBackend: referenceBackend,
      }),
    );
  }
}
await terminateWorkers();
process.exit(0);
