import { describe, expect, it } from 'vitest';
import { mPerClassSampler, rskSampler, walkClasses } from '../src/samplers';

// 7 classes with uneven sizes; class 6 has 2 images (fewer than m = 3).
const sizes = [9, 7, 12, 6, 3, 10, 2];
const labels = Int32Array.from(sizes.flatMap((n, c) => Array<number>(n).fill(c)));
// Shuffle the layout so that indices are not grouped by class.
const perm = Array.from(labels.keys()).sort((a, b) => ((a * 7919) % 61) - ((b * 7919) % 61));
const mixed = Int32Array.from(perm, (i) => labels[i]!);

function classesOf(batch: Int32Array, m: number, lab: Int32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < batch.length; i += m) {
    const block = Array.from(batch.subarray(i, i + m), (j) => lab[j]!);
    expect(new Set(block).size).toBe(1); // a class's m images are contiguous
    out.push(block[0]!);
  }
  return out;
}

describe('rskSampler', () => {
  const warnings: string[] = [];
  const sampler = rskSampler({
    labels: mixed,
    classesPerBatch: 2,
    samplesPerClass: 3,
    seed: 5,
    onWarning: (w) => warnings.push(w),
  });

  it('warns once about classes with fewer than m images and never samples them', () => {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/1 class\(es\) with fewer than 3 images.*labels 6/);
    expect(sampler.skippedClasses).toEqual([6]);
    for (let e = 0; e < 5; e++)
      for (const b of sampler.batches(e)) expect(classesOf(b, 3, mixed)).not.toContain(6);
  });

  it('keeps every invariant: C x m, distinct classes per batch, each image at most once per epoch', () => {
    for (let epoch = 0; epoch < 20; epoch++) {
      const batches = sampler.batches(epoch);
      const seen = new Set<number>();
      for (const b of batches) {
        expect(b.length).toBe(6);
        expect(new Set(classesOf(b, 3, mixed)).size).toBe(2);
        for (const i of b) {
          expect(seen.has(i)).toBe(false);
          seen.add(i);
        }
      }
      // The epoch ends only when fewer than C = 2 classes have m = 3 unused images left.
      const left = new Map<number, number>();
      for (let i = 0; i < mixed.length; i++) {
        if (!seen.has(i)) left.set(mixed[i]!, (left.get(mixed[i]!) ?? 0) + 1);
      }
      const stillFull = [...left].filter(([c, n]) => c !== 6 && n >= 3).length;
      expect(stillFull).toBeLessThan(2);
    }
  });

  it('is a pure function of (seed, epoch)', () => {
    const again = rskSampler({
      labels: mixed,
      classesPerBatch: 2,
      samplesPerClass: 3,
      seed: 5,
      onWarning: () => {},
    });
    expect(again.batches(3)).toEqual(sampler.batches(3));
    sampler.batches(9); // a different epoch in between changes nothing
    expect(sampler.batches(3)).toEqual(again.batches(3));
    expect(sampler.batches(4)).not.toEqual(sampler.batches(3));
    const other = rskSampler({
      labels: mixed,
      classesPerBatch: 2,
      samplesPerClass: 3,
      seed: 6,
      onWarning: () => {},
    });
    expect(other.batches(3)).not.toEqual(sampler.batches(3));
  });

  it('with C = every class it yields min(n_c / m) batches of all classes (the peer layout)', () => {
    const even = Int32Array.from([10, 8, 13].flatMap((n, c) => Array<number>(n).fill(c)));
    const s = rskSampler({ labels: even, classesPerBatch: 3, samplesPerClass: 4, seed: 1 });
    const batches = s.batches(0);
    expect(batches).toHaveLength(2); // floor(8 / 4)
    for (const b of batches) expect(new Set(classesOf(b, 4, even))).toEqual(new Set([0, 1, 2]));
  });

  it("walks classes as the authors' reshuffle does (hand-worked)", () => {
    // Pools already shuffled; order 2, 0, 3, 1; C = 2, m = 2.
    // pass 1: class 2 [7, 8], class 0 [0, 1]; pass 2: class 2 [9, 10], class 0 [2, 3];
    // pass 3: class 2 empty, class 0 has 1 left, class 3 [11, 12], class 1 [5, 6];
    // pass 4: only class 3 has 2 left -> the epoch ends.
    const pools = [
      [0, 1, 2, 3, 4],
      [5, 6],
      [7, 8, 9, 10],
      [11, 12, 13, 14, 15, 16],
    ];
    expect(walkClasses(pools, [2, 0, 3, 1], 2, 2).map((b) => Array.from(b))).toEqual([
      [7, 8, 0, 1],
      [9, 10, 2, 3],
      [11, 12, 5, 6],
    ]);
  });

  it('rejects impossible configurations', () => {
    expect(() =>
      rskSampler({ labels: mixed, classesPerBatch: 7, samplesPerClass: 3, seed: 0, onWarning: () => {} }),
    ).toThrow(/only 6 classes have at least 3 images/);
    expect(() => rskSampler({ labels: mixed, classesPerBatch: 0, samplesPerClass: 3, seed: 0 })).toThrow(
      /classesPerBatch/,
    );
  });
});

describe('mPerClassSampler', () => {
  const sampler = mPerClassSampler({ labels: mixed, classesPerBatch: 3, samplesPerClass: 3, seed: 2 });

  it('gives floor(length / batch) batches of C distinct classes, m images each', () => {
    const batches = sampler.batches(0);
    expect(batches).toHaveLength(Math.floor(mixed.length / 9));
    for (const b of batches) {
      const classes = classesOf(b, 3, mixed);
      expect(new Set(classes).size).toBe(3);
      for (let c = 0; c < 3; c++) {
        const block = Array.from(b.subarray(c * 3, c * 3 + 3));
        // without replacement when the class has at least m images
        if (sizes[classes[c]!]! >= 3) expect(new Set(block).size).toBe(3);
      }
    }
  });

  it('samples small classes with replacement and covers every class over epochs', () => {
    const seenClasses = new Set<number>();
    for (let e = 0; e < 10; e++)
      for (const b of sampler.batches(e)) for (const c of classesOf(b, 3, mixed)) seenClasses.add(c);
    expect(seenClasses).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
  });

  it('is a pure function of (seed, epoch) and honours lengthBeforeNewIter', () => {
    const again = mPerClassSampler({ labels: mixed, classesPerBatch: 3, samplesPerClass: 3, seed: 2 });
    expect(again.batches(7)).toEqual(sampler.batches(7));
    expect(sampler.batches(8)).not.toEqual(sampler.batches(7));
    const long = mPerClassSampler({
      labels: mixed,
      classesPerBatch: 3,
      samplesPerClass: 3,
      seed: 2,
      lengthBeforeNewIter: 100,
    });
    expect(long.batches(0)).toHaveLength(11);
  });
});
