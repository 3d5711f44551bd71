import { RecallkitError, tf, useBackend } from '@recallkit/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { contrastive, denseBytes, type LossStats, recallAtKSurrogate, smoothAP } from '../src/index';
import {
  bruteRsk,
  gramOf,
  type Matrix,
  maxAbsDiff,
  numericGrad,
  relevanceOf,
  seeded,
  unitRows,
} from './brute';

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => {
  vi.restoreAllMocks();
});

const rskDefaults = { ks: [1, 2, 4, 8, 16], tauRank: 0.01, tauKs: [1, 1, 1, 1, 1], includeQueryInRank: true };

function valueAndGrad(loss: (e: tf.Tensor2D, y: number[]) => tf.Scalar, e: Matrix, labels: number[]) {
  const x = tf.tensor2d(e);
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => loss(v as tf.Tensor2D, labels))(x);
  const out = { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
  tf.dispose([x, value, grad]);
  return out;
}

function thrown(f: () => unknown): RecallkitError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(RecallkitError);
    return error as RecallkitError;
  }
  throw new Error('expected a RecallkitError');
}

describe.each(['fused', 'composite'] as const)('labels define positives (%s)', (implementation) => {
  it('row order does not matter: a permuted batch gives the same loss and permuted gradient', () => {
    const rand = seeded(21);
    const e = unitRows(rand, 24, 6);
    const labels = Array.from({ length: 24 }, (_, i) => Math.floor(i / 4));
    const perm = Array.from({ length: 24 }, (_, i) => i);
    for (let i = 23; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const loss = recallAtKSurrogate({ implementation });
    const a = valueAndGrad(loss, e, labels);
    const b = valueAndGrad(
      loss,
      perm.map((p) => e[p]!),
      perm.map((p) => labels[p]!),
    );
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    const permutedA = perm.flatMap((p) => a.grad.slice(p * 6, p * 6 + 6));
    expect(maxAbsDiff(permutedA, b.grad)).toBeLessThan(1e-6);
  });

  it('queries without a positive are left out of the mean and counted', () => {
    const rand = seeded(22);
    const e = unitRows(rand, 10, 4);
    const labels = [5, 5, 5, 8, 8, 1, 2, 3, 5, 4]; // rows 5, 6, 7, 9 are alone in their class
    const seen: LossStats[] = [];
    const loss = recallAtKSurrogate({ implementation, onStats: (s) => seen.push(s) });
    const r = valueAndGrad(loss, e, labels);
    const { rel, self } = relevanceOf(labels);
    expect(Math.abs(r.loss - bruteRsk(gramOf(e), rel, self, rskDefaults))).toBeLessThan(1e-6);
    expect(loss.lastStats).toEqual({ queries: 10, queriesWithoutPositives: 4, implementation });
    expect(seen).toEqual([{ queries: 10, queriesWithoutPositives: 4, implementation }]);
    // Lone rows are still ranked against the others: they receive gradient as negatives.
    expect(Math.max(...r.grad.slice(5 * 4, 6 * 4).map(Math.abs))).toBeGreaterThan(0);
  });
});

describe('bad input gets a clear error', () => {
  it('no positive pair at all', () => {
    const e = tf.tensor2d(unitRows(seeded(1), 4, 3));
    for (const loss of [recallAtKSurrogate(), smoothAP(), contrastive()]) {
      expect(thrown(() => loss(e, [0, 1, 2, 3])).code).toBe('NO_POSITIVE_PAIR');
    }
    const err = thrown(() =>
      recallAtKSurrogate().onScores!({ scores: tf.zeros([2, 3]), relevant: tf.zeros([2, 3]) }),
    );
    expect(err.code).toBe('NO_POSITIVE_PAIR');
  });

  it('non-finite embeddings name the first bad row', () => {
    const rows = unitRows(seeded(2), 12, 3);
    rows[7]![1] = Number.NaN;
    rows[9]![0] = Number.POSITIVE_INFINITY;
    const labels = Array.from({ length: 12 }, (_, i) => i % 3);
    for (const loss of [
      recallAtKSurrogate(),
      recallAtKSurrogate({ implementation: 'composite' }),
      smoothAP(),
      contrastive(),
    ]) {
      const err = thrown(() => loss(tf.tensor2d(rows), labels));
      expect(err.code).toBe('NON_FINITE_INPUT');
      expect(err.message).toMatch(/row 7\b/);
    }
  });

  it('non-finite scores name the first bad row', () => {
    const scores = tf.tensor2d([
      [0.1, 0.2, 0.3],
      [0.2, Number.NaN, 0.1],
    ]);
    const relevant = tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    for (const implementation of ['fused', 'composite'] as const) {
      const err = thrown(() => recallAtKSurrogate({ implementation }).onScores!({ scores, relevant }));
      expect(err.message).toMatch(/row 1\b/);
    }
  });

  it('labels of the wrong length or type, a relevant self column, bad options', () => {
    const e = tf.tensor2d(unitRows(seeded(3), 4, 3));
    expect(thrown(() => recallAtKSurrogate()(e, [0, 0, 1])).code).toBe('INVALID_LABELS');
    expect(thrown(() => recallAtKSurrogate()(e, [0, 0.5, 1, 1])).code).toBe('INVALID_LABELS');
    const block = {
      scores: tf.zeros([2, 2]) as tf.Tensor2D,
      relevant: tf.eye(2),
      self: Int32Array.from([0, 1]),
    };
    expect(thrown(() => recallAtKSurrogate().onScores!(block)).code).toBe('INVALID_INPUT');
    expect(thrown(() => recallAtKSurrogate({ k: [0, 2] })).code).toBe('INVALID_OPTION');
    expect(thrown(() => recallAtKSurrogate({ tauK: [1, 2] })).code).toBe('INVALID_OPTION');
    expect(thrown(() => smoothAP({ tau: -1 })).code).toBe('INVALID_OPTION');
    expect(thrown(() => contrastive({ posMargin: 2 })).code).toBe('INVALID_OPTION');
  });

  it('names an unknown option and lists the known ones', () => {
    const cases: [() => unknown, string, string][] = [
      [() => recallAtKSurrogate({ tauRnk: 0.1 } as never), 'tauRnk', 'tauRank'],
      [() => smoothAP({ temperature: 0.1 } as never), 'temperature', 'queryAsPositive'],
      [() => contrastive({ margin: 0.5 } as never), 'margin', 'negMargin'],
    ];
    for (const [make, unknown, listed] of cases) {
      const error = thrown(make);
      expect(error.code).toBe('INVALID_OPTION');
      expect(error.message).toContain(`unknown option '${unknown}'`);
      expect(error.message).toContain(listed);
    }
  });
});

describe('degenerate embeddings are named', () => {
  const labels = [0, 0, 1, 1, 2, 2];
  const withZeroRow = () => {
    const rows = unitRows(seeded(7), 6, 3);
    rows[4] = [0, 0, 0];
    return tf.tensor2d(rows);
  };

  it.each([
    ['contrastive', () => contrastive()],
    ["contrastive 'pml'", () => contrastive({ form: 'pml' })],
    ['RS@k normalize', () => recallAtKSurrogate({ normalize: true })],
    ['RS@k normalize, composite', () => recallAtKSurrogate({ normalize: true, implementation: 'composite' })],
    ['Smooth-AP normalize', () => smoothAP({ normalize: true })],
  ])('%s: an all-zero row is named, never a NaN', (_, make) => {
    const err = thrown(() => make()(withZeroRow(), labels));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/row 4 is all zeros/);
  });

  it('without normalisation a zero row is a valid embedding (similarity 0 to everything)', () => {
    const value = recallAtKSurrogate()(withZeroRow(), labels).dataSync()[0]!;
    expect(Number.isFinite(value)).toBe(true);
  });

  it.each([
    ['RS@k', () => recallAtKSurrogate()],
    ['RS@k composite', () => recallAtKSurrogate({ implementation: 'composite' })],
    ['Smooth-AP', () => smoothAP()],
    ['contrastive', () => contrastive()],
  ])('%s: [B, 0] and int32 embeddings get a clear error', (_, make) => {
    const empty = thrown(() => make()(tf.zeros([6, 0]) as tf.Tensor2D, labels));
    expect(empty.code).toBe('INVALID_INPUT');
    expect(empty.message).toMatch(/shape \[6, 0\]/);
    const ints = thrown(() => make()(tf.ones([6, 3], 'int32') as tf.Tensor2D, labels));
    expect(ints.code).toBe('INVALID_INPUT');
    expect(ints.message).toMatch(/float32.*int32/);
  });
});

describe('k larger than the batch', () => {
  it('is clipped to the batch size, with one warning', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const e = unitRows(seeded(4), 6, 3);
    const labels = [0, 0, 1, 1, 2, 2];
    const loss = recallAtKSurrogate();
    const r = valueAndGrad(loss, e, labels);
    valueAndGrad(loss, e, labels);
    const { rel, self } = relevanceOf(labels);
    const clipped = { ...rskDefaults, ks: [1, 2, 4, 6, 6] };
    expect(Math.abs(r.loss - bruteRsk(gramOf(e), rel, self, clipped))).toBeLessThan(1e-6);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/k = \[1,2,4,8,16\].*6 ranked items/);
  });
});

describe('implementation choice and tensor hygiene', () => {
  it('auto picks the fused kernel on wasm and cpu', async () => {
    const e = tf.tensor2d(unitRows(seeded(5), 8, 3));
    const loss = recallAtKSurrogate();
    loss(e, [0, 0, 1, 1, 2, 2, 3, 3]).dispose();
    expect(loss.lastStats?.implementation).toBe('fused');
    await useBackend('cpu');
    const onCpu = recallAtKSurrogate();
    onCpu(tf.tensor2d(unitRows(seeded(5), 8, 3)), [0, 0, 1, 1, 2, 2, 3, 3]).dispose();
    expect(onCpu.lastStats?.implementation).toBe('fused');
    await useBackend('wasm');
  });

  it.each(['fused', 'composite'] as const)('%s leaves no tensors behind', (implementation) => {
    const e = unitRows(seeded(6), 20, 4);
    const labels = Array.from({ length: 20 }, (_, i) => i % 5);
    const loss = recallAtKSurrogate({ implementation, blockElements: 300 });
    valueAndGrad(loss, e, labels); // warm-up allocations
    const before = tf.memory().numTensors;
    valueAndGrad(loss, e, labels);
    valueAndGrad(smoothAP({ implementation }), e, labels);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('large batches: memory guard and progress', () => {
  const B = 32;
  const e = () => unitRows(seeded(7), B, 6);
  const labels = Array.from({ length: B }, (_, i) => i % 8);

  it.each(['fused', 'composite'] as const)(
    'a batch whose estimate is above memoryLimit is refused before anything is allocated (%s)',
    (implementation) => {
      const estimate = denseBytes(implementation, B, B, false);
      expect(estimate).toBe(implementation === 'fused' ? Math.ceil((4 * B * B * 4) / 3) : 3 * 4 * B * B);
      const x = tf.tensor2d(e());
      const before = tf.memory().numTensors;
      const refused = recallAtKSurrogate({ implementation, memoryLimit: estimate - 1 });
      let thrown: unknown;
      try {
        tf.valueAndGrad((v: tf.Tensor) => refused(tf.mul(v, 1) as tf.Tensor2D, labels))(x);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RecallkitError);
      expect((thrown as RecallkitError).code).toBe('LOSS_MEMORY_LIMIT');
      const message = (thrown as Error).message;
      expect(message).toContain(`a batch of ${B} needs about ${estimate} bytes`);
      expect(message).toContain(`above the limit of ${estimate - 1} bytes`);
      expect(message).toMatch(/option memoryLimit.*chunked step \(train's chunkSize\)/);
      expect((thrown as RecallkitError).details).toMatchObject({
        rows: B,
        n: B,
        estimate,
        limit: estimate - 1,
      });
      // Under tf.grad, the tape of the op before the loss is freed too.
      expect(tf.memory().numTensors).toBe(before);
      // At the estimate it runs, and gives the loss of the default limit.
      const { loss } = valueAndGrad(
        recallAtKSurrogate({ implementation, memoryLimit: estimate }),
        e(),
        labels,
      );
      expect(loss).toBe(valueAndGrad(recallAtKSurrogate({ implementation }), e(), labels).loss);
      x.dispose();
    },
  );

  it('a score block is checked too, and a bad memoryLimit is named', () => {
    const scores = tf.tensor2d(gramOf(e()));
    const relevant = tf.tensor2d(relevanceOf(labels).rel) as tf.Tensor2D;
    const self = Int32Array.from({ length: B }, (_, i) => i);
    const loss = recallAtKSurrogate({ implementation: 'fused', memoryLimit: 1000 });
    expect(() => loss.onScores!({ scores: scores as tf.Tensor2D, relevant, self })).toThrow(
      /a batch of 32 needs about 12288 bytes .* above the limit of 1000 bytes/,
    );
    expect(() => recallAtKSurrogate({ memoryLimit: 0 })).toThrow(
      /option memoryLimit must be a positive number/,
    );
    tf.dispose([scores, relevant]);
  });

  it('a batch of 16,000 is refused at once with the default route, naming its estimate in GB', () => {
    const b = 16_000;
    const angle = (i: number) => (2 * Math.PI * i) / b;
    const x = tf.tensor2d(
      Float32Array.from({ length: 2 * b }, (_, j) => (j % 2 ? Math.sin : Math.cos)(angle(j >> 1))),
      [b, 2],
    );
    const big = Array.from({ length: b }, (_, i) => i % 4000);
    expect(denseBytes('fused', b, b, false)).toBe(1_365_333_334);
    expect(() => recallAtKSurrogate({ memoryLimit: 1e9 })(x as tf.Tensor2D, big)).toThrow(
      'recallAtKSurrogate: a batch of 16000 needs about 1.37 GB for its 16000 x 16000 similarities and their gradient (fused), above the limit of 1.00 GB',
    );
    x.dispose();
  });

  it('onProgress reports the rows of each block of the fused forward pass', () => {
    const seen: { rows: number; total: number }[] = [];
    const loss = recallAtKSurrogate({ blockElements: 8 * B, threads: 1, onProgress: (p) => seen.push(p) });
    valueAndGrad(loss, e(), labels);
    expect(seen).toEqual([8, 16, 24, 32].map((rows) => ({ rows, total: B })));
  });
});

describe('contrastive', () => {
  function brute(e: Matrix, labels: number[], pos: number, neg: number): number {
    const unit = e.map((r) => {
      const n = Math.hypot(...r);
      return r.map((v) => v / n);
    });
    const s = gramOf(unit);
    let sp = 0;
    let np = 0;
    let sn = 0;
    let nn = 0;
    s.forEach((row, i) => {
      row.forEach((v, j) => {
        if (i === j) return;
        if (labels[i] === labels[j]) {
          sp += Math.max(0, pos - v);
          np++;
        } else {
          sn += Math.max(0, v - neg);
          nn++;
        }
      });
    });
    return sp / np + sn / nn;
  }

  it.each([
    [0.9, 0.6],
    [0.5, 0.1],
  ])('posMargin %s, negMargin %s: value and finite differences', (posMargin, negMargin) => {
    const rand = seeded(31);
    const e = unitRows(rand, 12, 3).map((r) => r.map((v) => v * (0.5 + rand())));
    const labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 0];
    const r = valueAndGrad(contrastive({ posMargin, negMargin }), e, labels);
    const f = (x: Matrix) => brute(x, labels, posMargin, negMargin);
    expect(Math.abs(r.loss - f(e))).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.grad, numericGrad(f, e).flat())).toBeLessThan(1e-4);
  });
});
