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
 * sigmoid(-50), both with zero gradient, so only pairs inside the window |s_j - s_p| <= 50 tau need
 * an exponential. Inside the window exp(-z) = exp(-(s_j - c) / tau) * exp((s_p - c) / tau) is
 * factorised (at most one exponential per column, computed when first needed, instead of one per
 * pair) when the row's range keeps both factors finite; otherwise each pair gets its own.
 *
 * RS@k: a positive whose rank provably exceeds k + 50 tauK for every k contributes exactly
 * sigmoid(-50) to every soft recall, with zero gradient, whatever its exact rank. A counting pass
 * gives the bound (rank_p >= 1 + #{j : s_j >= s_p} / 2, since every such pair adds at least 1/2),
 * so such positives skip the rank sum altogether; at large batches that is most of them.
 */
export function rankingKernel(task: KernelTask): void {
  const { n, scores, grad, rowTouched, queryLoss, posPtr, posIdx, self, useSelf, tau, ks, tauKs, scale } =
    task;
  const isRsk = task.kind === 'rsk';
  const invTau = 1 / tau;
  const sigHi = 1 / (1 + Math.exp(-50));
  const sigLo = 1 / (1 + Math.exp(50));
  const colExp = new Float64Array(n);
  const member = new Uint8Array(n);
  const cand = new Int32Array(n);
  const rowGrad = new Float64Array(n);
  let deriv = new Float64Array(0);
  let anchors = new Int32Array(0);
  let reach = 0; // RS@k: ranks above this cannot reach any k through the clamped sigmoid
  for (let i = 0; i < ks.length; i++) reach = Math.max(reach, ks[i]! + 50 * tauKs[i]!);

  for (let q = task.rowStart; q < task.rowEnd; q++) {
    const off = q * n;
    const sOff = (q - task.scoresRow0) * n;
    const p0 = posPtr[q]!;
    const numPos = posPtr[q + 1]! - p0;
    queryLoss[q] = 0;
    if (numPos === 0) continue;

    const selfCol = self[q]!;
    // Anchors: the items whose rank is smoothed (RS@k: positives; Smooth-AP: its positive set).
    const withSelfAnchor = !isRsk && useSelf && selfCol >= 0;
    const m = numPos + (withSelfAnchor ? 1 : 0);
    if (anchors.length < m) anchors = new Int32Array(m);
    for (let t = 0; t < numPos; t++) anchors[t] = posIdx[p0 + t]!;
    if (withSelfAnchor) anchors[numPos] = selfCol;
    // The column left out of the database (the query itself, when not used).
    const skipCol = !useSelf ? selfCol : -1;
    if (!isRsk) for (let t = 0; t < m; t++) member[anchors[t]!] = 1;

    const rankAll = new Float64Array(m);
    const rankPos = new Float64Array(m);

    // RS@k: one counting pass bounds every positive's rank from below; those out of reach of
    // every k are settled here (rank +inf gives sigmoid(-50) below, with zero gradient).
    let inReach = m;
    if (isRsk) {
      const above = new Int32Array(m);
      const level = new Float64Array(m);
      for (let t = 0; t < m; t++) level[t] = scores[sOff + anchors[t]!]!;
      for (let j = 0; j < n; j++) {
        const v = scores[sOff + j]!;
        for (let t = 0; t < m; t++) if (v >= level[t]!) above[t]!++;
      }
      for (let t = 0; t < m; t++) {
        const sa = scores[sOff + anchors[t]!]!;
        // The anchor itself and a left-out query column were counted but are not in its rank sum.
        const c = above[t]! - 1 - (skipCol >= 0 && scores[sOff + skipCol]! >= sa ? 1 : 0);
        if (1 + 0.5 * c > reach) {
          rankAll[t] = Number.POSITIVE_INFINITY;
          inReach--;
        }
      }
    }

    // Candidates: columns at or above the lowest in-reach anchor's similarity minus 50 tau. Every
    // other column lies below every anchor's window: it adds exactly sigmoid(-50) to each rank
    // sum, with zero gradient, and is never visited again. (All anchors are candidates, so a
    // Smooth-AP positive is never among the columns settled here.)
    let minLevel = Number.POSITIVE_INFINITY;
    for (let t = 0; t < m; t++) {
      if (rankAll[t] !== Number.POSITIVE_INFINITY) minLevel = Math.min(minLevel, scores[sOff + anchors[t]!]!);
    }
    const floor = minLevel - 50 * tau;
    let numCand = 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let j = 0; inReach > 0 && j < n; j++) {
      const v = scores[sOff + j]!;
      if (v < floor || j === skipCol) continue;
      cand[numCand++] = j;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const settled = n - (skipCol >= 0 ? 1 : 0) - numCand;
    if (deriv.length < m * numCand) deriv = new Float64Array(m * numCand);
    const centre = 0.5 * (lo + hi);
    const factorised = inReach > 0 && (hi - lo) * invTau < 1200;
    if (factorised) colExp.fill(0); // 0 = not computed yet (the factors never underflow to 0)

    // Forward: rank sums (and Smooth-AP's positive rank sums) per anchor; sigmoid' per pair.
    for (let t = 0; t < m; t++) {
      if (rankAll[t] === Number.POSITIVE_INFINITY) continue;
      const a = anchors[t]!;
      const sa = scores[sOff + a]!;
      const fa = factorised ? Math.exp((sa - centre) * invTau) : 0;
      const dOff = t * numCand;
      let rAll = 1 + settled * sigLo;
      let rPos = 1;
      for (let c = 0; c < numCand; c++) {
        const j = cand[c]!;
        if (j === a) {
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
        if (!isRsk && member[j] === 1) rPos += sg;
      }
      rankAll[t] = rAll;
      rankPos[t] = rPos;
    }

    // Loss of this query and d loss / d (rank sums).
    const dAll = new Float64Array(m);
    const dPos = new Float64Array(m);
    if (isRsk) {
      const numK = ks.length;
      let recall = 0;
      for (let i = 0; i < numK; i++) {
        const k = ks[i]!;
        const tk = tauKs[i]!;
        const norm = Math.min(k, m);
        let sum = 0;
        for (let t = 0; t < m; t++) {
          const x = (k - rankAll[t]!) / tk;
          sum += 1 / (1 + Math.exp(Math.min(50, Math.max(-50, -x))));
        }
        recall += Math.min(sum, k) / norm;
        if (sum <= k) {
          // d(-R_k / K) / d rank_t = sigmoid'(x) / (tk * norm * K), zero beyond the clamp.
          for (let t = 0; t < m; t++) {
            const x = (k - rankAll[t]!) / tk;
            if (x < -50 || x > 50) continue;
            const sg = 1 / (1 + Math.exp(-x));
            dAll[t] = dAll[t]! + (sg * (1 - sg)) / (tk * norm * numK);
          }
        }
      }
      queryLoss[q] = 1 - recall / numK;
    } else {
      let ap = 0;
      for (let t = 0; t < m; t++) {
        const rAll = rankAll[t]!;
        const rPos = rankPos[t]!;
        ap += rPos / rAll;
        dPos[t] = -1 / (m * rAll);
        dAll[t] = rPos / (m * rAll * rAll);
      }
      queryLoss[q] = 1 - ap / m;
    }

    // Backward: d rank_t / d s_j = sigmoid'(z) / tau, d rank_t / d s_anchor = -sum_j of that.
    let touched = false;
    for (let t = 0; t < m; t++) if (dAll[t] !== 0 || dPos[t] !== 0) touched = true;
    if (!touched) {
      if (!isRsk) for (let t = 0; t < m; t++) member[anchors[t]!] = 0;
      continue;
    }
    rowTouched[q] = 1;
    rowGrad.fill(0);
    for (let t = 0; t < m; t++) {
      const a = anchors[t]!;
      const wAll = (dAll[t]! * scale) / tau;
      const wPos = (dPos[t]! * scale) / tau;
      const dOff = t * numCand;
      let total = 0;
      if (isRsk) {
        if (wAll === 0) continue;
        for (let c = 0; c < numCand; c++) {
          const j = cand[c]!;
          const v = wAll * deriv[dOff + c]!;
          rowGrad[j] = rowGrad[j]! + v;
          total += v;
        }
      } else {
        for (let c = 0; c < numCand; c++) {
          const d = deriv[dOff + c]!;
          if (d === 0) continue;
          const j = cand[c]!;
          const v = (member[j] === 1 ? wAll + wPos : wAll) * d;
          rowGrad[j] = rowGrad[j]! + v;
          total += v;
        }
      }
      rowGrad[a] = rowGrad[a]! - total;
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
    if (!isRsk) for (let t = 0; t < m; t++) member[anchors[t]!] = 0;
  }
}
