// The browser's fusion (pages/rerank/fusion.mjs) against the library's answers in tests/data/fusion_vectors.json:
// scores and contributions to 1e-6, validity and the top-K order exactly, the same errors.
// Run: node --test tests/js/   (tests/test_fusion_js.py runs it inside pytest)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { FusionError, fuse, rank, strategies } from "../../pages/rerank/fusion.mjs";

const vectors = JSON.parse(readFileSync(new URL("../data/fusion_vectors.json", import.meta.url)));
const TOL = 1e-6;

function close(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    if (Array.isArray(a)) return close(a, expected[i], `${what}[${i}]`);
    assert.ok(Math.abs(a - expected[i]) <= TOL, `${what}[${i}]: ${a} vs ${expected[i]}`);
  });
}

// Python prints a float's repr (0.0); JavaScript prints 0: compare messages with that one difference undone.
const plain = (message) => message.replace(/(\d)\.0\b/g, "$1");

test("the browser knows every strategy the library registers", () => {
  assert.deepEqual(strategies().sort(), [...vectors.strategies].sort());
});

for (const c of vectors.cases) {
  test(c.name, () => {
    const avail = c.avail.map((row) => row.map(Boolean));
    const run = () => {
      const fused = fuse(c.sims, avail, c.weights, c.strategy, c.params);
      const ranked = rank({ sims: c.sims, avail }, c.weights, { strategy: c.strategy, k: c.k, params: c.params, exclude: c.exclude });
      return { fused, ranked };
    };
    if (c.error) {
      assert.throws(run, (err) => err instanceof FusionError && plain(err.message) === plain(c.error));
      return;
    }
    const { fused, ranked } = run();
    assert.deepEqual(fused.valid.map(Number), c.valid, "valid");
    close(fused.scores, c.scores, "scores");
    close(fused.contributions, c.contributions, "contributions");
    assert.deepEqual(ranked.positions, c.top, "top-K order");
    close(ranked.scores, c.top_scores, "top-K scores");
    close(ranked.contributions, c.top_contributions, "top-K contributions");
    ranked.contributions.forEach((row, i) => {
      assert.ok(Math.abs(row.reduce((s, x) => s + x, 0) - ranked.scores[i]) <= TOL, "contributions add up to the score");
    });
  });
}
