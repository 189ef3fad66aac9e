"""The demo's top-10 ids and scores per query, through the `mmrec search` command line, for a golden file.

`python tests/helpers/demo_golden.py --write` rewrites tests/data/demo_top10.json.gz (do it only when the
shipped checkpoint or the demo changes on purpose); tests/test_demo_golden.py checks the library still gives it
(`--json OUT STORE`, in a fresh process). Both run the towers in f32 (MMREC_PRECISION=f32), which every CPU has:
where MiniLM runs in bf16 (a CPU with native bf16) a text query's scores move by up to 2e-3, and near ties swap.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
GOLDEN = ROOT / "tests" / "data" / "demo_top10.json.gz"
# (name, extra search arguments, how many of the demo's queries): every caption with the default weights,
# the first 100 under each other strategy and weight setting, and items with sounds as "more like this".
RUNS = [
    ("default", [], None),
    ("alpha0.3", ["--alpha", "0.3"], 100),
    ("late", ["--fusion", "late"], 100),
    ("max", ["--fusion", "max"], 100),
    ("attention", ["--fusion", "attention"], 100),
    ("learned", ["--fusion", "learned"], 100),
    ("rrf", ["--fusion", "rrf"], 100),
]
ITEM_RUNS = [
    ("items-weighted", ["--weights", "text=0.3,image=0.3,audio=0.4"]),
    ("items-attention", ["--weights", "text=0.3,image=0.3,audio=0.4", "--fusion", "attention"]),
]


def _queries(folder: Path) -> tuple[Path, Path]:
    """The demo's caption queries, and one "more like this" query per item with a sound."""
    with open(DEMO / "queries.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(DEMO / "catalog.csv", newline="", encoding="utf-8") as f:
        sounding = [r["id"] for r in csv.DictReader(f) if r.get("audio")]
    text = folder / "queries.csv"
    with open(text, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query_id", "text"])
        w.writerows([r["query_id"], r["text"]] for r in rows)
    items = folder / "items.csv"
    with open(items, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query_id", "items"])
        w.writerows([f"item-{i}", i] for i in sounding)
    return text, items


def _search(store: Path, queries: Path, extra: list[str], limit: int | None) -> dict[str, list[list]]:
    """query_id -> [[id, score], ...] (top 10), from one in-process `mmrec search --queries ... --json`."""
    from mmrec_core.cli import main

    if limit is not None:
        lines = queries.read_text(encoding="utf-8").splitlines()[: limit + 1]
        queries = queries.with_name(f"{queries.stem}-{limit}.csv")
        queries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["search", "--store", str(store), "--queries", str(queries), "--json", "-k", "10", *extra])
    if code not in (0, None):
        raise SystemExit(f"mmrec search exited {code}")
    got = {}
    for line in out.getvalue().splitlines():
        row = json.loads(line)
        got[row["query_id"]] = [[h["id"], h["score"]] for h in row["results"]]
    return got


def compute(store: Path, folder: Path) -> dict[str, dict[str, list[list]]]:
    """run name -> query_id -> top 10 [[id, score], ...] on the demo store at `store`."""
    text, items = _queries(folder)
    runs = {name: _search(store, text, extra, limit) for name, extra, limit in RUNS}
    runs.update({name: _search(store, items, extra, None) for name, extra in ITEM_RUNS})
    return runs


if __name__ == "__main__":
    import os
    import tempfile

    os.environ["MMREC_PRECISION"] = "f32"  # before any tower loads (see the docstring)
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--json"] and len(sys.argv) == 4:
        with tempfile.TemporaryDirectory() as tmp:
            Path(sys.argv[2]).write_text(json.dumps(compute(Path(sys.argv[3]), Path(tmp))), encoding="utf-8")
        raise SystemExit(0)
    if "--write" not in sys.argv:
        raise SystemExit("usage: demo_golden.py --write [STORE]  (rewrites tests/data/demo_top10.json.gz)\n"
                         "       demo_golden.py --json OUT STORE  (the top 10s of STORE as JSON)")
    args = [a for a in sys.argv[1:] if a != "--write"]
    store = Path(args[0]) if args else ROOT / ".mmrec" / "stores" / "demo"
    with tempfile.TemporaryDirectory() as tmp:
        runs = compute(store, Path(tmp))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(GOLDEN, "wt", encoding="utf-8") as f:
        json.dump(runs, f, separators=(",", ":"), sort_keys=True)
    print(f"{GOLDEN}: {sum(len(v) for v in runs.values())} queries in {len(runs)} runs")
