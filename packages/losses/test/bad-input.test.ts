// Every loss given bad input: a named error or a defined behaviour (the table in docs/bad-input.md).
import { tf, useBackend } from '@recallkit/core';
import { beforeAll, expect } from 'vitest';
import { type BadInputCase, badInputSuite } from '../../../tools/test/bad-input-table';
import { contrastive, type EmbeddingLoss, recallAtKSurrogate, smoothAP } from '../src/index';

beforeAll(async () => {
  await useBackend('wasm');
});

const B = 8;
const D = 4;
const LABELS = [0, 0, 1, 1, 2, 2, 3, 3];
/** 8 x 4 embeddings, not normalised, with `edit` applied to the values first. */
function batch(edit: (v: number[]) => void = () => {}, rows = B): tf.Tensor2D {
  const v = Array.from({ length: rows * D }, (_, i) => Math.sin(1.7 * i + 0.3));
  edit(v);
  return tf.tensor2d(v, [rows, D]);
}
const setRow = (row: number, value: number) => (v: number[]) => {
  for (let j = 0; j < D; j++) v[row * D + j] = value;
};

/** Loss value and whether every gradient entry is finite; disposes what it made. */
function evaluate(loss: EmbeddingLoss, e: tf.Tensor2D, labels: unknown) {
  try {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels as number[]))(e);
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

const rsk = (o = {}) => recallAtKSurrogate(o);
const LOSSES: [string, () => EmbeddingLoss][] = [
  ['recallAtKSurrogate()', () => rsk()],
  ["recallAtKSurrogate({ implementation: 'composite' })", () => rsk({ implementation: 'composite' })],
  ['smoothAP()', () => smoothAP()],
  ['contrastive()', () => contrastive()],
];

const cases: BadInputCase[] = [];
for (const [entry, make] of LOSSES) {
  const call = `${entry}(embeddings, labels)`;
  cases.push(
    {
      entry: call,
      input: 'NaN in row 3',
      run: () =>
        evaluate(
          make(),
          batch((v) => (v[3 * D + 1] = Number.NaN)),
          LABELS,
        ),
      error: {
        code: 'NON_FINITE_INPUT',
        message: /embeddings row 3 holds a non-finite value \(NaN at column 1\)/,
      },
    },
    {
      entry: call,
      input: 'Infinity in row 5',
      run: () =>
        evaluate(
          make(),
          batch((v) => (v[5 * D] = Number.POSITIVE_INFINITY)),
          LABELS,
        ),
      error: { code: 'NON_FINITE_INPUT', message: /row 5 .*Infinity/ },
    },
    {
      entry: call,
      input: 'row 6 of 1e30s (squared norm overflows float32)',
      run: () => evaluate(make(), batch(setRow(6, 1e30)), LABELS),
      error: { code: 'INVALID_INPUT', message: /embeddings row 6 is too large for float32/ },
    },
    {
      entry: call,
      input: '0 rows ([0, 4])',
      run: () => evaluate(make(), tf.zeros([0, D]), []),
      error: { code: 'INVALID_INPUT', message: /has no rows \(shape \[0, 4\]\)/ },
    },
    {
      entry: call,
      input: 'rows of no value ([8, 0])',
      run: () => evaluate(make(), tf.zeros([B, 0]), LABELS),
      error: { code: 'INVALID_INPUT', message: /shape \[8, 0\]/ },
    },
    {
      entry: call,
      input: 'int32 embeddings',
      run: () => evaluate(make(), tf.cast(batch(), 'int32') as tf.Tensor2D, LABELS),
      error: { code: 'INVALID_INPUT', message: /must be a float32 tensor, got int32/ },
    },
    {
      entry: call,
      input: '7 labels for 8 rows',
      run: () => evaluate(make(), batch(), LABELS.slice(1)),
      error: { code: 'INVALID_LABELS', message: /labels has 7 entries for 8 embedding rows/ },
    },
    {
      entry: call,
      input: 'label 1.5 at index 4',
      run: () =>
        evaluate(
          make(),
          batch(),
          LABELS.map((y, i) => (i === 4 ? 1.5 : y)),
        ),
      error: { code: 'INVALID_LABELS', message: /labels\[4\] = 1.5 is not a 32-bit integer/ },
    },
    {
      entry: call,
      input: 'no positive pair (8 distinct labels)',
      run: () => evaluate(make(), batch(), [0, 1, 2, 3, 4, 5, 6, 7]),
      error: { code: 'NO_POSITIVE_PAIR', message: /no (query has a )?positive/ },
    },
    {
      entry: call,
      input: 'a batch of one',
      run: () =>
        evaluate(
          make(),
          batch(() => {}, 1),
          [0],
        ),
      error: { code: 'NO_POSITIVE_PAIR', message: /no (query has a )?positive/ },
    },
    {
      entry: call,
      input: 'one row whose label occurs once (row 7)',
      run: () => {
        const loss = make();
        const r = evaluate(loss, batch(), [0, 0, 1, 1, 2, 2, 2, 9]);
        return { ...r, stats: loss.lastStats };
      },
      defined: (r) => {
        finite('')(r);
        expect((r as { stats: { queriesWithoutPositives: number } }).stats.queriesWithoutPositives).toBe(1);
        return 'finite loss and gradient; the lone query is left out of the mean (lastStats.queriesWithoutPositives = 1) and stays a negative of the others';
      },
    },
  );
  if (entry.startsWith('contrastive')) {
    cases.push(
      {
        entry: call,
        input: 'row 2 all zeros',
        run: () => evaluate(make(), batch(setRow(2, 0)), LABELS),
        error: { code: 'INVALID_INPUT', message: /embeddings row 2 is all zeros/ },
      },
      {
        entry: call,
        input: 'row 2 of 1e-25s (squared norm underflows float32)',
        run: () => evaluate(make(), batch(setRow(2, 1e-25)), LABELS),
        error: { code: 'INVALID_INPUT', message: /embeddings row 2 is too small to L2-normalise/ },
      },
    );
  } else {
    cases.push({
      entry: call,
      input: 'row 2 all zeros',
      run: () => evaluate(make(), batch(setRow(2, 0)), LABELS),
      defined: finite('finite loss and gradient: the zero row has similarity 0 to every row'),
    });
  }
}
cases.push(
  {
    entry: 'recallAtKSurrogate({ normalize: true })(embeddings, labels)',
    input: 'row 2 all zeros',
    run: () => evaluate(rsk({ normalize: true }), batch(setRow(2, 0)), LABELS),
    error: {
      code: 'INVALID_INPUT',
      message: /embeddings row 2 is all zeros: it has no direction to L2-normalise/,
    },
  },
  {
    entry: "recallAtKSurrogate({ normalize: true, implementation: 'composite' })(embeddings, labels)",
    input: 'row 2 of 1e-25s (squared norm underflows float32)',
    run: () =>
      evaluate(rsk({ normalize: true, implementation: 'composite' }), batch(setRow(2, 1e-25)), LABELS),
    error: { code: 'INVALID_INPUT', message: /embeddings row 2 is too small to L2-normalise in float32/ },
  },
  {
    entry: 'recallAtKSurrogate({ k: [1, 100] })(embeddings, labels)',
    input: 'k larger than the batch (8 rows)',
    run: () => {
      const warn = console.warn;
      const warnings: string[] = [];
      console.warn = (m: string) => warnings.push(m);
      try {
        const r = evaluate(rsk({ k: [1, 100] }), batch(), LABELS);
        return { ...r, warnings };
      } finally {
        console.warn = warn;
      }
    },
    defined: (r) => {
      finite('')(r);
      const { warnings } = r as { warnings: string[] };
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/k = \[1,100\] exceeds the 8 ranked items; using k = \[1,8\]/);
      return `k clipped to the batch, warned once: "${warnings[0]}"`;
    },
  },
  {
    entry: 'recallAtKSurrogate().onScores({ scores, relevant, self })',
    input: 'relevant of another shape than scores',
    run: () =>
      rsk().onScores!({ scores: tf.zeros([2, 3]) as tf.Tensor2D, relevant: tf.zeros([3, 2]) as tf.Tensor2D }),
    error: { code: 'INVALID_INPUT', message: /relevant has shape \[3,2\] but scores has \[2,3\]/ },
  },
  {
    entry: 'recallAtKSurrogate().onScores({ scores, relevant, self })',
    input: "relevant marks the query's own column",
    run: () =>
      rsk().onScores!({
        scores: tf.zeros([2, 2]) as tf.Tensor2D,
        relevant: tf.eye(2) as tf.Tensor2D,
        self: Int32Array.from([0, 1]),
      }),
    error: { code: 'INVALID_INPUT', message: /relevant\[0\]\[0\] = 1 marks the query's own column/ },
  },
  {
    entry: 'recallAtKSurrogate({ k: [0, 2] })',
    input: 'k = 0',
    run: () => rsk({ k: [0, 2] }),
    error: { code: 'INVALID_OPTION', message: /option k must hold positive integers, got \[0,2\]/ },
  },
  {
    entry: 'recallAtKSurrogate({ memoryLimit: 100 })(embeddings, labels)',
    input: 'a batch whose B x B estimate (denseBytes) is above memoryLimit',
    run: () => evaluate(rsk({ memoryLimit: 100 }), batch(), LABELS),
    error: {
      code: 'LOSS_MEMORY_LIMIT',
      message: /a batch of 8 needs about .* above the limit .*memoryLimit/,
    },
  },
  {
    entry: 'recallAtKSurrogate({ memoryLimit: 0 })',
    input: 'memoryLimit = 0',
    run: () => rsk({ memoryLimit: 0 }),
    error: {
      code: 'INVALID_OPTION',
      message: /option memoryLimit must be a positive number of bytes, got 0/,
    },
  },
);

badInputSuite('@recallkit/losses', cases);
