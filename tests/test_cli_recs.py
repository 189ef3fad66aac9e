"""train / evaluate-recs / recommend end to end, in fresh processes, on a small planted sample."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mmrec_core.recs import write_interactions
from test_recommend import planted_interactions, planted_store


def cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "mmrec_core", *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_recs")
    store, _ = planted_store(root / "store")
    rows = [(u, i, "", str(int(t))) for _, u, i, _, t in planted_interactions(n_users=12)]
    rows.append(("u00", "no-such-item", "", "5"))  # CSV line len(rows) + 1
    rows.append(("u01", "i010", "", "next tuesday"))
    return store, write_interactions(root / "interactions.csv", rows)


def test_train_then_recommend_for_all_users(sample, tmp_path):
    store, inter = sample
    out = cli("train", "--store", store.path, "--interactions", inter, "--model", "hybrid", "--model", "itemknn",
              "--epochs", "5")
    bad_line = len(planted_interactions(n_users=12)) + 2
    assert f"skipped line {bad_line}: unknown item" in out.stderr and f"line {bad_line + 1}: unparsable time" in out.stderr
    saved = [json.loads(line) for line in out.stdout.splitlines()]
    assert [s["model"] for s in saved] == ["hybrid", "itemknn"] and saved[0]["bad_rows"] == 2
    assert (store.path / "models" / "hybrid" / "arrays.npz").is_file()

    out = cli("recommend", "--store", store.path, "--users", "all", "-k", "4", "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == [f"u{u:02d}" for u in range(12)]
    history = {}
    for _, u, i, _, _ in planted_interactions(n_users=12):
        history.setdefault(u, set()).add(i)
    for line in lines:
        assert len(line["results"]) == 4 and not {r["id"] for r in line["results"]} & history[line["query_id"]]
        for r in line["results"]:
            assert set(r["contributions"]) == {"text", "image", "audio", "collaborative"}
            assert sum(r["contributions"].values()) == pytest.approx(r["score"], abs=1e-4)

    (tmp_path / "users.txt").write_text("user_id\nu03\nnewcomer\n")
    out = cli("recommend", "--store", store.path, "--users", tmp_path / "users.txt", "--model", "itemknn", "-k", "3")
    assert "# u03 (itemknn)" in out.stdout and "# newcomer (itemknn)" in out.stdout
    assert "'newcomer' has no training interactions: cold start" in out.stderr and "popularity=" in out.stdout


def test_evaluate_recs_prints_a_json_table(sample):
    store, inter = sample
    out = cli("evaluate-recs", "--store", store.path, "--interactions", inter, "--split", "random", "-k", "5",
              "--model", "popularity", "--model", "content")
    result = json.loads(out.stdout)
    assert result["split"] == "random" and result["k"] == 5 and result["interactions"]["bad_rows"] == 2
    assert [r["model"] for r in result["results"]] == ["popularity", "content"]
    assert {"recall@5", "ndcg@5", "mrr", "coverage@5", "novelty@5", "cold_users"} <= set(result["results"][0])


def test_errors_are_one_clear_line(sample, tmp_path):
    store, inter = sample
    out = cli("recommend", "--store", store.path, "--user", "u00", "--model", "content", check=False)
    assert out.returncode == 1 and "no trained model 'content'" in out.stderr and "Traceback" not in out.stderr
    out = cli("train", "--store", store.path, "--interactions", tmp_path / "none.csv", check=False)
    assert out.returncode == 1 and "cannot read interactions" in out.stderr
    out = cli("train", "--store", store.path, "--interactions", inter, "--model", "als", check=False)
    assert out.returncode == 2 and "invalid choice: 'als'" in out.stderr
    out = cli("recommend", "--store", store.path, "--users", tmp_path / "nope.txt", check=False)
    assert out.returncode == 1 and "--users takes 'all' or a file" in out.stderr
