"""The dashboard: view <-> URL helpers (pure), then every page under AppTest on a store of the tiny catalog."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import rerank as rr

from mmrec_core.errors import CatalogError, StoreError
from mmrec_core.retrieval import Weights
from mmrec_core.session import (
    View, from_params, md_escape, stage_upload, to_params, valid_store_name, with_alpha, with_weight,
)

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ["pages/search.py", "pages/catalog.py", "pages/profile.py", "pages/recommend.py", "pages/map.py", "pages/compare.py"]


# ---------- pure helpers (no Streamlit) ----------

def test_view_round_trips_through_url_params():
    view = View(store="shop-2", text="red & blue: 50% off", items=("a", "b"), weights=Weights(0.3, 0.7, 0.1),
                strategy="rrf", k=7, page="map")
    params = to_params(view)
    assert params["alpha"] == "0.70" and params["item"] == ["a", "b"]
    back, problems = from_params(params)
    assert back == view and problems == []
    # Streamlit hands every value as a list when read with get_all()
    assert from_params({k: v if isinstance(v, list) else [v] for k, v in params.items()})[0] == view


def test_bad_url_params_keep_defaults_and_are_reported():
    view, problems = from_params({"store": "../../etc", "alpha": "2", "k": "0", "strategy": "magic", "page": "admin",
                                  "wa": "nan"})
    assert view == View()
    assert len(problems) == 6 and any("alpha" in p for p in problems)
    view, _ = from_params({"alpha": "0.25"})
    assert view.weights == Weights(text=0.75, image=0.25, audio=0.5)
    view, _ = from_params({"alpha": "0.25", "wt": "1"})  # explicit weights win over alpha
    assert (view.weights.text, view.weights.image) == (1.0, 0.25)


def test_alpha_and_weights_stay_consistent():
    v = with_alpha(View(), 0.8)
    assert (v.weights.text, v.weights.image, v.weights.audio) == (pytest.approx(0.2), 0.8, 0.5)
    v = with_weight(v, "text", 0.8)
    assert v.alpha == pytest.approx(0.5)
    assert with_weight(with_weight(v, "text", 0), "image", 0).alpha == 0.5
    with pytest.raises(StoreError, match="not allowed"):
        valid_store_name("a/b")


def test_md_escape_shows_user_text_literally():
    raw = "**bold** [link](http://x) :red[hi] $x$ <script>alert(1)</script>"
    out = md_escape(raw)
    assert "\\*\\*bold\\*\\*" in out and "\\[link\\]\\(http" in out and "\\<script\\>" in out
    assert ":red" not in out and "\\$x\\$" in out


def test_stage_upload_places_media_where_the_csv_says(tmp_path):
    csv = b"id,title,image,audio\na,A,images/a.png,sounds/a.wav\nb,B,b.png,\n"
    dest = stage_upload([("catalog.csv", csv), ("a.png", b"A"), ("a.wav", b"W"), ("b.png", b"B")], tmp_path / "s")
    assert (dest / "images/a.png").read_bytes() == b"A" and (dest / "sounds/a.wav").read_bytes() == b"W"
    assert (dest / "b.png").read_bytes() == b"B" and (dest / "catalog.csv").read_bytes() == csv
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("catalog.csv", "id\n")
    assert stage_upload([("cat.zip", buf.getvalue())], tmp_path / "z").name == "catalog.zip"
    with pytest.raises(CatalogError, match="not a zip"):
        stage_upload([("cat.zip", b"nope")], tmp_path / "bad")
    with pytest.raises(CatalogError, match="exactly one catalog .csv"):
        stage_upload([("a.png", b"A")], tmp_path / "bad")
    with pytest.raises(CatalogError, match="limit is"):
        stage_upload([("catalog.csv", b"x" * 100)], tmp_path / "big", max_bytes=10)


def test_library_never_imports_streamlit():
    for f in (ROOT / "mmrec_core").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", f.read_text(), re.M), f.name


# ---------- the app under AppTest ----------

@pytest.fixture(scope="module")
def home(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    """MMREC_HOME with the tiny catalog ingested as the 'demo' store, plus demo-style queries and qrels."""
    from mmrec_core.ingest import ingest

    root = tmp_path_factory.mktemp("mmrec-home")
    src = root / "catalog"
    shutil.copytree(tiny_catalog, src)
    (src / "queries.csv").write_text("query_id,text,image,audio\nq1,a round red ball,,\nq2,a blue box,,\nq3,rain,,\n")
    (src / "qrels.csv").write_text("query_id,item_id,relevance\nq1,red,1\nq2,blue,1\nq3,rain,1\n")
    ingest(src, root / "stores" / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMREC_HOME", str(root))
        yield root


def new_app(query_params: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params = dict(query_params or {})
    return at.run()


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def catalog_uploader(at):
    """The Catalog page's uploader: its key changes after each stored catalog (a fresh one, with no files)."""
    state = at.session_state
    rounds = state["upload_round"] if "upload_round" in state else 0
    return at.file_uploader(key="catalog_files" + (f"_{rounds}" if rounds else ""))


def shown_titles(at) -> list[str]:
    """Result titles in order: the Search page's re-ranked cards (the settled view's ranking it sent), else the
    Streamlit cards' headings '**N. Title**', unescaped."""
    if [e for e in at.get("bidi_component") if getattr(e, "key", None) == rr.KEY]:
        return rr.titles(at)
    heads = [m.value for m in at.markdown if re.match(r"^\*\*\d+\\\. ", m.value)]
    return [re.sub(r"\\(.)", r"\1", h[2:-2]).split(". ", 1)[1] for h in heads]


def titles_of(store, rows) -> list[str]:
    return [store.items[r]["title"] for r in rows]


def test_every_page_runs(home):
    at = new_app({"q": "a round red ball"})
    ok(at)
    assert shown_titles(at)[0] == "Red ball"
    for page in PAGES[1:]:
        at.switch_page(page).run()
        ok(at)
        assert at.title, page
    assert at.query_params["page"] == "compare" and at.query_params["q"] == "a round red ball"


def test_search_says_how_it_read_a_query_in_another_language(home):
    at = new_app({"q": "企鹅"})
    ok(at)
    assert [c.value for c in at.caption if c.value.startswith("This query is")] == [
        "This query is read through a dictionary as “penguin”, and by multilingual e5."]
    at = new_app({"q": "a penguin"})
    assert not [c for c in at.caption if c.value.startswith("This query is")]


def test_moving_alpha_reranks_exactly_as_rank_without_reencoding(home):
    from mmrec_core.retrieval import rank

    at = new_app({"q": "a round ball", "k": "5", "wa": "0"})
    ok(at)
    cands = at.session_state["search_cache"]["cands"]
    store = _store(home)
    seen = []
    for alpha in (0.0, 1.0, 0.35):  # what the page's component says when a move settles
        rr.settle(at, {"text": 1.0 - alpha, "image": alpha, "audio": 0.0})
        ok(at)
        assert at.session_state["search_cache"]["cands"] is cands  # re-ranked, not re-encoded
        view = at.session_state["view"]
        assert view.weights == Weights.from_alpha(alpha, audio=0.0)
        want = titles_of(store, rank(cands, view.weights, strategy="weighted", k=5).rows)
        assert shown_titles(at) == want
        assert rr.payload(at)["weights"] == pytest.approx({"text": 1 - alpha, "image": alpha, "audio": 0.0})
        seen.append(want)
    assert seen[0] != seen[1], "text-only and image-only rankings should differ for this query"
    assert at.query_params["alpha"] == "0.35"
    rr.settle(at, at.session_state["view"].weights.as_dict(), "rrf")
    assert shown_titles(at) == titles_of(store, rank(cands, at.session_state["view"].weights, strategy="rrf", k=5).rows)
    for bad in ({"text": -1, "image": 0, "audio": 0}, {"text": "x"}):  # a crafted message changes nothing
        rr.settle(at, bad)
        ok(at)
        assert at.session_state["view"].strategy == "rrf" and at.session_state["view"].weights == Weights.from_alpha(0.35, audio=0.0)
    rr.settle(at, {"text": 1, "image": 1, "audio": 0}, "no-such-strategy")
    assert at.session_state["view"].strategy == "rrf"
    rr.send(at, action={"kind": "like", "id": "no-such-item"})  # a card the page was never sent
    ok(at)
    assert not at.session_state["profiles"].get("demo") or "no-such-item" not in at.session_state["profiles"]["demo"].liked


def _store(home: Path):
    from mmrec_core.store import open_store

    return open_store(home / "stores" / "demo")


def test_like_updates_recommendations(home):
    from mmrec_core.recs import profile_vectors
    from mmrec_core.query import Engine
    from mmrec_core.retrieval import rank

    at = new_app({"k": "4"})
    at.switch_page("pages/profile.py").run()
    ok(at)
    assert any("profile is empty" in i.value for i in at.info)
    cold = shown_titles(at)
    store = _store(home)
    first_cold = next(it for it in store.items if it["title"] == cold[0])
    at.button(key=f"cold-{first_cold['id']}-like").click().run()
    ok(at)
    profile = at.session_state["profiles"]["demo"]
    assert profile.liked == (first_cold["id"],)
    assert not any("profile is empty" in i.value for i in at.info)
    engine = Engine(store)
    want = titles_of(store, rank(engine.candidates(profile_vectors(store, profile)), at.session_state["view"].weights, k=4).rows)
    assert shown_titles(at) == want != cold
    assert first_cold["title"] not in want
    assert any("closest to your liked" in c.value for c in at.caption)
    first = next(it for it in store.items if it["title"] == want[0])
    at.button(key=f"rec-{first['id']}-dislike").click().run()
    ok(at)
    assert at.session_state["profiles"]["demo"].disliked == (first["id"],)
    assert first["title"] not in shown_titles(at)


def test_bad_input_shows_errors_and_keeps_the_app_running(home):
    at = new_app()
    at.switch_page("pages/catalog.py").run()
    ok(at)
    cases = [
        ("junk", [("junk.zip", b"this is not a zip", "application/zip")], "not a zip"),
        ("noid", [("catalog.csv", b"name,title\nx,y\n", "text/csv")], "no 'id' column"),
        ("empty", [("catalog.csv", b"id,title,description,image,audio,tags\n", "text/csv")], "no usable items"),
        ("demo", [("catalog.csv", b"id,title\na,A\n", "text/csv")], "exists already"),
        ("bad/name", [("catalog.csv", b"id,title\na,A\n", "text/csv")], "not allowed"),
    ]
    for name, files, message in cases:
        at.text_input(key="new_store_name").set_value(name)
        catalog_uploader(at).set_value(files)
        at.form_submit_button[0].click().run()
        ok(at)
        assert any(message in e.value for e in at.error), (name, [e.value for e in at.error])
    assert sorted(p.name for p in (home / "stores").iterdir() if not p.name.startswith(".")) == ["demo"]
    assert at.session_state["view"].store == "demo"

    at.switch_page("pages/search.py").run()
    at.file_uploader(key="w_qimage0").set_value(("broken.png", b"\x89PNG\r\n\x1a\n garbage", "image/png")).run()
    ok(at)
    assert any("query image" in e.value for e in at.error)
    assert shown_titles(at) == []
    at.button(key="clear-image").click().run()  # remove the bad image: the text query works again
    assert shown_titles(at) and not at.error
    at.file_uploader(key="w_qaudio1").set_value(("broken.wav", b"RIFF....WAVEfmt garbage", "audio/wav")).run()
    ok(at)
    assert any("query audio" in e.value for e in at.error)


def test_upload_catalog_csv_with_media_makes_a_new_store(home, tiny_catalog):
    at = new_app()
    at.switch_page("pages/catalog.py").run()
    files = [("catalog.csv", (tiny_catalog / "catalog.csv").read_bytes(), "text/csv")]
    files += [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted((tiny_catalog / "img").iterdir())]
    files += [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted((tiny_catalog / "snd").iterdir())]
    at.text_input(key="new_store_name").set_value("uploaded")
    catalog_uploader(at).set_value(files)
    at.form_submit_button[0].click().run()
    ok(at)
    assert at.session_state["view"].store == "uploaded"
    assert any("Store 'uploaded'" in s.value for s in at.success)
    assert (home / "stores" / "uploaded" / "CURRENT").is_file() and (home / "stores" / "demo" / "CURRENT").is_file()
    assert at.sidebar.selectbox(key="w_store").options == ["demo", "uploaded"]
    at.sidebar.selectbox(key="w_store").set_value("demo").run()
    ok(at)
    assert at.session_state["view"].store == "demo"


def test_link_reproduces_the_view(home):
    at = new_app({"page": "compare", "store": "demo", "q": "a blue box", "alpha": "0.8", "strategy": "late",
                  "k": "3", "wa": "0"})
    ok(at)
    view = at.session_state["view"]
    assert (view.text, view.strategy, view.k, view.page) == ("a blue box", "late", 3, "compare")
    assert view.weights == Weights.from_alpha(0.8, audio=0.0)
    assert at.title[0].value == "Compare & evaluate"
    assert at.sidebar.slider(key="w_alpha").value == pytest.approx(0.8)
    assert at.query_params["q"] == "a blue box" and at.query_params["strategy"] == "late"


def test_compare_sweep_and_map_projection(home):
    at = new_app({"page": "compare", "q": "a round red ball", "k": "3"})
    ok(at)
    assert len(at.dataframe) >= 1  # strategies side by side
    next(b for b in at.button if b.label.startswith("Run the sweep")).click().run()
    ok(at)
    rows = next(iter(at.session_state["sweeps"].values()))
    assert [r["alpha"] for r in rows] == pytest.approx([i / 10 for i in range(11)])
    assert rows[0]["n_queries"] == 3
    at.switch_page("pages/map.py").run()
    ok(at)
    at.segmented_control(key="map_method").set_value("tsne").run()
    ok(at)
    compute = next(b for b in at.button if b.label.startswith("Compute"))
    compute.click().run()
    ok(at)
    assert list((_store(home).version_dir / "projections").glob("tsne-fused-*.npy"))


def test_fit_the_weights_and_apply_them(home):
    from mmrec_core import insight as tune
    from mmrec_core.insight import encode_queries, load_qrels, load_queries
    from mmrec_core.query import Engine

    at = new_app({"page": "compare", "k": "3"})
    ok(at)
    at.multiselect(key="fit_strategies").set_value(["weighted", "max"]).run()
    next(b for b in at.button if b.label.startswith("Fit the weights")).click().run()
    ok(at)
    fits = next(iter(at.session_state["fits"].values()))
    assert [f.strategy for f in fits] == ["weighted", "max"]
    # the panel's numbers are the library's, on the same queries and folds
    src = home / "catalog"
    engine = Engine(_store(home))
    judged = tune.prepare(engine.store.ids, encode_queries(engine, load_queries(src / "queries.csv")),
                          load_qrels(src / "qrels.csv"), k=3)
    direct = tune.fit(judged, strategy="max", metric="ndcg@3", folds=3, tune_temperature=False)
    assert (fits[1].weights, fits[1].heldout, fits[1].default) == (direct.weights, direct.heldout, direct.default)
    assert any(m.label.startswith("held out ndcg@3") for m in at.metric)
    next(b for b in at.button if b.key == "apply-max").click().run()
    ok(at)
    assert at.session_state["view"].weights == fits[1].weights and at.session_state["view"].strategy == "max"
    assert at.query_params["strategy"] == ["max"] or at.query_params["strategy"] == "max"


def test_why_explains_a_result_once_and_closes(home):
    at = new_app({"q": "a round red ball", "k": "3"})
    ok(at)
    first = shown_titles(at)[0]
    store = _store(home)
    item = next(it for it in store.items if it["title"] == first)
    rr.send(at, action={"kind": "why", "id": item["id"]})
    ok(at)
    assert any(h.value.startswith("Why “") for h in at.subheader)
    assert any("Your words, coloured" in c.value for c in at.caption)
    assert len(at.session_state["explanations"]) == 1
    ex = next(iter(at.session_state["explanations"].values()))
    assert ex.query_words.words == ("a", "round", "red", "ball")
    rr.settle(at, {"text": 0.1, "image": 0.9, "audio": 0.5})
    ok(at)
    assert not any(h.value.startswith("Why “") for h in at.subheader)  # the dialog does not come back by itself
    rr.send(at, action={"kind": "why", "id": item["id"]})
    ok(at)
    assert any(h.value.startswith("Why “") for h in at.subheader)
    assert len(at.session_state["explanations"]) == 1  # opened again: the explanation is re-used
    at.button(key="search-why-close").click().run()
    ok(at)
    assert not any(h.value.startswith("Why “") for h in at.subheader) and at.session_state["why-search"] is None


def test_profile_offers_the_weights_that_explain_the_likes(home):
    from mmrec_core import insight as tune
    from mmrec_core.recs import Profile

    store = _store(home)
    cases = [Profile(liked=("red", "blue", "rain"), disliked=("broken-img", "missing")),
             Profile(liked=("red", "green", "blue"), disliked=("rain", "poem"))]
    offered = 0
    for profile in cases:
        at = new_app({"k": "3"})
        at.session_state["profiles"] = {"demo": profile}
        at.switch_page("pages/profile.py").run()
        ok(at)
        want = tune.fit_profile(store, profile.liked, profile.disliked, current=at.session_state["view"].weights)
        buttons = [b for b in at.button if b.key == "use-profile-weights"]
        assert bool(buttons) == (want.auc > want.current_auc)
        if buttons:
            offered += 1
            assert any(f"explained mostly by **{want.dominant}**" in m.value for m in at.markdown)
            buttons[0].click().run()
            ok(at)
            assert at.session_state["view"].weights == want.weights
    assert offered >= 1
    at = new_app({"k": "3"})
    at.session_state["profiles"] = {"demo": Profile(liked=("red",))}
    at.switch_page("pages/profile.py").run()
    assert any("mmrec fits the modality weights" in c.value for c in at.caption)


def test_profile_upload_counts_as_a_like(home, tiny_catalog):
    at = new_app({"k": "3"})
    at.switch_page("pages/profile.py").run()
    png = (tiny_catalog / "img" / "red-circle.png").read_bytes()
    at.file_uploader(key="p_image0").set_value(("mine.png", png, "image/png")).run()
    ok(at)
    profile = at.session_state["profiles"]["demo"]
    assert [u.name for u in profile.uploads] == ["mine.png"] and profile.liked == ()
    assert shown_titles(at)[0] == "Red ball"  # the uploaded picture is the red circle
    at.file_uploader(key="p_audio1").set_value(("bad.ogg", b"OggS nonsense", "audio/ogg")).run()
    ok(at)
    assert any("bad.ogg" in e.value for e in at.error)


def test_first_start_builds_the_demo_store(tiny_catalog, tmp_path, monkeypatch):
    from pages import _stores

    monkeypatch.setenv("MMREC_HOME", str(tmp_path))
    monkeypatch.setattr(_stores, "DEMO_SRC", tiny_catalog)
    at = new_app({"q": "a round red ball"})
    ok(at)
    assert (tmp_path / "stores" / "demo" / "CURRENT").is_file()
    assert shown_titles(at)[0] == "Red ball"


def test_catalog_upload_adds_to_the_open_store_in_place(home, tiny_catalog):
    at = new_app()
    at.switch_page("pages/catalog.py").run()
    files = [("catalog.csv", (tiny_catalog / "catalog.csv").read_bytes(), "text/csv")]
    files += [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted((tiny_catalog / "img").iterdir())]
    at.text_input(key="new_store_name").set_value("growing")
    catalog_uploader(at).set_value(files)
    at.form_submit_button[0].click().run()
    ok(at)
    from mmrec_core.store import open_store

    before = open_store(home / "stores" / "growing")
    at.radio(key="add_target").set_value("Add to this store (growing)").run()
    assert at.text_input(key="new_store_name").disabled
    csv = b"id,title,description,image,audio,video,tags\nlamp,A desk lamp,a bright reading lamp,,,,home\nred,Red again,,,,,\n"
    assert at.session_state["upload_round"] == 1  # a fresh uploader after a stored catalog: last time's files are gone
    catalog_uploader(at).set_value([("catalog.csv", csv, "text/csv")])
    at.form_submit_button[0].click().run()
    ok(at)
    after = open_store(home / "stores" / "growing")
    assert any("1 item(s) added, 1 replaced" in s.value for s in at.success), [s.value for s in at.success]
    assert after.n_items == before.n_items + 1 and after.manifest["data"] == before.manifest["data"]
    assert after.items[after.row_of("red")]["title"] == "Red again"
    assert at.session_state["view"].store == "growing"
    bad = b"id,title,description,image,audio,video,tags\nb1,,,missing.png,,,\n"
    catalog_uploader(at).set_value([("catalog.csv", bad, "text/csv")])
    at.form_submit_button[0].click().run()
    ok(at)
    assert any("Could not add to 'growing'" in e.value and "unchanged" in e.value for e in at.error)
    assert open_store(home / "stores" / "growing").version == after.version
