"""The command line end to end, in fresh processes, on the tiny catalog and a demo subset."""

import json
import subprocess
import sys

import pytest

from conftest import DEMO


def cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "mmrec_core", *map(str, args)], capture_output=True, text=True, timeout=900)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def store(tiny_catalog, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "store"
    out = cli("ingest", tiny_catalog, "--store", path)
    assert "8 items (text 8, image 3, audio 3)" in out.stdout
    assert "duplicate id" in out.stdout and "4 problem(s)" in out.stdout
    return path


def test_search_json_lines_and_batch_queries(store, tiny_catalog, tmp_path):
    queries = tmp_path / "queries.csv"
    queries.write_text(f"query_id,text,image,audio\nq1,a red ball,,\nq2,,{tiny_catalog}/img/blue-square.png,\n"
                       f"q3,,,{tiny_catalog}/snd/tone-high.wav\n")
    out = cli("search", "--store", store, "--queries", queries, "--weights", "text=0.5,image=0.5,audio=1", "-k", "2", "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2", "q3"]
    assert lines[0]["results"][0]["id"] == "red" and lines[1]["results"][0]["id"] == "blue"
    assert lines[2]["results"][0]["id"] == "green"
    for line in lines:
        for r in line["results"]:
            assert set(r["contributions"]) == {"text", "image", "audio"}
            assert sum(r["contributions"].values()) == pytest.approx(r["score"], abs=1e-5)


def test_alpha_and_fusion_flags_change_the_ranking(store):
    text = json.loads(cli("search", "--store", store, "--item", "red", "--alpha", "0", "-k", "7", "--json").stdout)
    image = json.loads(cli("search", "--store", store, "--item", "red", "--alpha", "1", "-k", "7", "--json").stdout)
    assert all(r["contributions"]["image"] == 0 for r in text["results"])
    assert [r["id"] for r in image["results"]][:2] in (["green", "blue"], ["blue", "green"])
    rrf = json.loads(cli("search", "--store", store, "--text", "ball", "--fusion", "rrf", "--json").stdout)
    assert all(r["score"] < 0.05 for r in rrf["results"])


def test_evaluate_prints_metrics(store, tmp_path):
    (tmp_path / "q.csv").write_text("query_id,text\nq1,a red ball\nq2,a blue box\n")
    (tmp_path / "qrels.csv").write_text("query_id,item_id,relevance\nq1,red,1\nq2,blue,1\n")
    out = cli("evaluate", "--store", store, "--queries", tmp_path / "q.csv", "--qrels", tmp_path / "qrels.csv", "-k", "5")
    result = json.loads(out.stdout)
    assert result["recall@5"] == 1.0 and result["n_queries"] == 2 and 0 < result["mrr"] <= 1


def test_errors_are_one_clear_line(store, tmp_path):
    out = cli("search", "--store", tmp_path / "nowhere", "--text", "x", check=False)
    assert out.returncode == 1 and "not an mmrec store" in out.stderr and "Traceback" not in out.stderr
    out = cli("search", "--store", store, "--weights", "txt=1", "--text", "x", check=False)
    assert out.returncode == 1 and "bad weight 'txt=1'" in out.stderr
    out = cli("ingest", tmp_path / "nope", "--store", tmp_path / "s", check=False)
    assert out.returncode == 1 and "does not exist" in out.stderr
    out = cli("search", "--store", store, "--item", "no-such-item", check=False)
    assert out.returncode == 1 and "no item with id 'no-such-item'" in out.stderr


def test_demo_ingests_from_its_shipped_embeddings(tmp_path):
    """The demo catalog ingests without running a model (all vectors come from the seed)."""
    out = cli("ingest", DEMO, "--store", tmp_path / "demo", "--json")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["items"] == 950 and summary["counts"]["audio"] == 134
    assert sum(summary["encoded"].values()) == 0
