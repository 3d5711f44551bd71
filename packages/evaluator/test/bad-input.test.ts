// evaluate and createIndex given bad input: a named error or a defined behaviour (docs/bad-input.md).
import { tf, useBackend } from '@recallkit/core';
import { beforeAll, expect } from 'vitest';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import { createIndex, type EvaluationResult, evaluate } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

const B = 8;
const D = 4;
const LABELS = [0, 0, 1, 1, 2, 2, 3, 3];
const IDS = [0, 1, 2, 3, 4, 5, 6, 7];
function rows(edit: (v: number[][]) => void = () => {}, n = B): number[][] {
  const v = Array.from({ length: n }, (_, i) =>
    Array.from({ length: D }, (_, j) => Math.sin(1.7 * (i * D + j) + 0.3)),
  );
  edit(v);
  return v;
}
// The exact search, so that the table does not depend on whether faiss-node is installed.
const EXACT = { index: 'exact' } as const;
const ENTRY = "evaluate(embeddings, labels, { index: 'exact' })";
type Result = EvaluationResult<'recall' | 'precisionAt1' | 'rPrecision' | 'mapAtR'>;

const cases: BadInputCase[] = [
  {
    entry: ENTRY,
    input: 'NaN in row 3',
    run: () =>
      evaluate(
        rows((v) => (v[3]![1] = Number.NaN)),
        LABELS,
        EXACT,
      ),
    error: { code: 'NON_FINITE_INPUT', message: /embeddings row 3, column 1 is NaN/ },
  },
  {
    entry: ENTRY,
    input: 'Infinity in row 5',
    run: () =>
      evaluate(
        rows((v) => (v[5]![0] = Number.POSITIVE_INFINITY)),
        LABELS,
        EXACT,
      ),
    error: { code: 'NON_FINITE_INPUT', message: /embeddings row 5, column 0 is Infinity/ },
  },
  {
    entry: ENTRY,
    input: 'row 2 all zeros (cosine)',
    run: () =>
      evaluate(
        rows((v) => (v[2] = [0, 0, 0, 0])),
        LABELS,
        EXACT,
      ),
    error: { code: 'ZERO_EMBEDDING', message: /embeddings row 2 is all zeros/ },
  },
  {
    entry: "evaluate(embeddings, labels, { index: 'exact', similarity: 'dot' })",
    input: 'row 2 all zeros',
    run: () =>
      evaluate(
        rows((v) => (v[2] = [0, 0, 0, 0])),
        LABELS,
        { ...EXACT, similarity: 'dot' },
      ),
    defined: (r) => {
      expect((r as Result).queries).toBe(8);
      return 'metrics computed: the zero row scores 0 against every item';
    },
  },
  {
    entry: "evaluate(embeddings, labels, { index: 'exact', similarity: 'negSqL2' })",
    input: 'row 2 of 1e30s (squared norm overflows float32)',
    run: () =>
      evaluate(
        rows((v) => (v[2] = [1e30, 1e30, 1e30, 1e30])),
        LABELS,
        { ...EXACT, similarity: 'negSqL2' },
      ),
    error: { code: 'INVALID_INPUT', message: /embeddings row 2 is too large for float32/ },
  },
  {
    entry: ENTRY,
    input: 'no rows',
    run: () => evaluate([], [], EXACT),
    error: { code: 'INVALID_INPUT', message: /embeddings is empty \(0 x 0\)/ },
  },
  {
    entry: ENTRY,
    input: 'rows of no value ([8, 0] tensor)',
    run: () => evaluate(tf.zeros([B, 0]) as tf.Tensor2D, LABELS, EXACT),
    error: { code: 'INVALID_INPUT', message: /embeddings is empty \(8 x 0\)/ },
  },
  {
    entry: ENTRY,
    input: 'row 3 shorter than the others',
    run: () =>
      evaluate(
        rows((v) => (v[3] = [1, 2])),
        LABELS,
        EXACT,
      ),
    error: { code: 'INVALID_INPUT', message: /embeddings row 3 has 2 values, expected 4/ },
  },
  {
    entry: ENTRY,
    input: '7 labels for 8 rows',
    run: () => evaluate(rows(), LABELS.slice(1), EXACT),
    error: { code: 'INVALID_LABELS', message: /labels has 7 entries for 8 embedding rows/ },
  },
  {
    entry: ENTRY,
    input: 'label 1.5 at index 4',
    run: () =>
      evaluate(
        rows(),
        LABELS.map((y, i) => (i === 4 ? 1.5 : y)),
        EXACT,
      ),
    error: { code: 'INVALID_LABELS', message: /labels\[4\] = 1.5 is not a 32-bit integer/ },
  },
  {
    entry: ENTRY,
    input: 'no positive pair (8 distinct labels)',
    run: () => evaluate(rows(), [0, 1, 2, 3, 4, 5, 6, 7], EXACT),
    defined: (r) => {
      const result = r as Result;
      expect([result.queries, result.loneQueries, result.mapAtR]).toEqual([0, 8, 0]);
      expect(result.debug.warnings).toContain(
        'every query is lone (no other item of its label): metrics are 0',
      );
      return `metrics 0 with queries 0, loneQueries 8 and the warning "${result.debug.warnings[0]}"`;
    },
  },
  {
    entry: ENTRY,
    input: 'a batch of one',
    run: () =>
      evaluate(
        rows(() => {}, 1),
        [0],
        EXACT,
      ),
    error: { code: 'INVALID_INPUT', message: /all-vs-all evaluation needs at least two embeddings/ },
  },
  {
    entry: ENTRY,
    input: 'one row whose label occurs once (row 7)',
    run: () => evaluate(rows(), [0, 0, 1, 1, 2, 2, 2, 9], EXACT),
    defined: (r) => {
      const result = r as Result;
      expect([result.queries, result.loneQueries]).toEqual([7, 1]);
      return 'metrics over the 7 other queries; loneQueries 1 (the lone row stays in the gallery as a distractor)';
    },
  },
  {
    entry: "evaluate(embeddings, labels, { index: 'exact', k: [1, 100] })",
    input: 'k larger than the gallery (7 items per query)',
    run: () => evaluate(rows(), LABELS, { ...EXACT, k: [1, 100] }),
    error: { code: 'INVALID_OPTION', message: /options.k = 100 is larger than the 7 gallery items/ },
  },
  {
    entry: ENTRY,
    input: 'default k with a gallery of 7 items per query',
    run: () => evaluate(rows(), LABELS, EXACT),
    defined: (r) => {
      expect(Object.keys((r as Result).recall)).toEqual(['1', '2', '4']);
      return 'Recall@k for the default k the gallery can answer: 1, 2, 4 (8 and 16 left out, as documented)';
    },
  },
  {
    entry: "evaluate(queries, labels, { index: 'exact', gallery, galleryLabels })",
    input: 'gallery rows of 3 values, queries of 4',
    run: () => evaluate(rows(), LABELS, { ...EXACT, gallery: [[1, 2, 3]], galleryLabels: [0] }),
    error: { code: 'INVALID_INPUT', message: /gallery rows have 3 values, queries 4/ },
  },
  {
    entry: "evaluate(queries, labels, { index: 'exact', gallery, galleryLabels })",
    input: '1 gallery label for 8 gallery rows',
    run: () => evaluate(rows(), LABELS, { ...EXACT, gallery: rows(), galleryLabels: [0] }),
    error: { code: 'INVALID_LABELS', message: /options.galleryLabels has 1 entries for 8 embedding rows/ },
  },
  {
    entry: "evaluate(queries, labels, { index: 'exact', gallery })",
    input: 'a gallery without galleryLabels',
    run: () => evaluate(rows(), LABELS, { ...EXACT, gallery: rows() }),
    error: { code: 'INVALID_OPTION', message: /options.gallery and options.galleryLabels go together/ },
  },
  {
    entry: 'evaluate(embeddings, labels, options)',
    input: 'an unknown option',
    run: () => evaluate(rows(), LABELS, { ...EXACT, kk: 3 } as never),
    error: { code: 'INVALID_OPTION', message: /unknown option 'kk'/ },
  },
  {
    entry: 'evaluate(embeddings, labels, { dim: 4 })',
    input: 'a Float32Array of 30 values',
    run: () => evaluate(new Float32Array(30), LABELS, { ...EXACT, dim: 4 }),
    error: { code: 'INVALID_INPUT', message: /has 30 values, not a multiple of dim = 4/ },
  },
  {
    entry: "createIndex(embeddings, ids, { index: 'exact', similarity: 'dot' })",
    input: 'row 2 of 1e30s (squared norm overflows float32)',
    run: () =>
      createIndex(
        rows((v) => (v[2] = [1e30, 1e30, 1e30, 1e30])),
        IDS,
        { index: 'exact', similarity: 'dot' },
      ),
    error: { code: 'INVALID_INPUT', message: /embeddings row 2 is too large for float32/ },
  },
  {
    entry: "createIndex(embeddings, ids, { index: 'exact' }).search(queries, k)",
    input: 'queries of 3 values for an index of 4',
    run: async () => (await createIndex(rows(), IDS, { index: 'exact' })).search([[1, 2, 3]], 2),
    error: { code: 'INVALID_INPUT', message: /rows have 3 values, the index 4/ },
  },
  {
    entry: "createIndex(embeddings, ids, { index: 'exact' })",
    input: 'id 0 given twice',
    run: () => createIndex(rows(), LABELS, { index: 'exact' }),
    error: { code: 'DUPLICATE_ID', message: /ids\[1\] = 0 appears twice/ },
  },
];

badInputSuite('@recallkit/evaluator', cases);
