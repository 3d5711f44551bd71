/** One timed evaluation of .npy embeddings and labels; prints a JSON line (used by run.ts). */
import { evaluate, readNpy } from '@recallkit/evaluator';

const [embPath, labelPath, ksText = '1,10,100,1000', index = 'faiss'] = process.argv.slice(2);
if (!embPath || !labelPath) throw new Error('usage: eval-once.ts EMB.npy LABELS.npy [KS] [INDEX]');
const t0 = performance.now();
const emb = await readNpy(embPath);
const lab = await readNpy(labelPath);
const t1 = performance.now();
const k = ksText.split(',').map(Number);
// the vectors are already unit-norm, and the peer searches them as they are: plain inner product
const result = await evaluate(emb.data as Float32Array, lab.data, {
  dim: emb.shape[1]!,
  k,
  index,
  similarity: 'dot',
});
const t2 = performance.now();
console.log(
  JSON.stringify({
    ...result,
    load_s: (t1 - t0) / 1000,
    total_s: (t2 - t1) / 1000,
    max_rss_mb: process.resourceUsage().maxRSS / 1024,
  }),
);
