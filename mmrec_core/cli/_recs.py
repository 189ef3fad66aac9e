"""Command line for recommendations: train, evaluate-recs, recommend (models load once per process)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmrec_core.cli._common import progress_printer
from mmrec_core.retrieval import Weights


def _configs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Options given on the command line, per model (a blend passes them on to its models)."""
    hybrid: dict[str, Any] = {"seed": args.seed}
    if args.epochs is not None:
        hybrid["epochs"] = args.epochs
    if args.content_reg is not None:
        hybrid["content_reg"] = args.content_reg
    per: dict[str, dict[str, Any]] = {"hybrid": hybrid}
    if args.weights:
        w = Weights.parse(args.weights).as_dict()
        per["hybrid"]["weights"] = w
        per["content"] = {"weights": w}
    return {**per, "blend": {"configs": per}}


def _load(args: argparse.Namespace):
    from mmrec_core.recs import load_interactions
    from mmrec_core.store import open_store

    store = open_store(args.store)
    report = load_interactions(args.interactions, store.ids, min_rating=args.min_rating)
    for bad in report.bad_rows[:10]:
        print(f"skipped line {bad.line}: {bad.reason}", file=sys.stderr)
    if len(report.bad_rows) > 10:
        print(f"... {len(report.bad_rows) - 10} more bad row(s) skipped", file=sys.stderr)
    return store, report


def cmd_train(args: argparse.Namespace) -> int:
    from mmrec_core.recs import RecEngine

    store, report = _load(args)
    engine = RecEngine.fit(store, report.interactions, args.model or ["hybrid"], configs=_configs(args),
                           progress=progress_printer())
    for name, path in zip(engine.models, engine.save()):
        print(json.dumps({"model": name, "saved": str(path), "seconds": engine.trained[name].meta["seconds"],
                          **report.summary()}))
    return 0


def cmd_evaluate_recs(args: argparse.Namespace) -> int:
    from mmrec_core.recs import evaluate_models, split_interactions, table

    store, report = _load(args)
    split = split_interactions(report.interactions, how=args.split, holdout=args.holdout, seed=args.seed)
    models = args.model or ["popularity", "itemknn", "content", "hybrid"]
    rows = evaluate_models(store, split, models, k=args.k, configs=_configs(args), progress=progress_printer())
    print(json.dumps({"split": args.split, "holdout": args.holdout, "k": args.k, "seed": args.seed,
                      "interactions": report.summary(), "results": table(rows)}))
    return 0


def _user_ids(spec_user: str | None, spec_users: str | None, known: tuple[str, ...]) -> list[str]:
    from mmrec_core.errors import QueryError

    if spec_user is not None:
        return [spec_user]
    if spec_users == "all":
        return list(known)
    try:
        lines = [line.strip() for line in Path(spec_users or "").read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"--users takes 'all' or a file of user ids, one a line: {exc}") from None
    ids = [line.split(",")[0].strip() for line in lines if line]
    return ids[1:] if ids and ids[0] == "user_id" else ids


def cmd_recommend(args: argparse.Namespace) -> int:
    from mmrec_core.recs import RecEngine, parse_mix
    from mmrec_core.store import open_store

    store = open_store(args.store)
    engine = RecEngine.load(store, [args.model])
    weights = Weights.parse(args.weights) if args.weights else None
    mix = parse_mix(args.mix) if args.mix else None
    for uid in _user_ids(args.user, args.users, engine.users(args.model)):
        history = engine.history(uid, model=args.model)
        if not history.rows:
            print(f"user {uid!r} has no training interactions: cold start", file=sys.stderr)
        hits = engine.recommend(history, model=args.model, k=args.k, weights=weights, mix=mix)
        if args.json:
            print(json.dumps({"query_id": uid, "results": [h.to_json() for h in hits]}))
            continue
        print(f"# {uid} ({args.model})")
        for rank, h in enumerate(hits, 1):
            parts = " ".join(f"{p}={v:+.3f}" for p, v in h.contributions.items() if v)
            print(f"{rank:>3}. {h.score:.4f}  {h.id}  {h.item.get('title', '')!s:.40}  [{parts}]")
    return 0


def _common(p: argparse.ArgumentParser, *, interactions: bool = True) -> None:
    p.add_argument("--store", required=True, help="store folder (made by ingest)")
    if interactions:
        p.add_argument("--interactions", required=True, help="CSV with user_id,item_id[,rating][,timestamp]")
        p.add_argument("--min-rating", type=float, help="drop ratings below this (default: every row is a positive)")
        p.add_argument("--epochs", type=int, help="hybrid training epochs")
        p.add_argument("--content-reg", type=float, help="hybrid: L2 on the items' projected content (default 0)")
        p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", help="modality weights for content and hybrid, e.g. text=1,image=1,audio=0")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add train, evaluate-recs and recommend to the main parser's subcommands."""
    from mmrec_core.recs import DEFAULT_MODEL, list_models

    names = sorted(list_models())
    p = sub.add_parser("train", help="train recommendation model(s) on interactions; saved under STORE/models/NAME/")
    _common(p)
    p.add_argument("--model", action="append", choices=names, help=f"model to train (repeatable; default {DEFAULT_MODEL})")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate-recs", help="split interactions per user, fit each model, print a JSON table of metrics")
    _common(p)
    p.add_argument("--split", default="temporal", choices=["temporal", "random"])
    p.add_argument("--holdout", type=int, default=1, help="interactions held out per user")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--model", action="append", choices=names, help="model to evaluate (repeatable; default all but blend)")
    p.set_defaults(func=cmd_evaluate_recs)
    p = sub.add_parser("recommend", help="top-K for users of a trained model, excluding what they interacted with")
    _common(p, interactions=False)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="one user id")
    who.add_argument("--users", help="'all' (every training user) or a file of user ids, one a line")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=names)
    p.add_argument("--mix", help="blend weights per model, e.g. hybrid=0.6,itemknn=0.4")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)
