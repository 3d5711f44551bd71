/**
 * The fused CPU ranking kernel: loss and d loss / d scores of RS@k or Smooth-AP for a range of query
 * rows, in float64 arithmetic.
 *
 * `rankingKernel` must stay self-contained (no imports, no references to module-level names): the
 * worker pool ships its source text (`rankingKernel.toString()`) to worker threads, which is what
 * lets the same code run from the built dist and from TypeScript sources under vitest / tsx.
 */

/** Everything the kernel reads and writes; arrays may live in SharedArrayBuffers. */
export interface KernelTask {
  kind: 'rsk' | 'smoothap';
  /** Columns of the score block. */
  n: number;
  /** Row range [rowStart, rowEnd) this call computes. */
  rowStart: number;
  rowEnd: number;
  /** Row-major similarities of rows [scoresRow0, scoresRow0 + scores.length / n). */
  scores: Float32Array;
  scoresRow0: number;
  /** Q x N output, zero on entry: d loss / d scores, already multiplied by `scale`. */
  grad: Float32Array;
  /** Q output, zero on entry: set to 1 for the rows of `grad` that were written (the others stay 0). */
  rowTouched: Uint8Array;
  /** Q output: each query's loss term (0 for queries without positives). */
  queryLoss: Float64Array;
  /** Positives of query q: posIdx[posPtr[q] .. posPtr[q+1]). */
  posPtr: Int32Array;
  posIdx: Int32Array;
  /** Column of each query's own entry, or -1. */
  self: Int32Array;
  /** RS@k: the query's own column is part of the ranked database. Smooth-AP: it is also a positive. */
  useSelf: boolean;
  /** Temperature of the rank sigmoid. */
  tau: number;
  /** RS@k: the k values (already clipped) and their temperatures. */
  ks: number[];
  tauKs: number[];
  /** Gradient scale (1 / number of queries with positives). */
  scale: number;
}

/**
 * Computes `task.queryLoss` and `task.grad` for rows [rowStart, rowEnd).
 *
 * The rank sigmoid is the authors' clamped one, 1 / (1 + exp(clamp(-z, -50, 50))) with
 * z = (s_j - s_p) / tau: a pair with z > 50 adds exactly sigmoid(50), one with z < -50 exactly
 * sigmoid(-50), both with zero gradient. Inside that window exp(-z) = exp(-(s_j - c) / tau) *
 * exp((s_p - c) / tau) is factorised (one exponential per column instead of one per pair) when the
 * row's range keeps both factors finite; otherwise each pair gets its own.
 *
 * RS@k (`rskRows`): the rank of a positive only grows as its similarity falls, so the positives are
 * visited from the most similar down and the first one whose rank exceeds k + 50 tauK for every k
 * ends the visit: it and every positive below it contribute exactly sigmoid(-50) to every soft
 * recall, with zero gradient (a counting bound, rank >= 1 + #{j : s_j >= s_p} / 2, settles whole
 * queries and limits the candidates). A pair far below its positive is summed by the series
 * sigmoid(z) = e - e^2 + e^3 - ... (e = e^z; 9 terms for z < -5, or 4 for z < -10 when the powers
 * would leave float64's range; truncation error below e^-50, far under float64's resolution of a
 * rank), which factorises into per-column and per-positive terms: columns are bucketed by
 * similarity (buckets of width tau), so a positive's far pairs are a prefix sum over buckets and
 * only the columns within a few tau below it (and all above it) are visited one by one. The
 * backward pass sums the far pairs' sigmoid' = e - 2e^2 + 3e^3 - ... the same way. Queries with
 * fewer than 8 positives (4 per class, the authors' batches) take a direct path instead: no
 * buckets, each column's factor computed once, the visited pairs in column order over the window
 * 50 tau below the lowest candidate, the same exact ranks and gradient.
 *
 * Smooth-AP: every positive's rank is needed; columns below the lowest positive's window are
 * settled in one pass and only the others are visited.
 */
export function rankingKernel(task: KernelTask): void {
  if (task.kind === 'rsk') {
    rskRows(task);
    return;
  }
  smoothApRows(task);

  function rskRows(t: KernelTask): void {
    const { n, scores, grad, rowTouched, queryLoss, posPtr, posIdx, self, useSelf, tau, ks, tauKs, scale } =
      t;
    const invTau = 1 / tau;
    const sigLo = 1 / (1 + Math.exp(50));
    const numK = ks.length;
    let reach = 0; // ranks above this cannot reach any k through the clamped sigmoid
    for (let i = 0; i < numK; i++) reach = Math.max(reach, ks[i]! + 50 * tauKs[i]!);
    const colPow = new Float64Array(n); // exp((s_j - c) / tau)
    const member = new Uint8Array(n);
    const cand = new Int32Array(n); // positives to visit, by similarity descending
    const colBin = new Int32Array(n);
    const order = new Int32Array(n); // columns grouped by bucket, ascending
    const rowGrad = new Float64Array(n);
    let binStart = new Int32Array(0);
    let cursor = new Int32Array(0);
    // Per bucket: sums of u^k over its columns (prefix-summed), and the backward's weights.
    const MAX_TERMS = 9;
    // Per bucket b, at [b * MAX_TERMS + k]: prefix sums of u^(k+1) over the buckets below b, and
    // the backward's weights of the positives whose far buckets end at b.
    let ps = new Float64Array(0);
    let dw = new Float64Array(0);
    const acc = new Float64Array(MAX_TERMS);
    let rank = new Float64Array(0);
    let dAll = new Float64Array(0);
    let anchorBin = new Int32Array(0);
    let anchorPow = new Float64Array(0);
    let nearOff = new Int32Array(0);
    let deriv = new Float64Array(0);
    // Queries with fewer positives than this take the direct path (columns in their own order).
    const FEW = 8;
    const fewDeriv = new Float64Array(FEW * n); // sigmoid' of candidate i's pairs at [i * n + j]
    const fewSim = new Float64Array(FEW); // candidates' similarities, descending
    const fewCount = new Int32Array(FEW); // columns at or above each of them
    const win = new Int32Array(n); // the window's columns, in order ...
    const winS = new Float64Array(n); // ... their similarities ...
    const winU = new Float64Array(n); // ... and exp((s_j - c) / tau)

    /**
     * The loss of a query with m positives, inReach of them ranked in rank[0 .. inReach) and the
     * rest beyond every k (sigmoid(-50) each): 1 - the mean over k of the smoothed recall. Writes
     * d loss / d rank of the positives in reach into dAll.
     */
    function recallLoss(m: number, inReach: number): number {
      let recall = 0;
      dAll.fill(0, 0, inReach);
      for (let i = 0; i < numK; i++) {
        const k = ks[i]!;
        const tk = tauKs[i]!;
        const norm = Math.min(k, m);
        let sum = (m - inReach) * sigLo;
        for (let p = 0; p < inReach; p++) {
          const x = (k - rank[p]!) / tk;
          sum += 1 / (1 + Math.exp(Math.min(50, Math.max(-50, -x))));
        }
        recall += Math.min(sum, k) / norm;
        if (sum <= k) {
          // d(-R_k / K) / d rank_p = sigmoid'(x) / (tk * norm * K), zero beyond the clamp.
          for (let p = 0; p < inReach; p++) {
            const x = (k - rank[p]!) / tk;
            if (x < -50 || x > 50) continue;
            const sg = 1 / (1 + Math.exp(-x));
            dAll[p] = dAll[p]! + (sg * (1 - sg)) / (tk * norm * numK);
          }
        }
      }
      return 1 - recall / numK;
    }

    for (let q = t.rowStart; q < t.rowEnd; q++) {
      const off = q * n;
      const sOff = (q - t.scoresRow0) * n;
      const p0 = posPtr[q]!;
      const m = posPtr[q + 1]! - p0;
      queryLoss[q] = 0;
      if (m === 0) continue;
      const skipCol = useSelf ? -1 : self[q]!; // left out of the ranked database
      if (rank.length < m) {
        rank = new Float64Array(m);
        dAll = new Float64Array(m);
        anchorBin = new Int32Array(m);
        anchorPow = new Float64Array(m);
        nearOff = new Int32Array(m + 1);
      }
      if (m < FEW) {
        fewPositives(q, off, sOff, p0, m, skipCol);
        continue;
      }
      // Every column at or above the most similar positive adds at least 1/2 to its rank.
      let top = Number.NEGATIVE_INFINITY;
      for (let a = 0; a < m; a++) top = Math.max(top, scores[sOff + posIdx[p0 + a]!]!);
      let above = -1; // the positive itself is counted below
      for (let j = 0; j < n; j++) if (scores[sOff + j]! >= top) above++;
      if (skipCol >= 0 && scores[sOff + skipCol]! >= top) above--;
      let inReach = 0;
      let nb = 0;
      let numCols = 0;
      let centre = 0;
      let base = 0; // buckets below base: beyond the clamp for every visited positive
      let terms = 0;
      let tail = 10;
      let factorised = false;
      let candidates = 0;
      if (1 + 0.5 * above <= reach) {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) {
          if (j === skipCol) continue;
          const v = scores[sOff + j]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        let width = tau;
        nb = Math.floor((hi - lo) / width) + 1;
        if (!(nb <= n)) {
          nb = Math.max(1, n);
          width = (hi - lo) / nb;
        }
        if (binStart.length < nb + 1) {
          binStart = new Int32Array(nb + 1);
          cursor = new Int32Array(nb);
          ps = new Float64Array((nb + 1) * MAX_TERMS);
          dw = new Float64Array((nb + 1) * MAX_TERMS);
        }
        binStart.fill(0, 0, nb + 1);
        for (let j = 0; j < n; j++) {
          if (j === skipCol) {
            colBin[j] = -1;
            continue;
          }
          const b = Math.min(nb - 1, Math.floor((scores[sOff + j]! - lo) / width));
          colBin[j] = b;
          binStart[b + 1]!++;
        }
        for (let b = 0; b < nb; b++) {
          cursor[b] = binStart[b]!;
          binStart[b + 1]! += binStart[b]!;
        }
        numCols = binStart[nb]!;
        for (let j = 0; j < n; j++) {
          const b = colBin[j]!;
          if (b >= 0) order[cursor[b]!++] = j;
        }
        // Candidates: the positives by similarity, descending (bucket by bucket from the top, sorted
        // inside a bucket), until the same bound from the buckets puts one out of reach. Positives
        // past it are never visited, so columns more than 50 tau below the last candidate lie beyond
        // the clamp for every visited positive (sigmoid(-50) each, zero gradient).
        for (let a = 0; a < m; a++) member[posIdx[p0 + a]!] = 1;
        candidates = 0;
        for (let b = nb - 1; b >= 0; b--) {
          if (1 + 0.5 * (numCols - binStart[b + 1]!) > reach) break;
          const first = candidates;
          const end = binStart[b + 1]!;
          for (let c = binStart[b]!; c < end; c++) {
            const j = order[c]!;
            if (member[j] !== 1) continue;
            const v = scores[sOff + j]!;
            let k = candidates++;
            while (k > first && scores[sOff + cand[k - 1]!]! < v) {
              cand[k] = cand[k - 1]!;
              k--;
            }
            cand[k] = j;
          }
        }
        for (let a = 0; a < m; a++) member[posIdx[p0 + a]!] = 0;
        const lowest = scores[sOff + cand[candidates - 1]!]!;
        const floor = lowest - 50 * tau;
        base = floor > lo ? Math.min(nb - 1, Math.floor((floor - lo) / width)) : 0;
        // The series: e^z = u_j v_p with u_j = exp((s_j - c) / tau) and v_p = exp((c - s_p) / tau),
        // c halfway between the candidates' similarities. Pairs with z < -tail are summed by `terms`
        // terms (truncation below e^-50): 9 terms from 5 tau when every power stays well inside
        // float64's range, else 4 from 10 tau, else none.
        centre = 0.5 * (top + lowest);
        const span = 0.5 * (top - lowest) * invTau + 52; // bounds |log u_j| (columns from base) and log v_p
        const fits = (hi - centre) * invTau < 600;
        // With a handful of candidates the series' per-column work costs more than their pairs.
        terms = candidates < 8 ? 0 : fits && 9 * span < 700 ? 9 : fits && 4 * span < 700 ? 4 : 0;
        factorised = fits && span < 700;
        tail = terms === 9 ? 5 : 10;
        // Buckets whose columns are far below some positive: those below the top one's bound.
        const farEnd =
          terms > 0 ? Math.max(base, Math.min(nb - 1, Math.floor((top - tail * tau - lo) / width))) : base;
        for (let k = 0; k < terms; k++) ps[base * MAX_TERMS + k] = 0;
        for (let b = base; factorised && b < nb; b++) {
          const end = binStart[b + 1]!;
          if (b < farEnd) {
            acc.fill(0, 0, terms);
            for (let c = binStart[b]!; c < end; c++) {
              const j = order[c]!;
              const u = Math.exp((scores[sOff + j]! - centre) * invTau);
              colPow[j] = u;
              let power = u;
              for (let k = 0; k < terms; k++) {
                acc[k]! += power;
                power *= u;
              }
            }
            const at = b * MAX_TERMS;
            for (let k = 0; k < terms; k++) ps[at + MAX_TERMS + k] = ps[at + k]! + acc[k]!;
          } else {
            for (let c = binStart[b]!; c < end; c++) {
              const j = order[c]!;
              colPow[j] = Math.exp((scores[sOff + j]! - centre) * invTau);
            }
          }
        }

        // Exact ranks, most similar positive first, until one is out of reach.
        let used = 0;
        const settled = binStart[base]! * sigLo;
        for (let i = 0; i < candidates; i++) {
          const a = cand[i]!;
          const sa = scores[sOff + a]!;
          let bt = base; // buckets in [base, bt) are entirely more than `tail` tau below s_a
          let r = 1 + settled;
          let va = 0; // exp((c - s_a) / tau): e^z = u_j va
          if (factorised) {
            va = Math.exp((centre - sa) * invTau);
            const th = sa - tail * tau;
            if (terms > 0 && th > lo) bt = Math.max(base, Math.min(farEnd, Math.floor((th - lo) / width)));
            if (bt > base) {
              // sigmoid(z) = e - e^2 + e^3 - ... for e = e^z < e^-tail
              const at = bt * MAX_TERMS;
              let power = va;
              let sign = 1;
              for (let k = 0; k < terms; k++) {
                r += sign * power * ps[at + k]!;
                power *= va;
                sign = -sign;
              }
            }
          }
          const c0 = binStart[bt]!;
          if (deriv.length < used + numCols - c0) {
            const grown = new Float64Array(Math.max(2 * deriv.length, used + numCols - c0));
            grown.set(deriv.subarray(0, used));
            deriv = grown;
          }
          let d = used;
          for (let c = c0; c < numCols; c++) {
            const j = order[c]!;
            if (j === a) {
              deriv[d++] = 0;
              continue;
            }
            const z = (scores[sOff + j]! - sa) * invTau;
            if (z > 50) {
              r += 1; // sigmoid(50) is 1 in float64
              deriv[d++] = 0;
            } else if (z < -50) {
              r += sigLo;
              deriv[d++] = 0;
            } else {
              let sg: number;
              let slope: number;
              if (factorised) {
                const e = colPow[j]! * va;
                const t = 1 / (1 + e);
                sg = e * t;
                slope = sg * t;
              } else {
                sg = 1 / (1 + Math.exp(-z));
                slope = sg * (1 - sg);
              }
              r += sg;
              deriv[d++] = slope;
            }
          }
          if (r > reach) break; // this positive and every one below it are out of reach
          rank[i] = r;
          anchorBin[i] = bt;
          anchorPow[i] = va;
          nearOff[i] = used;
          used = d;
          inReach++;
        }
      }

      queryLoss[q] = recallLoss(m, inReach);

      // Backward: d rank_p / d s_j = sigmoid'(z) / tau, d rank_p / d s_p = -sum_j of that.
      let touched = false;
      for (let p = 0; p < inReach; p++) if (dAll[p] !== 0) touched = true;
      if (!touched) continue;
      rowTouched[q] = 1;
      rowGrad.fill(0);
      let maxBin = base;
      for (let p = 0; p < inReach; p++) {
        const w = (dAll[p]! * scale) / tau;
        if (w === 0) continue;
        const a = cand[p]!;
        const bt = anchorBin[p]!;
        const c0 = binStart[bt]!;
        let d = nearOff[p]!;
        let total = 0;
        for (let c = c0; c < numCols; c++) {
          const j = order[c]!;
          const v = w * deriv[d++]!;
          rowGrad[j] = rowGrad[j]! + v;
          total += v;
        }
        if (bt > base) {
          // sigmoid'(z) = e - 2e^2 + 3e^3 - ..., summed over the far columns ...
          const e = anchorPow[p]!;
          if (bt > maxBin) {
            dw.fill(0, (maxBin + 1) * MAX_TERMS, (bt + 1) * MAX_TERMS);
            maxBin = bt;
          }
          const at = bt * MAX_TERMS;
          let power = e;
          let sign = 1;
          let far = 0;
          for (let k = 0; k < terms; k++) {
            far += sign * (k + 1) * power * ps[at + k]!;
            dw[at + k]! += w * power; // ... and, per column, below
            power *= e;
            sign = -sign;
          }
          total += w * far;
        }
        rowGrad[a] = rowGrad[a]! - total;
      }
      // Columns of bucket b are far below every positive whose bucket bound is above b.
      acc.fill(0);
      for (let b = maxBin - 1; b >= base; b--) {
        const next = (b + 1) * MAX_TERMS;
        for (let k = 0; k < terms; k++) acc[k]! += dw[next + k]!;
        const end = binStart[b + 1]!;
        for (let c = binStart[b]!; c < end; c++) {
          const j = order[c]!;
          const u = colPow[j]!;
          let power = u;
          let sign = 1;
          let v = 0;
          for (let k = 0; k < terms; k++) {
            v += sign * (k + 1) * power * acc[k]!;
            power *= u;
            sign = -sign;
          }
          rowGrad[j] = rowGrad[j]! + v;
        }
      }
      // Entries below 1e-12 of the row's largest (pairs deep in the sigmoid's tail) are written
      // as exact zeros: far below float32 rounding even summed over a whole row, and they make G
      // entrywise sparse, which the embedding gradient exploits.
      let rowMax = 0;
      for (let j = 0; j < n; j++) rowMax = Math.max(rowMax, Math.abs(rowGrad[j]!));
      const cutoff = rowMax * 1e-12;
      for (let j = 0; j < n; j++) {
        const v = rowGrad[j]!;
        if (v >= cutoff || v <= -cutoff) grad[off + j] = v;
      }
    }

    /**
     * RS@k for a query with few positives (m < FEW: the bucketed series would cost more than it
     * saves): the same exact ranks, loss and gradient, in passes over the columns in their own
     * order. One pass finds the range and, per positive, the columns at or above it (the counting
     * bound settles the positives out of reach); the next lists the window, the columns less than
     * 50 tau below the lowest candidate, with their factors. Every other column adds sigmoid(-50)
     * to every candidate's rank, with zero gradient, and is not visited again.
     */
    function fewPositives(
      q: number,
      off: number,
      sOff: number,
      p0: number,
      m: number,
      skipCol: number,
    ): void {
      // Local names for the closure's arrays: the loops below then keep them in registers.
      const sc = scores;
      const sim = fewSim;
      const count = fewCount;
      const cW = win;
      const sW = winS;
      const uW = winU;
      const dW = fewDeriv;
      const rg = rowGrad;
      const gr = grad;
      // The positives by similarity, descending.
      for (let a = 0; a < m; a++) {
        const j = posIdx[p0 + a]!;
        const v = sc[sOff + j]!;
        let k = a;
        while (k > 0 && sim[k - 1]! < v) {
          sim[k] = sim[k - 1]!;
          cand[k] = cand[k - 1]!;
          k--;
        }
        sim[k] = v;
        cand[k] = j;
        count[a] = 0;
      }
      // Columns at or above each positive (itself included), and the largest similarity; the
      // left-out column counts for neither.
      const top = sim[0]!;
      let hi = Number.NEGATIVE_INFINITY;
      let atTop = 0;
      for (let j = 0; j < n; j++) {
        const v = sc[sOff + j]!;
        if (v > hi) hi = v;
        if (v >= top) atTop++;
      }
      if (skipCol >= 0) {
        const v = sc[sOff + skipCol]!;
        if (v >= top) atTop--;
        hi = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) if (j !== skipCol && sc[sOff + j]! > hi) hi = sc[sOff + j]!;
      }
      count[0] = atTop;
      if (m > 1 && 1 + 0.5 * (atTop - 1) <= reach) {
        const last = sim[m - 1]!;
        for (let j = 0; j < n; j++) {
          const v = sc[sOff + j]!;
          if (v >= last && j !== skipCol) for (let k = 1; k < m; k++) if (v >= sim[k]!) count[k]!++;
        }
      }
      // rank_p >= 1 + (columns other than p at or above s_p) / 2: candidates are the positives
      // from the top until that bound puts one out of reach.
      let candidates = 0;
      while (candidates < m && 1 + 0.5 * (count[candidates]! - 1) <= reach) candidates++;
      let inReach = 0;
      let w = 0; // columns in the window
      if (candidates > 0) {
        const lowest = sim[candidates - 1]!;
        const centre = 0.5 * (top + lowest);
        const span = 0.5 * (top - lowest) * invTau + 52; // bounds |log u_j| over the window
        const factorised = (hi - centre) * invTau < 600 && span < 700;
        for (let j = 0; j < n; j++) {
          if (j === skipCol) continue;
          const v = sc[sOff + j]!;
          // (v - lowest) / tau < -50 implies (v - s_a) / tau < -50 for every candidate a
          // (rounding is monotone): outside the window.
          if ((v - lowest) * invTau >= -50) {
            cW[w] = j;
            sW[w] = v;
            if (factorised) uW[w] = Math.exp((v - centre) * invTau);
            w++;
          }
        }
        const settled = (n - (skipCol >= 0 ? 1 : 0) - w) * sigLo;
        // Exact ranks, most similar candidate first, until one is out of reach.
        for (let i = 0; i < candidates; i++) {
          const a = cand[i]!;
          const sa = sim[i]!;
          const va = factorised ? Math.exp((centre - sa) * invTau) : 0;
          const d = i * w;
          let r = 1 + settled;
          for (let c = 0; c < w; c++) {
            if (cW[c] === a) {
              dW[d + c] = 0;
              continue;
            }
            const z = (sW[c]! - sa) * invTau;
            if (z > 50) {
              r += 1; // sigmoid(50) is 1 in float64
              dW[d + c] = 0;
            } else if (z < -50) {
              r += sigLo;
              dW[d + c] = 0;
            } else if (factorised) {
              const e = uW[c]! * va;
              const u = 1 / (1 + e);
              const sg = e * u;
              r += sg;
              dW[d + c] = sg * u;
            } else {
              const sg = 1 / (1 + Math.exp(-z));
              r += sg;
              dW[d + c] = sg * (1 - sg);
            }
          }
          if (r > reach) break; // this positive and every one below it are out of reach
          rank[i] = r;
          inReach++;
        }
      }

      queryLoss[q] = recallLoss(m, inReach);

      // Backward: d rank_p / d s_j = sigmoid'(z) / tau, d rank_p / d s_p = -sum_j of that; only
      // window columns (the candidates among them) can be non-zero.
      let touched = false;
      for (let p = 0; p < inReach; p++) if (dAll[p] !== 0) touched = true;
      if (!touched) return;
      rowTouched[q] = 1;
      for (let c = 0; c < w; c++) rg[cW[c]!] = 0;
      for (let p = 0; p < inReach; p++) {
        const wt = (dAll[p]! * scale) / tau;
        if (wt === 0) continue;
        const d = p * w;
        let total = 0;
        for (let c = 0; c < w; c++) {
          const v = wt * dW[d + c]!;
          const j = cW[c]!;
          rg[j] = rg[j]! + v;
          total += v;
        }
        const a = cand[p]!;
        rg[a] = rg[a]! - total;
      }
      // As below: entries under 1e-12 of the row's largest are written as exact zeros.
      let rowMax = 0;
      for (let c = 0; c < w; c++) rowMax = Math.max(rowMax, Math.abs(rg[cW[c]!]!));
      const cutoff = rowMax * 1e-12;
      for (let c = 0; c < w; c++) {
        const j = cW[c]!;
        const v = rg[j]!;
        if (v >= cutoff || v <= -cutoff) gr[off + j] = v;
      }
    }
  }

  function smoothApRows(t: KernelTask): void {
    const { n, scores, grad, rowTouched, queryLoss, posPtr, posIdx, self, useSelf, tau, scale } = t;
    const invTau = 1 / tau;
    const sigHi = 1 / (1 + Math.exp(-50));
    const sigLo = 1 / (1 + Math.exp(50));
    const colExp = new Float64Array(n);
    const member = new Uint8Array(n);
    const cand = new Int32Array(n);
    const rowGrad = new Float64Array(n);
    let deriv = new Float64Array(0);
    let anchors = new Int32Array(0);

    for (let q = t.rowStart; q < t.rowEnd; q++) {
      const off = q * n;
      const sOff = (q - t.scoresRow0) * n;
      const p0 = posPtr[q]!;
      const numPos = posPtr[q + 1]! - p0;
      queryLoss[q] = 0;
      if (numPos === 0) continue;

      const selfCol = self[q]!;
      // Anchors: the query's positive set (the query itself included when used).
      const withSelfAnchor = useSelf && selfCol >= 0;
      const m = numPos + (withSelfAnchor ? 1 : 0);
      if (anchors.length < m) anchors = new Int32Array(m);
      for (let a = 0; a < numPos; a++) anchors[a] = posIdx[p0 + a]!;
      if (withSelfAnchor) anchors[numPos] = selfCol;
      // The column left out of the database (the query itself, when not used).
      const skipCol = !useSelf ? selfCol : -1;
      for (let a = 0; a < m; a++) member[anchors[a]!] = 1;

      const rankAll = new Float64Array(m);
      const rankPos = new Float64Array(m);

      // Candidates: columns at or above the lowest anchor's similarity minus 50 tau. Every other
      // column lies below every anchor's window: it adds exactly sigmoid(-50) to each rank sum,
      // with zero gradient, and is never visited again. (All anchors are candidates, so a positive
      // is never among the columns settled here.)
      let minLevel = Number.POSITIVE_INFINITY;
      for (let a = 0; a < m; a++) minLevel = Math.min(minLevel, scores[sOff + anchors[a]!]!);
      const floor = minLevel - 50 * tau;
      let numCand = 0;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        const v = scores[sOff + j]!;
        if (v < floor || j === skipCol) continue;
        cand[numCand++] = j;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const settled = n - (skipCol >= 0 ? 1 : 0) - numCand;
      if (deriv.length < m * numCand) deriv = new Float64Array(m * numCand);
      const centre = 0.5 * (lo + hi);
      const factorised = (hi - lo) * invTau < 1200;
      if (factorised) colExp.fill(0); // 0 = not computed yet (the factors never underflow to 0)

      // Forward: rank sums over the database and over the positive set, per anchor; sigmoid' per pair.
      for (let a = 0; a < m; a++) {
        const col = anchors[a]!;
        const sa = scores[sOff + col]!;
        const fa = factorised ? Math.exp((sa - centre) * invTau) : 0;
        const dOff = a * numCand;
        let rAll = 1 + settled * sigLo;
        let rPos = 1;
        for (let c = 0; c < numCand; c++) {
          const j = cand[c]!;
          if (j === col) {
            deriv[dOff + c] = 0;
            continue;
          }
          const z = (scores[sOff + j]! - sa) * invTau;
          let sg: number;
          if (z > 50) {
            sg = sigHi;
            deriv[dOff + c] = 0;
          } else if (z < -50) {
            sg = sigLo;
            deriv[dOff + c] = 0;
          } else {
            let x: number;
            if (factorised) {
              let ce = colExp[j]!;
              if (ce === 0) ce = colExp[j] = Math.exp(-(scores[sOff + j]! - centre) * invTau);
              x = ce * fa;
            } else x = Math.exp(-z);
            sg = 1 / (1 + x);
            deriv[dOff + c] = sg * (1 - sg);
          }
          rAll += sg;
          if (member[j] === 1) rPos += sg;
        }
        rankAll[a] = rAll;
        rankPos[a] = rPos;
      }

      // Loss of this query and d loss / d (rank sums).
      const dAll = new Float64Array(m);
      const dPos = new Float64Array(m);
      let ap = 0;
      for (let a = 0; a < m; a++) {
        const rAll = rankAll[a]!;
        const rPos = rankPos[a]!;
        ap += rPos / rAll;
        dPos[a] = -1 / (m * rAll);
        dAll[a] = rPos / (m * rAll * rAll);
      }
      queryLoss[q] = 1 - ap / m;

      // Backward: d rank_a / d s_j = sigmoid'(z) / tau, d rank_a / d s_anchor = -sum_j of that.
      rowTouched[q] = 1;
      rowGrad.fill(0);
      for (let a = 0; a < m; a++) {
        const col = anchors[a]!;
        const wAll = (dAll[a]! * scale) / tau;
        const wPos = (dPos[a]! * scale) / tau;
        const dOff = a * numCand;
        let total = 0;
        for (let c = 0; c < numCand; c++) {
          const d = deriv[dOff + c]!;
          if (d === 0) continue;
          const j = cand[c]!;
          const v = (member[j] === 1 ? wAll + wPos : wAll) * d;
          rowGrad[j] = rowGrad[j]! + v;
          total += v;
        }
        rowGrad[col] = rowGrad[col]! - total;
      }
      // Entries below 1e-12 of the row's largest (pairs deep in the sigmoid's tail, sigmoid' < e^-27)
      // are written as exact zeros: far below float32 rounding even summed over a whole row, and
      // they make G entrywise sparse, which the embedding gradient exploits.
      let rowMax = 0;
      for (let j = 0; j < n; j++) rowMax = Math.max(rowMax, Math.abs(rowGrad[j]!));
      const cutoff = rowMax * 1e-12;
      for (let j = 0; j < n; j++) {
        const v = rowGrad[j]!;
        if (v >= cutoff || v <= -cutoff) grad[off + j] = v;
      }
      for (let a = 0; a < m; a++) member[anchors[a]!] = 0;
    }
  }
}
