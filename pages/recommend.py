"""Recommendations: models that learn from the open store's interactions; train, recommend, evaluate."""

import pandas as pd
import streamlit as st

from mmrec_core.errors import DatasetError, MMRecError
from mmrec_core.insight import title
from mmrec_core.recs import (ML100K_STORE, SPLITS, LoadReport, RecEngine, bad_rows_table, cold_start_explanation,
                             learned_weights, list_models, ml100k_dir, result_tables, score_explanation, trained_models)
from mmrec_core.session import md_escape
from pages import _cards as cards
from pages import _recs as recs
from pages import _access as access
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

state.routed()
recs.init_state()

eng = ui.require_engine()
store, ss = eng.store, ui.ss
name = ss.view.store
MODELS = list_models()

st.title("Recommendation models")
st.caption("Models that learn from interactions (who liked what) in the open store, next to the content of the items. "
           "A like here or on the Profile page changes the recommendations at once, without retraining.")


def upload_box() -> None:
    if not access.can_edit() or access.read_only(name):
        st.caption("Interactions are kept with a store by its editors (sign in from the sidebar)."
                   if not access.can_edit() else f"Store {md_escape(name)} is read-only: its interactions stay as they are.")
        return
    st.file_uploader("Upload interactions.csv for this store (columns user_id, item_id, optional rating, timestamp)",
                     type=["csv"], key="rec_inter", on_change=recs.upload_interactions, args=(store, "rec_inter"))
    last = ss.rec_upload.get(name)
    if last and last["error"]:
        st.error(f"{md_escape(last['name'])}: {md_escape(last['error'])}. Nothing was kept.")
    elif last:
        s = last["summary"]
        st.success(f"{md_escape(last['name'])}: {s['interactions']:,} interactions kept with the store, "
                   f"{s['bad_rows']} bad row(s) skipped, {s['duplicates']} repeat(s) merged.")
    if last and last["bad"]:
        st.caption("Skipped rows (the rest is kept):")
        st.dataframe(pd.DataFrame(last["bad"]), hide_index=True, height=min(38 + 35 * len(last["bad"]), 300))


def offer_interactions() -> None:
    """The store has no interactions: upload some, or build MovieLens 100K."""
    st.info(f"Store “{md_escape(name)}” has no interactions, so there is nothing to learn from yet (the built-in "
            "Tux Paint demo has none, and none are ever made up). Add real ones, or try a catalog that has them.")
    mine, movies = st.columns(2, border=True)
    with mine:
        st.markdown("**Your interactions**")
        upload_box()
    with movies:
        st.markdown("**MovieLens 100K**: 1,682 movies (title, year and genres as text) and 100,000 ratings by "
                    "943 users, built here from the files inside the installed `recbole` package into a new store "
                    f"“{ML100K_STORE}” (encoding the titles takes about a minute).")
        try:
            ml100k_dir()
            missing = None
        except DatasetError as exc:
            missing = str(exc)
            st.warning(missing)
        if ML100K_STORE in stores.store_names():
            st.button("Open MovieLens 100K", on_click=state.set_view, kwargs={"store": ML100K_STORE, "items": ()})
        elif not access.can_edit():
            st.caption("Building it is for editors (sign in from the sidebar).")
        elif st.button("Build MovieLens 100K", type="primary", key="rec_build_ml", disabled=missing is not None):
            recs.build_movielens()


def show_interactions(report: LoadReport) -> None:
    summary = report.summary()
    st.markdown(f"**{summary['interactions']:,} interactions** by {summary['users']:,} users on {summary['items']:,} "
                f"of {store.n_items:,} items"
                + (f" · {summary['bad_rows']:,} bad row(s) skipped" if summary["bad_rows"] else ""))
    with st.expander("Interactions: problems, replace", expanded=name in ss.rec_upload):
        if report.bad_rows:
            st.dataframe(pd.DataFrame(bad_rows_table(report)), hide_index=True, height=250)
        upload_box()


def train_tab(report: LoadReport) -> None:
    picked = recs.widget(st.multiselect, "Models to train", "train_models", list(MODELS),
                         help="\n".join(f"- **{n}**: {d}" for n, d in MODELS.items()))
    epochs = recs.widget(st.number_input, "Hybrid training epochs", "epochs", 1, 200, step=1)
    if not access.can_edit() or access.read_only(name):
        st.caption("Training saves models with the store: for editors (sign in from the sidebar)."
                   if not access.can_edit() else f"Store {md_escape(name)} is read-only: its models stay as they are.")
    elif st.button("Train", type="primary", key="rec_train", disabled=not picked):
        recs.train(store, report, picked, epochs=int(epochs))
    trained = trained_models(store)
    if trained:
        st.dataframe(pd.DataFrame([{"model": n, "trained (UTC)": m.get("trained"), "seconds": m.get("seconds"),
                                    "interactions": m.get("interactions"), "users": m.get("users"),
                                    "epochs": m.get("config", {}).get("epochs")} for n, m in trained.items()]),
                     hide_index=True)
    st.caption("Trained models are saved with the store and loaded again on the next visit; a blend reuses the "
               "models trained with it.")


def recommend_tab(rec: RecEngine | None) -> None:
    if rec is None:
        st.info("No model is trained on this store yet: pick models in the Train tab and press Train.")
        return
    recs.choose("model", rec.models, prefer=("blend", "hybrid"))
    left, mid, right = st.columns(3)
    model = recs.widget(left.selectbox, "Model", "model", rec.models, help=MODELS.get(ss.rec_state["model"]))
    who = recs.widget(mid.radio, "Recommend for", "who", list(recs.WHO), format_func=recs.WHO.get)
    users = rec.users(model)
    uid = None
    if who == "user":
        recs.choose("user", list(users))
        uid = recs.widget(right.selectbox, f"User ({len(users):,})", "user", users)
    mix = recs.mix_sliders(rec) if model == "blend" else None
    history, exclude = recs.history(rec, model, who, uid)
    learned = learned_weights(rec, model)
    use_learned = learned is not None and st.toggle(
        "Use the modality weights the model learned: " + ", ".join(f"{m} {w:.2f}" for m, w in learned.as_dict().items() if w),
        value=True, key="rec_learned_weights", help="Off: the sidebar's modality weights (no retraining)")
    try:
        hits = rec.recommend(history, model=model, k=ss.view.k, weights=None if use_learned else ss.view.weights,
                             mix=mix, exclude=exclude)
    except MMRecError as exc:
        st.error(str(exc))
        hits = []
    if history.is_empty:
        st.info(cold_start_explanation(model, who="You have" if uid is None else f"User {uid} has",
                                                 n_users=len(users)))
    else:
        latest = ", ".join(f"“{md_escape(title(store, r))}”" for r in history.rows[-3:][::-1])
        st.caption(f"From {len(history.rows)} liked item(s), newest {latest}"
                   + (f" and {len(history.uploads)} upload(s)" if history.uploads else "")
                   + ". Items already liked are not shown; K "
                   + ("comes from the sidebar, the modality weights from training." if use_learned
                      else "and modality weights come from the sidebar."))
    rater = cards.PROFILE if uid is None else recs.user_rater(uid)
    cards.results(store, hits, key=f"rec-{model}", rater=rater, why=score_explanation(model),
                  more_like_this_button=False)


def evaluate_tab(report: LoadReport) -> None:
    st.caption("Per user, the latest interaction (temporal) or a random one (seeded) is held out; every model is fit "
               "on the rest and ranks the whole catalog minus the user's training items.")
    c1, c2, c3, c4 = st.columns(4)
    split = recs.widget(c1.radio, "Split", "split", list(SPLITS), horizontal=True)
    k = recs.widget(c2.number_input, "K", "k", 1, 100, step=1)
    seed = recs.widget(c3.number_input, "Seed", "seed", 0, 2**31 - 1, step=1)
    cold = recs.widget(c4.slider, "Cold items", "cold", 0.0, 0.3, step=0.05,
                       help="Share of the items withdrawn from training altogether: only content can reach them.")
    models = recs.widget(st.multiselect, "Models to evaluate", "eval_models", list(MODELS))
    if st.button("Evaluate", type="primary", key="rec_evaluate", disabled=not models):
        recs.evaluate(store, report, {"models": models, "split": split, "k": int(k), "seed": int(seed),
                                      "cold": float(cold), "epochs": int(ss.rec_state["epochs"])})
    result = ss.rec_eval.get(name)
    if not result:
        return
    p = result["params"]
    main, cold_rows = result_tables(result["rows"])
    st.dataframe(pd.DataFrame(main), hide_index=True)
    st.caption(f"{p['split']} split, K={p['k']}, seed {p['seed']}, {p['cold']:.0%} of items withdrawn, "
               f"hybrid {p['epochs']} epochs. Novelty in bits (higher: less popular items).")
    if cold_rows:
        st.markdown("**Cold items**: the same metrics over the users whose held-out items no training interaction touches")
        st.dataframe(pd.DataFrame(cold_rows), hide_index=True)
    st.download_button("Download the table (CSV)", pd.DataFrame(result["rows"]).to_csv(index=False).encode(),
                       file_name=f"mmrec-recs-{name}-{p['split']}-k{p['k']}-seed{p['seed']}.csv",
                       mime="text/csv", on_click="ignore")


# No st.stop() on this page: under AppTest a stop inside the router's page.run() left the next runs outside the router.
report = recs.interactions(store)
if report is None:
    offer_interactions()
else:
    show_interactions(report)
    rec = recs.rec_engine(store)
    tab_rec, tab_train, tab_eval = st.tabs(["Recommend", "Train", "Evaluate"], default="Recommend" if rec else "Train")
    with tab_train:
        train_tab(report)
    with tab_rec:
        recommend_tab(rec)
    with tab_eval:
        evaluate_tab(report)
