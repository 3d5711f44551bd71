// simix given bad input: a named error or a defined behaviour (the table in docs/bad-input.md).
import { tf, useBackend } from '@recallkit/core';
import { contrastive, recallAtKSurrogate } from '@recallkit/losses';
import { beforeAll, expect } from 'vitest';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import { simix } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

const B = 8;
const D = 4;
const LABELS = [0, 0, 1, 1, 2, 2, 3, 3];
function batch(edit: (v: number[]) => void = () => {}, rows = B): tf.Tensor2D {
  const v = Array.from({ length: rows * D }, (_, i) => Math.sin(1.7 * i + 0.3));
  edit(v);
  return tf.tensor2d(v, [rows, D]);
}
const setRow = (row: number, value: number) => (v: number[]) => {
  for (let j = 0; j < D; j++) v[row * D + j] = value;
};

type Loss = (e: tf.Tensor2D, labels: number[]) => tf.Scalar;
function evaluate(loss: Loss, e: tf.Tensor2D, labels: number[]) {
  try {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels))(e);
    const out = { loss: value.dataSync()[0]!, finiteGrad: grad.dataSync().every(Number.isFinite) };
    tf.dispose([value, grad]);
    return out;
  } finally {
    e.dispose();
  }
}
const finite = (what: string) => (r: unknown) => {
  const { loss, finiteGrad } = r as { loss: number; finiteGrad: boolean };
  expect(Number.isFinite(loss)).toBe(true);
  expect(finiteGrad).toBe(true);
  return what;
};

const ENTRY = 'simix(recallAtKSurrogate())(embeddings, labels)';
const rsk = () => simix(recallAtKSurrogate(), { seed: 1 });
const cases: BadInputCase[] = [
  {
    entry: ENTRY,
    input: 'NaN in row 3',
    run: () =>
      evaluate(
        rsk(),
        batch((v) => (v[3 * D + 1] = Number.NaN)),
        LABELS,
      ),
    error: { code: 'INVALID_INPUT', message: /embeddings row 3 column 1 is NaN/ },
  },
  {
    entry: ENTRY,
    input: 'Infinity in row 5',
    run: () =>
      evaluate(
        rsk(),
        batch((v) => (v[5 * D] = Number.POSITIVE_INFINITY)),
        LABELS,
      ),
    error: { code: 'INVALID_INPUT', message: /embeddings row 5 column 0 is Infinity/ },
  },
  {
    entry: ENTRY,
    input: 'row 6 of 1e30s (squared norm overflows float32)',
    run: () => evaluate(rsk(), batch(setRow(6, 1e30)), LABELS),
    error: { code: 'INVALID_INPUT', message: /embeddings row 6 is too large for float32/ },
  },
  {
    entry: ENTRY,
    input: 'row 2 all zeros',
    run: () => evaluate(rsk(), batch(setRow(2, 0)), LABELS),
    defined: finite(
      'finite loss and gradient: the zero row and its mixes (alpha-scaled copies of its partner) are ranked like any other',
    ),
  },
  {
    entry: ENTRY,
    input: '0 rows ([0, 4])',
    run: () => evaluate(rsk(), tf.zeros([0, D]), []),
    error: { code: 'INVALID_INPUT', message: /shape \[0,4\]: the batch is empty/ },
  },
  {
    entry: ENTRY,
    input: 'rows of no value ([8, 0])',
    run: () => evaluate(rsk(), tf.zeros([B, 0]), LABELS),
    error: { code: 'INVALID_INPUT', message: /shape \[8,0\]: every row needs at least one value/ },
  },
  {
    entry: ENTRY,
    input: 'int32 embeddings',
    run: () => evaluate(rsk(), tf.cast(batch(), 'int32') as tf.Tensor2D, LABELS),
    error: { code: 'INVALID_INPUT', message: /must be a float32 tensor, got int32/ },
  },
  {
    entry: ENTRY,
    input: '1-D embeddings',
    run: () => evaluate(rsk(), tf.zeros([B * D]) as unknown as tf.Tensor2D, LABELS),
    error: { code: 'INVALID_INPUT', message: /must be 2-D \(B x d\), got shape \[32\]/ },
  },
  {
    entry: ENTRY,
    input: '7 labels for 8 rows',
    run: () => evaluate(rsk(), batch(), LABELS.slice(1)),
    error: { code: 'INVALID_LABELS', message: /simix: labels has 7 entries for 8 embedding rows/ },
  },
  {
    entry: ENTRY,
    input: 'label 1.5 at index 4',
    run: () =>
      evaluate(
        rsk(),
        batch(),
        LABELS.map((y, i) => (i === 4 ? 1.5 : y)),
      ),
    error: { code: 'INVALID_LABELS', message: /simix: labels\[4\] = 1.5 is not a 32-bit integer/ },
  },
  {
    entry: ENTRY,
    input: 'no positive pair (8 distinct labels)',
    run: () => evaluate(rsk(), batch(), [0, 1, 2, 3, 4, 5, 6, 7]),
    error: { code: 'NO_POSITIVE_PAIR', message: /no query has a positive/ },
  },
  {
    entry: ENTRY,
    input: 'a batch of one',
    run: () =>
      evaluate(
        rsk(),
        batch(() => {}, 1),
        [0],
      ),
    error: { code: 'NO_POSITIVE_PAIR', message: /no query has a positive/ },
  },
  {
    entry: ENTRY,
    input: 'one row whose label occurs once (row 7)',
    run: () => evaluate(rsk(), batch(), [0, 0, 1, 1, 2, 2, 2, 9]),
    defined: finite('finite loss and gradient: the lone row gets no mix and is left out as a query'),
  },
  {
    entry: 'simix(contrastive())(embeddings, labels)',
    input: 'row 2 all zeros',
    run: () => evaluate(simix(contrastive(), { seed: 1 }), batch(setRow(2, 0)), LABELS),
    defined: finite(
      'finite loss and gradient: simix hands contrastive raw similarities (no normalisation), where a zero row scores 0',
    ),
  },
  {
    entry: 'simix(recallAtKSurrogate(), { crossClass: 3 })(embeddings, labels)',
    input: 'a batch of one class',
    run: () =>
      evaluate(
        simix(recallAtKSurrogate(), { crossClass: 3 }),
        batch(),
        LABELS.map(() => 0),
      ),
    error: {
      code: 'INVALID_INPUT',
      message: /crossClass = 3 needs at least two classes in the batch, got 1/,
    },
  },
  {
    entry: 'simix(recallAtKSurrogate(), { alphas })(embeddings, labels)',
    input: "5 alphas for the batch's 4 mixes",
    run: () => evaluate(simix(recallAtKSurrogate(), { alphas: [0.1, 0.2, 0.3, 0.4, 0.5] }), batch(), LABELS),
    error: { code: 'INVALID_INPUT', message: /alphas has 5 values but this batch draws 4/ },
  },
  {
    entry: 'simix(recallAtKSurrogate(), { alphas })(embeddings, labels)',
    input: 'alpha 1.5',
    run: () => evaluate(simix(recallAtKSurrogate(), { alphas: [0.5, 1.5, 0.5, 0.5] }), batch(), LABELS),
    error: { code: 'INVALID_INPUT', message: /alphas\[1\] = 1.5 is not in \[0, 1\]/ },
  },
  {
    entry: 'simix(loss, options)',
    input: 'an unknown option',
    run: () => simix(recallAtKSurrogate(), { pairz: 2 } as never),
    error: { code: 'INVALID_OPTION', message: /unknown option 'pairz'/ },
  },
  {
    entry: 'simix(loss, options)',
    input: 'a loss without a ranking core',
    run: () => simix(Object.assign(() => tf.scalar(0), { id: 'plain' }) as never),
    error: { code: 'SIMIX_NEEDS_RANKING_CORE', message: /loss 'plain' has no onScores/ },
  },
];

badInputSuite('@recallkit/mixup', cases);
