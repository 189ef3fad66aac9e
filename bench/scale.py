"""A store of N synthetic items at the default encoder's dimensions: size, memory, speed and honest recall.

For each N: generate N items (bench/embedshape.py: vectors shaped like real text/image/audio
embeddings, or --shape clustered for plain Gaussian clusters) block by block into temporary
float16 files, write them through the library's store writer (build_s), then in a FRESH process
open the store and answer queries (serve_rss_gb: its resident memory, no encoder loaded;
new_query_ms: candidates + exact rescoring + fusion; reweight_ms: re-ranking the kept candidates
under new weights), compare each query's top-10 with the exact fused ranking over every item
(recall_at_10 per query kind), then add 1,000 items and remove 1,000 (add_1k_s, remove_1k_s;
encoding excluded). With --store, the store stays on disk for the CLI and the app, and the CLI's
peak memory answering a text query (encoders included) is measured with /usr/bin/time -v.

Usage: python bench/scale.py 100000 [1000000] [--store DIR] [--json] [--shape real|clustered]
One JSON line per N. MMREC_ROOT=/path/to/another/checkout runs another version of the library.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("MMREC_ROOT") or HERE.parent)
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(HERE))

KINDS = {"text->image": (0.0, 1.0), "text->text+image": (0.5, 0.5), "image->image": (0.0, 1.0)}
BLOCK = 25_000  # rows generated at a time (bench/embedshape.py peaks near 0.6 GB at this size)


def generator(shape: str):
    import embedshape

    if shape == "clustered":
        return embedshape.clustered, embedshape.clustered_text_queries, None
    s = embedshape.Shape.load()
    return s.items, s.text_queries, s.image_queries


class Records:
    """N synthetic item records, made on demand (a million dicts never sit in memory)."""

    def __init__(self, n: int, start: int = 0, prefix: str = "s") -> None:
        self.n, self.start, self.prefix = n, start, prefix

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        r = self.start + int(i)
        return {"id": f"{self.prefix}{r}", "title": f"Synthetic item {r}", "description": "",
                "tags": [f"group{r % 500}"], "image": None, "audio": None, "video": None, "metadata": {}}

    def __iter__(self):
        return (self[i] for i in range(self.n))


def generate(n: int, folder: Path, items_fn, *, start: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows [start, start+n) into float16 .npy files under folder, block by block; returns them memory-mapped."""
    out = {}
    first = items_fn(start, start + 1, seed=seed)
    for m, v in first.items():
        out[m] = np.lib.format.open_memmap(folder / f"{m}.npy", mode="w+", dtype=np.float16, shape=(n, v.shape[1]))
    for lo in range(0, n, BLOCK):
        block = items_fn(start + lo, start + min(n, lo + BLOCK), seed=seed)
        for m in out:
            out[m][lo:lo + len(block[m])] = block[m]
    for m in out:
        out[m].flush()
    return {m: np.load(folder / f"{m}.npy", mmap_mode="r") for m in out}


def build(n: int, path: Path, shape: str) -> dict:
    from mmrec_core.encoders.librosa_audio import FEATURE_NAMES, AudioScaler
    from mmrec_core.store import write_store

    items_fn, _, _ = generator(shape)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        t0 = time.perf_counter()
        emb = generate(n, Path(tmp), items_fn)
        gen_s = time.perf_counter() - t0
        if os.environ.get("MMREC_ROOT"):  # an older library may want float32 arrays in memory
            emb = {m: np.asarray(e, np.float32) for m, e in emb.items()}
        k = len(FEATURE_NAMES)
        t0 = time.perf_counter()
        write_store(path, items=Records(n), embeddings=emb, scaler=AudioScaler(np.zeros(k, np.float32), np.ones(k, np.float32)),
                    encoder={"name": "aligned+aisfx", "spec": "aligned+aisfx"})
        return {"generate_s": round(gen_s, 1), "build_s": round(time.perf_counter() - t0, 1)}


def queries(n: int, shape: str, count: int) -> dict[str, np.ndarray]:
    _, text_q, image_q = generator(shape)
    tq, _ = text_q(n, count, seed=1)
    iq = image_q(n, count, seed=2)[0] if image_q else tq
    return {"text->image": tq, "text->text+image": tq, "image->image": iq}


def serve(path: Path, qfile: Path) -> dict:
    """In this fresh process: open, query, time; exact top-10 come from the parent (no ANN involved)."""
    from mmrec_core.retrieval import Weights
    from mmrec_core.retrieval import QueryVectors, rank
    from mmrec_core.store import open_store

    qs = np.load(qfile)
    store = open_store(path)
    times, reweights, tops = {}, [], {}
    for kind, (wt, wi) in KINDS.items():
        q = qs[kind.replace("->", "_").replace("+", "_")]
        got, ms = [], []
        for v in q:
            t0 = time.perf_counter()
            qv = QueryVectors(text=v, image=v)
            cands = store.retriever.candidates(qv)
            r = rank(cands, Weights(wt, wi, 0.0), k=10)
            ms.append((time.perf_counter() - t0) * 1000)
            got.append(r.rows.tolist())
            t0 = time.perf_counter()
            rank(cands, Weights(0.3, 0.7, 0.0), k=10)
            reweights.append((time.perf_counter() - t0) * 1000)
        times[kind] = ms
        tops[kind] = got
    status = Path("/proc/self/status").read_text()
    rss = {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) / 2**20 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    first = [ms[0] for ms in times.values()]
    all_ms = [x for ms in times.values() for x in ms[1:]]
    # VmRSS counts the pages of the memory-mapped vectors this process touched (page cache, shared and
    # reclaimable) besides its own memory (RssAnon: indexes, ids, arrays); both are printed
    return {"serve_rss_gb": round(rss["VmRSS"], 3), "serve_anon_gb": round(rss["RssAnon"], 3),
            "serve_file_gb": round(rss["RssFile"], 3), "serve_peak_gb": round(rss["VmHWM"], 3),
            "new_query_ms": round(float(np.median(all_ms)), 2), "new_query_p90_ms": round(float(np.percentile(all_ms, 90)), 2),
            "first_query_ms": round(float(first[0]), 1), "reweight_ms": round(float(np.median(reweights)), 3),
            "tops": tops}


def exact_tops(path: Path, qs: dict[str, np.ndarray]) -> dict[str, list[list[int]]]:
    """Exact fused top-10 over every live row, scanning the stored vectors block by block."""
    from mmrec_core.store import open_store

    store = open_store(path)
    present = getattr(store, "present", None)
    if present is None:  # an older library: presence from the vectors' norms
        present = np.stack([np.concatenate([np.einsum("ij,ij->i", *(np.asarray(e[lo:lo + BLOCK], np.float32),) * 2) > 0.25
                                            for lo in range(0, e.shape[0], BLOCK)]) for e in
                            (store.embeddings[m] for m in ("text", "image", "audio"))], axis=1)
    best = {}
    for kind, (wt, wi) in KINDS.items():
        q = qs[kind].astype(np.float32)
        scores_all, rows_all = [], []
        for lo in range(0, present.shape[0], BLOCK):
            hi = min(present.shape[0], lo + BLOCK)
            s = np.zeros((len(q), hi - lo), np.float32)
            avail = np.zeros((hi - lo,), bool)
            for w, m, j in ((wt, "text", 0), (wi, "image", 1)):
                if w:
                    e = np.asarray(store.embeddings[m][lo:hi], np.float32)
                    s += w * (q @ e.T) * present[lo:hi, j]
                    avail |= present[lo:hi, j]
            s[:, ~avail] = -np.inf
            top = np.argpartition(-s, 10, axis=1)[:, :10]
            scores_all.append(np.take_along_axis(s, top, 1))
            rows_all.append(top + lo)
        s, r = np.concatenate(scores_all, 1), np.concatenate(rows_all, 1)
        order = np.argsort(-s, axis=1)[:, :10]
        best[kind] = np.take_along_axis(r, order, 1).tolist()
    return best


def grow(path: Path, n: int, shape: str) -> dict:
    from mmrec_core.store import Rows, add_items, open_store, remove_items

    items_fn, _, _ = generator(shape)
    new = items_fn(n, n + 1000, seed=0)  # more of the same catalog (rows past the last one)
    new = {m: new[m] for m in ("text", "image", "audio")}
    t0 = time.perf_counter()
    store, change = add_items(path, Rows(Records(1000, start=n, prefix="new"), new), encoder=open_store(path).manifest["encoder"])
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store, removed = remove_items(path, [f"s{i}" for i in range(0, 2000, 2)])
    return {"add_1k_s": round(add_s, 2), "remove_1k_s": round(time.perf_counter() - t0, 2),
            "add_index": dict(change.index), "remove_index": dict(removed.index)}


def cli_peak(path: Path) -> float | None:
    """Peak resident memory (GB) of `mmrec_core search --text` on the store, encoders included."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "mmrec_core", "search", "--store", str(path),
           "--text", "a red fire truck", "--alpha", "0.5", "-k", "10"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    return round(int(m.group(1)) / 2**20, 3) if m and out.returncode == 0 else None


def du_gb(path: Path) -> float:
    seen, total = set(), 0
    for p in path.rglob("*"):
        st = p.stat()
        if p.is_file() and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return round(total / 2**30, 3)


def run(n: int, args: argparse.Namespace) -> dict:
    root = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="mmrec-scale-"))
    path = root if args.store else root / "store"
    reuse = args.reuse and (path / "CURRENT").is_file()
    if path.exists() and not reuse:
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        out: dict = {"n": n, "shape": args.shape, **({} if reuse else build(n, path, args.shape)), "store_gb": du_gb(path)}
        qs = queries(n, args.shape, args.queries)
        qfile = path.parent / f".queries-{os.getpid()}.npz"
        np.savez(qfile, **{k.replace("->", "_").replace("+", "_"): v for k, v in qs.items()})
        res = subprocess.run([sys.executable, __file__, "--serve", str(path), str(qfile)], capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(res.stderr[-3000:])
        served = json.loads(res.stdout.strip().splitlines()[-1])
        qfile.unlink()
        exact = exact_tops(path, qs)
        out["recall_at_10"] = {k: round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(served["tops"][k], exact[k])])), 4)
                               for k in KINDS}
        del served["tops"]
        out.update(served)
        if not os.environ.get("MMREC_ROOT") and not reuse:
            out.update(grow(path, n, args.shape))
            out["store_gb_after_grow"] = du_gb(path)
        if args.store:
            out["cli_peak_gb"] = cli_peak(path)
        return out
    finally:
        if not args.store:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        print(json.dumps(serve(Path(sys.argv[2]), Path(sys.argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="+", type=int)
    p.add_argument("--store", help="leave the (last) store here, for the CLI and the app")
    p.add_argument("--shape", default="real", choices=["real", "clustered"])
    p.add_argument("--queries", type=int, default=100, help="queries per kind")
    p.add_argument("--json", action="store_true", help="JSON lines only")
    p.add_argument("--reuse", action="store_true", help="with --store: query the store there instead of building it")
    args = p.parse_args()
    for n in args.sizes:
        row = run(n, args)
        print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
