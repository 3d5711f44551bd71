import { similarity, tf } from '@recallkit/core';
import type { Matrix } from './input';
import type { Searcher, Similarity } from './search';

/** Score matrix elements per block: 16 M floats (64 MB) bounds the exact path's working memory. */
const BLOCK_ELEMENTS = 1 << 24;

/**
 * Brute-force search in TensorFlow.js: each block of queries is one matMul against the gallery
 * followed by topk, so memory grows with the block, not with the number of queries.
 */
export function exactSearcher(gallery: Matrix, metric: Similarity): Searcher {
  const items = tf.tensor2d(gallery.data, [gallery.rows, gallery.dim]);
  // Cosine rows arrive normalised: their dot products are the cosines.
  const options = { metric: metric === 'negSqL2' ? ('negSqL2' as const) : ('dot' as const) };
  return {
    name: `exact:tfjs-${tf.getBackend()}`,
    blockRows: Math.max(1, Math.min(4096, Math.floor(BLOCK_ELEMENTS / gallery.rows))),
    async search(queries, rows, depth) {
      const indices = tf.tidy(() => {
        const q = tf.tensor2d(queries, [rows, gallery.dim]);
        return tf.topk(similarity(q, items, options), depth, true).indices;
      });
      const ids = (await indices.data()) as Int32Array;
      indices.dispose();
      return ids;
    },
    dispose() {
      items.dispose();
    },
  };
}
