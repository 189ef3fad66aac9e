"""The Recommendations page under AppTest, on a slice of MovieLens 100K from the recbole wheel (60 movies, 120 users)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mmrec_core.recs import _datasets as datasets

from mmrec_core.recs import _store as rec_store
from mmrec_core.errors import DatasetError
from mmrec_core.recs import load_interactions
from mmrec_core.recs import RecEngine
from mmrec_core.recs import History
from mmrec_core.store import open_store
from test_app import new_app, ok, shown_titles

pytest.importorskip("recbole", reason="the MovieLens slice comes from the recbole wheel")

SLICE = {"max_items": 60, "max_users": 120}


@pytest.fixture(scope="module")
def rec_home(tmp_path_factory: pytest.TempPathFactory):
    """MMREC_HOME with 'ml': the MovieLens slice with its interactions, and 'demo': the same items without any."""
    root = tmp_path_factory.mktemp("recs-home")
    stores = root / "stores"
    datasets.build_ml100k(stores / "ml", **SLICE)
    shutil.copytree(stores / "ml", stores / "demo")
    (stores / "demo" / rec_store.INTERACTIONS_FILE).unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMREC_HOME", str(root))
        yield root


def copy_store(home: Path, src: str, name: str) -> str:
    shutil.copytree(home / "stores" / src, home / "stores" / name)
    return name


def page(store: str, **params: str):
    at = new_app({"store": store, "page": "recommend", "k": "5", **params})
    ok(at)
    assert at.title[0].value == "Recommendation models"
    return at


def titles_of(store, hits) -> list[str]:
    return [h.item["title"] for h in hits]


# ---------- library ----------

def test_movielens_slice_is_real_data(rec_home):
    store = open_store(rec_home / "stores" / "ml")
    assert len(store.items) == 60 and store.items[0]["title"] == "Toy Story (1995)"
    assert store.items[0]["tags"] == ["Animation", "Children's", "Comedy"] and store.counts()["image"] == 0
    summary = rec_store.load_store_interactions(store).summary()
    assert summary["users"] == 120 and summary["bad_rows"] == 0 and summary["interactions"] > 1000


def test_training_a_blend_fits_its_parts_once_and_saves_them(rec_home, tmp_path):
    store = open_store(shutil.copytree(rec_home / "stores" / "ml", tmp_path / "ml"))
    report = rec_store.load_store_interactions(store)
    engine = rec_store.train(store, report, ["itemknn", "hybrid", "blend"], epochs=2)
    blend = engine.trained["blend"].model
    assert blend.models["hybrid"] is engine.trained["hybrid"].model and set(blend.models) == {"itemknn", "hybrid"}
    assert set(rec_store.trained_models(store)) == {"itemknn", "hybrid", "blend"}
    liked = History((3, 10))
    loaded = RecEngine.load(store, ["blend"])
    assert [h.id for h in loaded.recommend(liked, model="blend")] == [h.id for h in engine.recommend(liked, model="blend")]
    assert rec_store.fit_order(["blend"]) == ["popularity", "itemknn", "content", "hybrid"]


def test_missing_recbole_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match=r"pip install recbole==1\.2\.1"):
        datasets.ml100k_dir()


# ---------- the page ----------

def test_store_without_interactions_offers_movielens_and_reports_bad_uploads(rec_home):
    name = copy_store(rec_home, "demo", "bare")
    at = page(name)
    assert any("has no interactions" in i.value for i in at.info)
    assert not at.button(key="rec_build_ml").disabled
    cases = [(b"user,item\n1,1\n", "lacks column"),
             (b"user_id,item_id,rating\n1,9999,5\n2,,4\n", "no usable interaction")]
    for data, message in cases:
        at.file_uploader(key="rec_inter").set_value(("interactions.csv", data, "text/csv")).run()
        ok(at)
        assert any(message in e.value for e in at.error), [e.value for e in at.error]
        assert not (rec_home / "stores" / name / rec_store.INTERACTIONS_FILE).exists()
    bad = at.dataframe[0].value
    assert list(bad["line"]) == [2, 3] and "unknown item" in bad["reason"][0] and "empty item_id" in bad["reason"][1]
    # good rows are kept, bad ones listed: the page now has interactions to learn from
    data = b"user_id,item_id,rating,timestamp\n7,1,5,881250949\n7,2,3,881250950\n8,1,4,next week\n8,50,4,881250952\n"
    at.file_uploader(key="rec_inter").set_value(("interactions.csv", data, "text/csv")).run()
    ok(at)
    assert any("3 interactions" in s.value for s in at.success)
    assert any("unparsable time" in r for r in at.dataframe[0].value["reason"])
    assert any("**3 interactions** by 2 users" in m.value for m in at.markdown)


def test_missing_recbole_disables_the_button(rec_home, monkeypatch):
    def missing():
        raise DatasetError("the `recbole` package is not installed: .venv/bin/pip install recbole==1.2.1")

    import mmrec_core.recs

    monkeypatch.setattr(mmrec_core.recs, "ml100k_dir", missing)  # the page imports it from the package on each run
    at = page("demo")
    assert any("pip install recbole" in w.value for w in at.warning)
    assert at.button(key="rec_build_ml").disabled


def test_build_movielens_with_one_button(rec_home, monkeypatch):
    from pages import _recs

    monkeypatch.setattr(_recs, "ML100K_MAX_ITEMS", 20)
    at = page("demo")
    at.button(key="rec_build_ml").click().run()
    ok(at)
    built = rec_home / "stores" / datasets.ML100K_STORE
    assert (built / "CURRENT").is_file() and (built / rec_store.INTERACTIONS_FILE).is_file()
    assert at.session_state["view"].store == datasets.ML100K_STORE
    assert len(open_store(built).items) == 20
    assert any("interactions" in m.value and "by" in m.value for m in at.markdown)


def test_train_recommend_like_and_blend_weights(rec_home):
    name = copy_store(rec_home, "ml", "ml-train")
    at = page(name)
    assert any("No model is trained" in i.value for i in at.info)
    at.multiselect(key="w_rec_train_models").set_value(["popularity", "itemknn", "hybrid", "blend"]).run()
    at.number_input(key="w_rec_epochs").set_value(3).run()
    at.button(key="rec_train").click().run()
    ok(at)
    store = open_store(rec_home / "stores" / name)
    assert set(rec_store.trained_models(store)) == {"popularity", "itemknn", "hybrid", "blend"}
    assert any("Trained on" in s.value and "hybrid" in s.value for s in at.success)
    engine = RecEngine.load(store)
    weights = at.session_state["view"].weights

    # cold start: an empty profile gets the blend of what the models say with no history, and is told so
    assert at.session_state["rec_state"]["model"] == "blend"
    assert any("no likes yet" in i.value for i in at.info)
    cold = shown_titles(at)
    assert cold == titles_of(store, engine.recommend(History(), model="blend", k=5, weights=weights))

    # a like changes the recommendations at once (no retraining), exactly as the engine says
    first = next(it for it in store.items if it["title"] == cold[0])
    at.button(key=f"rec-blend-{first['id']}-like").click().run()
    ok(at)
    assert at.session_state["profiles"][name].liked == (first["id"],)
    liked = History((store.row_of(first["id"]),))
    want = titles_of(store, engine.recommend(liked, model="blend", k=5, weights=weights))
    assert shown_titles(at) == want != cold and first["title"] not in want
    assert not any("no likes yet" in i.value for i in at.info)

    # a blend weight slider re-weights the models: popularity off
    at.slider(key="w_mix_popularity").set_value(0.0).run()
    ok(at)
    mix = {"popularity": 0.0, "itemknn": 0.3, "hybrid": 0.4}
    assert shown_titles(at) == titles_of(store, engine.recommend(liked, model="blend", k=5, weights=weights, mix=mix))

    # the hybrid recommends with the modality weights it learned, unless the sidebar's are asked for
    at.selectbox(key="w_rec_model").set_value("hybrid").run()
    ok(at)
    learned = engine.trained["hybrid"].model.learned
    assert learned is not None and abs(sum(learned.as_dict().values()) - 1) < 1e-3
    toggle = at.toggle(key="rec_learned_weights")
    assert toggle.value and "learned" in toggle.label
    assert shown_titles(at) == titles_of(store, engine.recommend(liked, model="hybrid", k=5, weights=None))
    toggle.set_value(False).run()
    ok(at)
    assert shown_titles(at) == titles_of(store, engine.recommend(liked, model="hybrid", k=5, weights=weights))
    at.selectbox(key="w_rec_model").set_value("blend").run()

    # a user of the interactions, then a like acting as that user
    at.radio(key="w_rec_who").set_value("user").run()
    at.selectbox(key="w_rec_user").set_value("5").run()
    ok(at)
    history = engine.history("5", model="blend")
    got = engine.recommend(history, model="blend", k=5, weights=weights, mix=mix)
    assert shown_titles(at) == titles_of(store, got)
    at.button(key=f"rec-blend-{got[0].id}-like").click().run()
    ok(at)
    after = engine.recommend(engine.like(history, got[0].id), model="blend", k=5, weights=weights, mix=mix)
    assert shown_titles(at) == titles_of(store, after) != titles_of(store, got)
    assert at.session_state["profiles"][name].liked == (first["id"],)  # your own profile is untouched

    # the trained models are reused by a new session (loaded from the store, not retrained)
    again = page(name)
    assert not any("No model is trained" in i.value for i in again.info) and shown_titles(again) == cold


def test_evaluate_table_is_seeded_and_reports_cold_items(rec_home):
    at = page("ml")
    at.number_input(key="w_rec_epochs").set_value(2).run()
    at.multiselect(key="w_rec_eval_models").set_value(["popularity", "itemknn", "content"]).run()
    at.number_input(key="w_rec_k").set_value(5).run()
    at.slider(key="w_rec_cold").set_value(0.1).run()
    at.button(key="rec_evaluate").click().run()
    ok(at)
    table = at.dataframe[-2].value  # the main table, then the cold-item table
    assert list(table["model"]) == ["popularity", "itemknn", "content"]
    assert {"recall@5", "ndcg@5", "mrr", "coverage@5", "novelty@5"} <= set(table.columns)
    store = open_store(rec_home / "stores" / "ml")
    report = load_interactions(store.path / rec_store.INTERACTIONS_FILE, store.ids)
    rows = rec_store.evaluate(store, report, ["popularity", "itemknn", "content"], k=5, seed=0, epochs=2, cold_items=0.1)
    assert list(table["recall@5"]) == pytest.approx([r["recall@5"] for r in rows])
    cold = at.dataframe[-1].value
    assert "cold_recall@5" in cold.columns and (cold["cold_users"] > 0).all()
    assert list(cold["cold_recall@5"]) == pytest.approx([r["cold_recall@5"] for r in rows])
    assert cold["cold_recall@5"].max() < table["recall@5"].max()  # withdrawn items are hard to reach
