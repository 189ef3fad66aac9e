"""Command line: ingest, add, remove, search, evaluate, tune, prepare, strategies. Models load once per process."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from mmrec_core.cli._admin import add_admin_commands
from mmrec_core.cli._common import progress_printer
from mmrec_core.cli._recs import add_commands
from mmrec_core.encoders import DEFAULT_ENCODER
from mmrec_core.errors import FusionError, MMRecError
from mmrec_core.retrieval import Weights, list_strategies


def _weights(args: argparse.Namespace) -> Weights:
    w = Weights.parse(args.weights) if args.weights else Weights()
    if args.alpha is not None:
        w = Weights.from_alpha(args.alpha, audio=w.audio)
    return w


def _engine(args: argparse.Namespace):
    """--engine local|ray [--ray-address ADDRESS]: where ingest's decoding and encoding run."""
    from mmrec_core.ingest import get_engine

    if args.engine != "ray":
        if args.ray_address:
            raise MMRecError(f"--ray-address needs --engine ray (got --engine {args.engine})")
        return get_engine(args.engine)
    return get_engine("ray", address=args.ray_address)


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="where decoding and encoding run: local (this process, default) or ray (Ray Data, "
                   "pip install 'mmrec[scale]')")
    p.add_argument("--ray-address", help="a Ray cluster to join (HOST:PORT, ray://HOST:10001, auto); default: a local Ray")


def cmd_ingest(args: argparse.Namespace) -> int:
    from mmrec_core.ingest import catalog_of_store, ingest
    from mmrec_core.retrieval import backend_of, describe
    from mmrec_core.store import open_store

    if args.index is not None:
        from mmrec_core.retrieval import check_backend

        check_backend(args.index, store_name=Path(args.store).name)  # a bad --index fails before any encoding
    src = Path(args.src)
    if (src / "CURRENT").is_file():  # a store: re-encode its items (e.g. with another encoder)
        src = catalog_of_store(open_store(src))
    report = ingest(src, args.store, encoder=args.encoder, progress=progress_printer(), index=args.index,
                    engine=_engine(args))
    if report.warning:
        print(f"warning: {report.warning}", file=sys.stderr)
    if args.read_only:
        from mmrec_core.store import set_read_only

        set_read_only(args.store, True, note="mmrec ingest --read-only")
    summary = report.summary()
    summary["problem_list"] = [p.__dict__ for p in report.problems]
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"store {summary['store']} {summary['version']}: {summary['items']} items "
          f"(text {summary['counts']['text']}, image {summary['counts']['image']}, audio {summary['counts']['audio']}"
          + (f", video {summary['counts']['video']}" if summary["counts"].get("video") else "") + "); "
          f"encoded {sum(summary['encoded'].values())}, from cache {sum(summary['cached'].values())}, "
          f"{summary['seconds']} s, encoder {summary['encoder']}, index {describe(backend_of(report.store.manifest))}")
    if report.problems:
        print(f"{len(report.problems)} problem(s):")
        for p in report.problems:
            print(f"  {p.item_id}\t{p.modality}\t{p.reason}")
    return 0


def _print_change(summary: dict, change: dict) -> None:
    what = ", ".join(f"{change[k]} {k}" for k in ("added", "replaced", "removed") if change.get(k)) or "nothing changed"
    print(f"store {summary['store']} {summary['version']}: {what}; {summary['items']} items now"
          + (" (compacted: removed rows dropped, indexes rebuilt)" if change.get("compacted") else ""))
    for m, note in change.get("index", {}).items():
        print(f"  index {m}: {note}")


def cmd_add(args: argparse.Namespace) -> int:
    from mmrec_core.ingest import add

    report = add(args.src, args.store, progress=progress_printer(), engine=_engine(args), force=args.force)
    summary = report.summary()
    summary["problem_list"] = [p.__dict__ for p in report.problems]
    if args.json:
        print(json.dumps(summary))
        return 0
    _print_change(summary, summary["change"])
    print(f"encoded {sum(summary['encoded'].values())}, from cache {sum(summary['cached'].values())}, "
          f"{summary['seconds']} s")
    for p in report.problems:
        print(f"  {p.item_id}\t{p.modality}\t{p.reason}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from mmrec_core.errors import StoreError
    from mmrec_core.store import remove_items

    ids = [i for i in (args.ids or "").split(",") if i.strip()]
    if args.ids_file:
        try:
            ids += [line.strip() for line in Path(args.ids_file).read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read --ids-file {args.ids_file}: {exc}") from None
    store, change = remove_items(args.store, ids, force=args.force)
    summary = {"store": str(store.path), "version": store.version, "items": store.n_items, "change": change.to_json()}
    if args.json:
        print(json.dumps(summary))
    else:
        _print_change(summary, summary["change"])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from mmrec_core.catalog.video import clock
    from mmrec_core.insight import load_queries
    from mmrec_core.query import Engine, Query
    from mmrec_core.store import open_store

    engine = Engine(open_store(args.store))
    weights = _weights(args)
    if args.queries:
        queries = [(q.query_id, q.query) for q in load_queries(args.queries)]
    else:
        q = Query(text=args.text or "", image=Path(args.image) if args.image else None,
                  audio=Path(args.audio) if args.audio else None, items=tuple(args.item or ()),
                  video=Path(args.video) if args.video else None)
        queries = [("query", q)]
    params = _params(args)
    for qid, query in queries:
        hits = engine.search(query, weights, strategy=args.fusion, k=args.k, **params)
        if args.json:
            print(json.dumps({"query_id": qid, "results": [h.to_json() for h in hits]}))
            continue
        print(f"# {qid} ({args.fusion}, { {m: round(w, 4) for m, w in weights.as_dict().items()} })")
        for rank_, h in enumerate(hits, 1):
            parts = " ".join(f"{m}={v:+.3f}" for m, v in h.contributions.items() if v)
            frame = f"  frame {clock(h.frame.time)}" if h.frame else ""
            print(f"{rank_:>3}. {h.score:.4f}  {h.id}  {h.item.get('title', '')!s:.40}  [{parts}]{frame}")
    return 0


def _params(args: argparse.Namespace) -> dict[str, float]:
    """Strategy parameters: --temperature for attention, --params NAME=VALUE,... for any strategy."""
    params = {"temperature": args.temperature} if args.fusion == "attention" and getattr(args, "temperature", None) else {}
    for part in filter(None, (p.strip() for p in (args.params or "").split(","))):
        name, sep, raw = part.partition("=")
        try:
            params[name.strip()] = float(raw)
        except ValueError:
            raise FusionError(f"--params {part!r}: expected NAME=NUMBER") from None
        if not sep:
            raise FusionError(f"--params {part!r}: expected NAME=NUMBER")
    return params


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmrec_core.insight import evaluate, load_qrels, load_queries
    from mmrec_core.query import Engine
    from mmrec_core.store import open_store

    engine = Engine(open_store(args.store))
    result = evaluate(engine, load_queries(args.queries), load_qrels(args.qrels), _weights(args),
                      strategy=args.fusion, k=args.k, **_params(args))
    print(json.dumps({"fusion": args.fusion, "weights": _weights(args).as_dict(),
                      **{k: round(v, 6) for k, v in result.items()}}))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from mmrec_core.insight import encode_queries, fit, fit_learned, load_qrels, load_queries, parse_metric, prepare
    from mmrec_core.query import Engine
    from mmrec_core.store import open_store

    _, k = parse_metric(args.metric)  # a bad metric fails before any encoding
    engine = Engine(open_store(args.store))
    cands = encode_queries(engine, load_queries(args.queries), progress=None if args.json else progress_printer())
    judged = prepare(engine.store.ids, cands, load_qrels(args.qrels), k=k)
    names = sorted(list_strategies()) if args.fusion == "all" else [args.fusion]
    learned = fit_learned(judged, metric=args.metric, folds=args.folds, seed=args.seed) if "learned" in names else None
    fits = [fit(judged, strategy=name, metric=args.metric, folds=args.folds, seed=args.seed) for name in names if name != "learned"]
    if args.json:
        out = [f.to_json() for f in fits] + ([learned.to_json()] if learned else [])
        print(json.dumps(out[0] if len(out) == 1 else out))
        return 0
    if not fits:
        params = ",".join(f"{n}={v:.4g}" for n, v in learned.params.items())
        print(f"learned: held out {learned.metric} {learned.heldout:.4f} (in sample {learned.insample:.4f}, "
              f"default parameters {learned.default:.4f}); --fusion learned --params {params}")
        return 0
    print(f"{len(judged)} judged queries, {args.folds}-fold cross-validation, metric {fits[0].metric} (held out unless noted)")
    print(f"{'fusion':10} {'fitted':>8} {'in-sample':>9} {'default':>8}  best single      weights")
    for f in fits:
        single = max(f.per_modality, key=f.per_modality.get)
        weights = ",".join(f"{m}={v:g}" for m, v in f.weights.as_dict().items())
        temp = f" --temperature {f.temperature:g}" if f.temperature is not None else ""
        print(f"{f.strategy:10} {f.heldout:8.4f} {f.insample:9.4f} {f.default:8.4f}  {single:6} {f.per_modality[single]:.4f}  "
              f"--fusion {f.strategy} --weights {weights}{temp}  ({f.settings} settings, {f.seconds:.1f} s)")
    if learned is not None:
        best = max(fits, key=lambda f: f.heldout)
        verdict = "beats" if learned.heldout > best.heldout else "does not beat"
        params = ",".join(f"{n}={v:.4g}" for n, v in learned.params.items())
        print(f"{'learned':10} {learned.heldout:8.4f} {learned.insample:9.4f} {learned.default:8.4f}  "
              f"--fusion learned --params {params}  ({learned.seconds:.1f} s): {verdict} the best fixed strategy "
              f"held out ({best.strategy} {best.heldout:.4f})")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from mmrec_core.encoders import runtime_name, warm_up

    print(f"encoder {args.encoder}, runtime {runtime_name()}: loading every tower (converting it on first use)")
    for modality, seconds in warm_up(args.encoder).items():
        print(f"  {modality}: {seconds:.1f} s")
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    for name, desc in list_strategies().items():
        print(f"{name:10} {desc}")
    return 0


def _fusion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, help="store folder (made by ingest)")
    p.add_argument("--weights", help="per-modality weights, e.g. text=0.3,image=0.7,audio=0")
    p.add_argument("--alpha", type=float, help="text<->image balance: text=1-A, image=A")
    p.add_argument("--fusion", default="weighted", choices=sorted(list_strategies()), help="fusion strategy")
    p.add_argument("-k", type=int, default=10, help="results per query")
    p.add_argument("--params", help="strategy parameters NAME=VALUE,... (e.g. what `tune --fusion learned` prints)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmrec_core", description="mmrec: multimodal fusion search")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="read a catalog (folder, catalog.csv or .zip, or a store to re-encode) into a store")
    p.add_argument("src")
    p.add_argument("--store", required=True)
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help=f"{DEFAULT_ENCODER} (offline default), bridge, or openclip:ARCH/TAG_OR_FILE")
    p.add_argument("--index", help="index backend: faiss (default for a new store), milvus (Milvus Lite inside the "
                   "store) or milvus://HOST:PORT[/COLLECTION] (a Milvus server); default: the store's own")
    _engine_args(p)
    p.add_argument("--read-only", action="store_true", help="mark the new store read-only (add and remove refuse)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("add", help="add a catalog's items to a store in place (an id it holds is replaced)")
    p.add_argument("src", help="catalog folder, catalog.csv or .zip")
    p.add_argument("--store", required=True)
    _engine_args(p)
    p.add_argument("--force", action="store_true", help="add even to a read-only store (its owner)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_add)
    p = sub.add_parser("remove", help="remove items from a store in place")
    p.add_argument("--store", required=True)
    p.add_argument("--ids", help="comma-separated item ids")
    p.add_argument("--ids-file", help="a file with one item id per line")
    p.add_argument("--force", action="store_true", help="remove even from a read-only store (its owner)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("search", help="top-K items for a query")
    _fusion_args(p)
    p.add_argument("--text")
    p.add_argument("--image")
    p.add_argument("--audio")
    p.add_argument("--video", help="a clip: its frames query the images, its soundtrack the audio")
    p.add_argument("--item", action="append", help="'more like this' seed item id (repeatable)")
    p.add_argument("--queries", help="CSV with query_id,text,image,audio,video")
    p.add_argument("--temperature", type=float, help="attention temperature")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("evaluate", help="Recall@1/5/10, NDCG@10, MRR for queries + qrels")
    _fusion_args(p)
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("tune", help="fit the fusion weights to queries + qrels, cross-validated over query folds")
    p.add_argument("--store", required=True, help="store folder (made by ingest)")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--fusion", default="weighted", choices=["all", *sorted(list_strategies())],
                   help="strategy to fit, or all")
    p.add_argument("--metric", default="ndcg@10", help="ndcg@K, recall@K, precision@K or mrr")
    p.add_argument("--folds", type=int, default=5, help="query folds for the held-out score")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold split")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tune)
    p = sub.add_parser("prepare", help="load an encoder's towers now, converting them for the runtime on first use")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help=f"encoder spec (default {DEFAULT_ENCODER})")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("strategies", help="list the fusion strategies")
    p.set_defaults(func=cmd_strategies)
    add_commands(sub)
    add_admin_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "search" and not (args.text or args.image or args.audio or args.video or args.item or args.queries):
        print("error: give --text, --image, --audio, --video, --item or --queries", file=sys.stderr)
        return 2
    if args.command == "remove" and not (args.ids or args.ids_file):
        print("error: give --ids ID[,ID...] or --ids-file FILE", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except MMRecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
