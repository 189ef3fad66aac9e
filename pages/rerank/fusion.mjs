// The browser's twin of mmrec_core/retrieval/_fusion.py: per-modality similarities -> fused scores, their exact
// split per modality, and the top K. One function per registered strategy, with the library's semantics and
// error messages; tests/data/fusion_vectors.json (written by the library) keeps the two from drifting
// (tests/js/fusion.test.mjs). Plain ES module, no DOM: Node's test runner imports it as it is.

export const MODALITIES = ["text", "image", "audio"];

export class FusionError extends Error {}

function itemWeights(avail, w) {
  // Per item: w zeroed where unavailable, renormalised to sum 1 (or all 0).
  return avail.map((a) => {
    const wa = w.map((x, m) => (a[m] ? x : 0));
    const total = wa.reduce((s, x) => s + x, 0);
    return total > 0 ? wa.map((x) => x / total) : wa.map(() => 0);
  });
}

function result(contrib, valid) {
  const c = contrib.map((row, i) => (valid[i] ? row : row.map(() => 0)));
  return { scores: c.map((row) => row.reduce((s, x) => s + x, 0)), valid, contributions: c };
}

function weighted(sims, avail, w) {
  const contrib = [];
  const valid = [];
  for (let i = 0; i < sims.length; i++) {
    const denom = w.reduce((s, x, m) => s + (avail[i][m] ? x : 0), 0);
    valid.push(denom > 0);
    contrib.push(sims[i].map((s, m) => (denom > 0 ? (s * w[m]) / denom : 0)));
  }
  return result(contrib, valid);
}

function late(sims, avail, w) {
  const normed = sims.map((row) => row.map(() => 0));
  for (let m = 0; m < MODALITIES.length; m++) {
    const col = sims.filter((_, i) => avail[i][m]).map((row) => row[m]);
    if (!col.length) continue;
    const lo = Math.min(...col);
    const span = Math.max(...col) - lo;
    sims.forEach((row, i) => { normed[i][m] = span > 0 ? (row[m] - lo) / span : 1.0; });
  }
  const wi = itemWeights(avail, w);
  return result(wi.map((row, i) => row.map((x, m) => x * normed[i][m])), wi.map((row) => row.some((x) => x > 0)));
}

function maxPool(sims, avail, w) {
  const top = Math.max(...w);
  if (!(top > 0)) throw new FusionError("max pooling needs at least one weight > 0");
  const contrib = [];
  const valid = [];
  sims.forEach((row, i) => {
    let best = 0;
    let bestValue = -Infinity;
    row.forEach((s, m) => {
      const value = avail[i][m] && w[m] > 0 ? s * (w[m] / top) : -Infinity;
      if (value > bestValue) { best = m; bestValue = value; }
    });
    const ok = bestValue > -Infinity;
    valid.push(ok);
    contrib.push(row.map((_, m) => (ok && m === best ? bestValue : 0)));
  });
  return result(contrib, valid);
}

function attend(sims, avail, w, logits) {
  // att_m = w_m exp(logit_m) / sum over the usable modalities (softmax, stabilised); score = sum att_m s_m.
  const contrib = [];
  const valid = [];
  sims.forEach((row, i) => {
    const usable = row.map((_, m) => avail[i][m] && w[m] > 0);
    const top = Math.max(...logits[i].map((l, m) => (usable[m] ? l : -Infinity)));
    const shift = Number.isFinite(top) ? top : 0;
    const att = row.map((_, m) => (usable[m] ? w[m] * Math.exp(logits[i][m] - shift) : 0));
    const total = att.reduce((s, x) => s + x, 0);
    valid.push(usable.some(Boolean));
    contrib.push(row.map((s, m) => (total > 0 ? att[m] / total : 0) * s));
  });
  return result(contrib, valid);
}

function attention(sims, avail, w, { temperature = 0.1, ...rest } = {}) {
  noOthers("attention", rest);
  if (!(temperature > 0)) throw new FusionError(`attention temperature=${temperature} must be > 0`);
  return attend(sims, avail, w, sims.map((row) => row.map((s) => s / temperature)));
}

export const LEARNED_PARAMS = ["scale", "bias"].flatMap((kind) => MODALITIES.map((m) => `${kind}_${m}`));

function learned(sims, avail, w, params = {}) {
  const unknown = Object.keys(params).filter((p) => !LEARNED_PARAMS.includes(p)).sort();
  if (unknown.length) {
    throw new FusionError(`learned fusion has no parameter [${unknown.map((u) => `'${u}'`).join(", ")}]; it takes ${LEARNED_PARAMS.join(", ")}`);
  }
  const scale = MODALITIES.map((m) => params[`scale_${m}`] ?? 10.0);
  const bias = MODALITIES.map((m) => params[`bias_${m}`] ?? 0.0);
  return attend(sims, avail, w, sims.map((row) => row.map((s, m) => s * scale[m] + bias[m])));
}

function rrf(sims, avail, w, { k = 60.0, ...rest } = {}) {
  noOthers("rrf", rest);
  if (!(k >= 0)) throw new FusionError(`rrf k=${k} must be >= 0`);
  const ranks = sims.map((row) => row.map(() => Infinity));
  for (let m = 0; m < MODALITIES.length; m++) {
    const rows = sims.map((_, i) => i).filter((i) => avail[i][m]);
    rows.sort((a, b) => sims[b][m] - sims[a][m] || a - b); // stable: ties keep row order
    rows.forEach((i, r) => { ranks[i][m] = r + 1; });
  }
  const wi = itemWeights(avail, w);
  return result(wi.map((row, i) => row.map((x, m) => (x > 0 ? x / (k + ranks[i][m]) : 0))),
    wi.map((row) => row.some((x) => x > 0)));
}

function noOthers(name, rest) {
  const extra = Object.keys(rest);
  if (extra.length) throw new FusionError(`${name} fusion takes no parameter ${extra.sort().join(", ")}`);
}

const STRATEGIES = { weighted, late, max: maxPool, attention, learned, rrf };

export function strategies() {
  return Object.keys(STRATEGIES);
}

/** Fuse sims (n x 3) with avail (n x 3 booleans) under weights {text, image, audio} and a strategy name. */
export function fuse(sims, avail, weights, strategy = "weighted", params = {}) {
  const fn = STRATEGIES[strategy];
  if (!fn) {
    throw new FusionError(`unknown fusion strategy '${strategy}'. Available: ${strategies().sort().join(", ")}`);
  }
  const w = MODALITIES.map((m) => Number(weights[m] ?? 0));
  w.forEach((x, j) => {
    if (!Number.isFinite(x) || x < 0) throw new FusionError(`weight ${MODALITIES[j]}=${x} must be a finite number >= 0`);
  });
  const zeroed = sims.map((row, i) => row.map((s, m) => (avail[i][m] ? s : 0)));
  return fn(zeroed, avail, w, params);
}

/** Candidate positions of the k best valid scores, best first; ties broken by position (the library's row order). */
export function topK(scores, valid, k) {
  if (!(k >= 1)) throw new FusionError(`k=${k} must be >= 1`);
  const rows = scores.map((_, i) => i).filter((i) => valid[i]);
  rows.sort((a, b) => scores[b] - scores[a] || a - b);
  return rows.slice(0, k);
}

/** The library's rank(): fuse, drop excluded positions, keep the top k with their scores and contributions. */
export function rank(cands, weights, { strategy = "weighted", k = 10, params = {}, exclude = [] } = {}) {
  const fused = fuse(cands.sims, cands.avail, weights, strategy, params);
  const skip = new Set(exclude);
  const valid = fused.valid.map((v, i) => v && !skip.has(i));
  const best = topK(fused.scores, valid, k);
  return { positions: best, scores: best.map((i) => fused.scores[i]), contributions: best.map((i) => fused.contributions[i]) };
}
