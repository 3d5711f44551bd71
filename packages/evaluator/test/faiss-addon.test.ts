import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The faiss-node addon is built by tools/setup against Debian's faiss; this checks that it loads
// from this package and that its exact inner-product index agrees with a brute-force search.
const require = createRequire(import.meta.url);

describe('faiss-node addon', () => {
  it('loads and searches an IndexFlatIP exactly', () => {
    const faiss = require('faiss-node') as typeof import('faiss-node');
    const dim = 8;
    const n = 200;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const base = Array.from({ length: n * dim }, rand);
    const query = Array.from({ length: dim }, rand);
    const index = new faiss.IndexFlatIP(dim);
    index.add(base);
    const { labels, distances } = index.search(query, 5);

    const scores = Array.from({ length: n }, (_, i) =>
      query.reduce((s, q, j) => s + q * (base[i * dim + j] ?? 0), 0),
    );
    const expected = scores
      .map((s, i) => [s, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5);
    expect(labels).toEqual(expected.map(([, i]) => i));
    for (const [r, [s]] of expected.entries()) expect(distances[r]).toBeCloseTo(s, 4);
  });
});
