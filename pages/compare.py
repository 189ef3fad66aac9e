"""Compare & evaluate: fusion strategies side by side on the current query; Recall/NDCG against alpha; fit the weights."""

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from mmrec_core.errors import MMRecError
from mmrec_core.insight import (agreement, alpha_sweep, encode_queries, fit, load_qrels, load_queries, matrix_figure,
                                parse_metric, prepare, sweep_figure, title)
from mmrec_core.retrieval import list_strategies, rank
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

state.routed()

eng = ui.require_engine()
store, ss, view = eng.store, ui.ss, ui.ss.view
ss.setdefault("sweeps", {})  # (store, version, files, strategy, k, audio) -> metric rows
ss.setdefault("eval_cands", {})  # (store, version, queries) -> candidates per query id (one entry kept)
ss.setdefault("fits", {})  # (store, version, files, metric, strategies) -> list of insight.Fit

st.title("Compare & evaluate")
tab_cmp, tab_sweep, tab_fit = st.tabs(["Strategies side by side", "Alpha sweep", "Fit the weights"])

with tab_cmp:
    cands = ui.search_candidates(eng, ui.current_query())
    names = st.multiselect("Strategies", list(list_strategies()), default=list(list_strategies()), key="cmp_strategies")
    if cands is not None and names:
        orders, failed = {}, []
        for s in names:
            try:
                orders[s] = rank(cands, view.weights, strategy=s, k=len(cands.rows)).rows.tolist()
            except MMRecError as exc:
                failed.append(f"{s}: {exc}")
        for msg in failed:
            st.warning(msg)
        st.caption(f"Top {view.k} for the Search page's query under the sidebar weights, one column per strategy.")
        table = pd.DataFrame({s: [title(store, r) for r in o[: view.k]] + [""] * (view.k - len(o[: view.k]))
                              for s, o in orders.items()}, index=pd.RangeIndex(1, view.k + 1, name="rank"))
        st.dataframe(table, height=35 * (view.k + 1) + 3)
        if len(orders) > 1:
            jac, tau = agreement(orders, view.k)
            left, right = st.columns(2)
            left.plotly_chart(matrix_figure(list(orders), jac, title=f"Jaccard@{view.k} (shared items)", zmin=0),
                              key="cmp-jac")
            right.plotly_chart(matrix_figure(list(orders), tau, title="Kendall tau (order of the union of top-K)"),
                               key="cmp-tau")


def read_csv_inputs(tab: str) -> tuple[list, dict, str] | None:
    """Queries and qrels: uploaded, else queries.csv/qrels.csv next to the store's catalog; None (shown why) if neither."""
    try:
        return _csv_inputs(tab)
    except MMRecError as exc:
        st.error(str(exc))
        return None


def _csv_inputs(tab: str) -> tuple[list, dict, str] | None:
    up_q = st.file_uploader("queries.csv (query_id,text,image,audio,video)", type=["csv"], key=f"{tab}_q")
    up_r = st.file_uploader("qrels.csv (query_id,item_id,relevance)", type=["csv"], key=f"{tab}_r")
    if up_q is not None and up_r is not None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "queries.csv").write_bytes(up_q.getvalue())
            (Path(tmp) / "qrels.csv").write_bytes(up_r.getvalue())
            queries, qrels = load_queries(Path(tmp) / "queries.csv"), load_qrels(Path(tmp) / "qrels.csv")
        return queries, qrels, hashlib.sha1(up_q.getvalue() + b"\0" + up_r.getvalue()).hexdigest()
    src = Path(store.manifest.get("source") or "")
    if store.manifest.get("source") and (src / "queries.csv").is_file() and (src / "qrels.csv").is_file():
        st.caption(f"Using queries.csv and qrels.csv from the store's catalog folder ({src.name}); upload both to use others.")
        return load_queries(src / "queries.csv"), load_qrels(src / "qrels.csv"), f"source:{src}"
    st.info("This store's catalog has no queries.csv and qrels.csv; upload both to evaluate it.")
    return None


def eval_candidates(queries: list, files: str) -> tuple:
    """Encode the evaluation queries once per store version and file pair; returns the key of ss.eval_cands."""
    ckey = (str(store.path), store.version, files)
    if ckey not in ss.eval_cands:
        with st.spinner(f"Encoding {len(queries)} queries (once)…", show_time=True):
            ss.eval_cands = {ckey: encode_queries(eng, queries)}
    return ckey


with tab_sweep:
    st.caption(f"Recall and NDCG of the {view.strategy} strategy against alpha (text weight 1 − alpha, image weight "
               f"alpha, audio {view.weights.audio:.2f}), K = {view.k}. Queries are encoded once, then only re-ranked.")
    inputs = read_csv_inputs("sweep")
    if inputs is not None:
        queries, qrels, files = inputs
        key = (str(store.path), store.version, files, view.strategy, view.k, round(view.weights.audio, 2))
        if key not in ss.sweeps and st.button(f"Run the sweep ({len(queries)} queries × 11 alphas)", type="primary"):
            try:
                ckey = eval_candidates(queries, files)
                with st.spinner("Ranking under each alpha…", show_time=True):
                    ss.sweeps[key] = alpha_sweep(eng, queries, qrels, np.linspace(0, 1, 11), strategy=view.strategy,
                                                 k=view.k, audio=view.weights.audio, candidates=ss.eval_cands[ckey])
                st.rerun()  # redraw without the button
            except MMRecError as exc:
                st.error(str(exc))
        rows = ss.sweeps.get(key)
        if rows:
            metrics = [m for m in dict.fromkeys(("recall@1", f"recall@{view.k}", f"ndcg@{view.k}", "mrr")) if m in rows[0]]
            st.plotly_chart(sweep_figure(rows, metrics, current=view.alpha), key="sweep-fig")
            best = max(rows, key=lambda r: r[f"ndcg@{view.k}"])
            st.caption(f"Best NDCG@{view.k}: {best[f'ndcg@{view.k}']:.3f} at alpha {best['alpha']:.1f} "
                       f"({int(rows[0]['n_queries'])} judged queries).")
            frame = pd.DataFrame(rows).round(4)
            st.dataframe(frame, hide_index=True, height=35 * (len(frame) + 1) + 3)
            st.download_button("Download the sweep (CSV)", frame.to_csv(index=False).encode(),
                               file_name="mmrec-alpha-sweep.csv", mime="text/csv", on_click="ignore")


with tab_fit:
    st.caption("Find the weights that maximise a metric on judged queries, cross-validated over query folds: each "
               "query is scored with weights fitted on the other folds (held out). Queries are encoded once; every "
               "setting only re-ranks. Attention keeps its default temperature here (the CLI `tune` fits it too).")
    inputs = read_csv_inputs("fit")
    if inputs is not None:
        queries, qrels, files = inputs
        left, right = st.columns(2)
        fixed = [s for s in list_strategies() if s != "learned"]  # learned fusion trains its own parameters: CLI `tune`
        chosen = left.multiselect("Strategies", fixed, default=["weighted"], key="fit_strategies")
        metric = right.selectbox("Metric", [f"ndcg@{view.k}", f"recall@{view.k}", "mrr", f"precision@{view.k}"], key="fit_metric")
        key = (str(store.path), store.version, files, metric, tuple(chosen))
        if chosen and key not in ss.fits and st.button(f"Fit the weights ({len(queries)} queries, up to 5 folds)", type="primary"):
            try:
                ckey = eval_candidates(queries, files)
                judged = prepare(store.ids, ss.eval_cands[ckey], qrels, k=parse_metric(metric)[1])
                with stores.heavy("Fitting the weights"):
                    bar = st.progress(0.0, text="Fitting…")
                    done = []
                    for i, name in enumerate(chosen):
                        progress = lambda stage, d, t, i=i: bar.progress((i + d / t) / len(chosen), text=f"Fitting {stage}: fold {d}/{t - 1}")
                        done.append(fit(judged, strategy=name, metric=metric, folds=min(5, len(judged)),
                                        tune_temperature=False, progress=progress))
                ss.fits[key] = done
                st.rerun()
            except MMRecError as exc:
                st.error(str(exc))
        for f in ss.fits.get(key, []):
            single = max(f.per_modality, key=f.per_modality.get)
            cols = st.columns([2, 3, 2, 2, 2, 2])
            cols[0].markdown(f"**{f.strategy}**")
            cols[1].caption("weights " + ", ".join(f"{m} {w:.2f}" for m, w in f.weights.as_dict().items()))
            cols[2].metric(f"held out {f.metric}", f"{f.heldout:.3f}", f"{f.heldout - f.default:+.3f} vs default")
            cols[3].metric("default weights", f"{f.default:.3f}")
            cols[4].metric(f"best single ({single})", f"{f.per_modality[single]:.3f}")
            cols[5].button("Apply", key=f"apply-{f.strategy}", type="primary", help="Use these weights and this strategy in the sidebar",
                           on_click=state.set_view, kwargs={"weights": f.weights, "strategy": f.strategy})
        if ss.fits.get(key):
            st.caption(f"In sample (fitted on all queries): " + ", ".join(f"{f.strategy} {f.insample:.3f}" for f in ss.fits[key])
                       + f" · {sum(f.settings for f in ss.fits[key])} settings scored in {sum(f.seconds for f in ss.fits[key]):.1f} s.")
