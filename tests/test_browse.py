"""Browsing a store of any size: facets (categories, title/tag filter) and the map's fixed sample."""

import numpy as np

from mmrec_core.insight import _browse as browse
from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.retrieval import Weights
from mmrec_core.catalog import category_of
from mmrec_core.recs import cold_start
from mmrec_core.store import Rows, add_items, remove_items, write_store
from mmrec_core.vectors import l2_normalize

ENC = {"name": "test"}


def rows(start, n, seed):
    rng = np.random.default_rng(seed)
    emb = {m: l2_normalize(rng.standard_normal((n, d))) for m, d in (("text", 8), ("image", 8), ("audio", 4))}
    items = [{"id": f"i{i}", "title": f"Item {i}" + (" Lamp" if i % 7 == 0 else ""),
              "tags": [["red", "blue", "green"][i % 3], "Shiny"], "metadata": {"category": "odd" if i % 2 else ""}}
             for i in range(start, start + n)]
    return Rows(items, emb)


def make(path, n=60):
    r = rows(0, n, 0)
    return write_store(path, items=r.items, embeddings=r.embeddings, scaler=AudioScaler(np.zeros(4), np.ones(4)),
                       encoder=ENC)


def brute(store, needle="", category=None):
    out = []
    for r in store.live_rows:
        it = store.items[r]
        text = [it.get("title") or it["id"], *it.get("tags", [])]
        if needle and not any(needle.lower() in t.lower() for t in text):
            continue
        if category is not None and category_of(it) != category:
            continue
        out.append(int(r))
    return out


def test_facets_match_a_scan_of_the_items_and_are_saved(tmp_path):
    store = make(tmp_path / "s")
    f = browse.facets(store)
    assert (store.version_dir / "facets" / "facets.npz").is_file()
    assert dict(f.categories()) == {"odd": 30, "red": 10, "blue": 10, "green": 10}
    for needle, cat in (("", None), ("lamp", None), ("LAMP", "odd"), ("shiny", "red"), ("item 1", None), ("zzz", None),
                        ("", "nothing")):
        assert f.rows(needle=needle, category=cat).tolist() == brute(store, needle, cat)


def test_facets_of_a_grown_store_reuse_the_old_rows_and_drop_removed_ones(tmp_path):
    store = make(tmp_path / "s")
    browse.facets(store)
    extra = rows(60, 5, 1)
    store, _ = add_items(tmp_path / "s", extra, encoder=ENC)
    store, _ = remove_items(tmp_path / "s", ["i0", "i7"])
    f = browse.facets(store)
    assert len(f.codes) == 65 and f.codes[0] == -1 and f.codes[7] == -1
    assert f.rows(needle="lamp").tolist() == brute(store, "lamp") and 63 in f.rows(needle="lamp")
    assert sum(c for _, c in f.categories()) == store.n_items == 63


def test_map_view_draws_a_fixed_sample_and_places_the_top_k_outside_it(tmp_path):
    store = make(tmp_path / "s")
    a = browse.map_view(store, "fused", "pca", Weights(0.5, 0.5, 0), size=20)
    b = browse.map_view(store, "fused", "pca", Weights(0.5, 0.5, 0), size=20, extra=[3, 4, 5])
    assert a.sampled and len(a.rows) == 20 and a.placed == 0
    assert b.rows[:20].tolist() == a.rows.tolist()  # the same sample every time
    outside = [r for r in (3, 4, 5) if r not in a.rows]
    assert b.placed == len(outside) and np.isfinite(b.coords[b.positions(outside)]).all()
    assert b.titles[b.positions([3])[0]] == "Item 3" and b.groups[b.positions([3])[0]] == "odd"
    full = browse.map_view(store, "text", "pca", Weights(), size=100)
    assert not full.sampled and len(full.rows) == 60


def test_cold_start_on_a_large_store_uses_a_fixed_sample(tmp_path, monkeypatch):
    from mmrec_core.recs import _profile as profile

    store = make(tmp_path / "s")
    monkeypatch.setattr(profile, "COLD_START_POOL", 12)
    picks = cold_start(store, 6)
    assert len(picks) == 6 and picks == cold_start(store, 6)
    assert len({cat for _, cat, _ in picks}) >= 3  # still spread over categories
    assert all(store.ids[r] for r, _, _ in picks)
