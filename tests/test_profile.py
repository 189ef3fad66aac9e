"""Profile -> query vectors (Rocchio), cold start and explanations, on a hand-made store (no models)."""

from pathlib import Path

import numpy as np
import pytest

from mmrec_core.errors import QueryError
from mmrec_core.catalog import category_of
from mmrec_core.recs import (Profile, Upload, add_upload, because, cold_start, dislike, forget, like, profile_vectors,
                             remove_upload)
from mmrec_core.retrieval import QueryVectors
from mmrec_core.store import Store
from mmrec_core.vectors import l2_normalize


def unit(*v):
    return l2_normalize(np.array([v], dtype=np.float32))[0]


@pytest.fixture
def store():
    """Five items in 3-d text/image space and 2-d audio; 'c' has no image, 'd' no text, 'e' only audio."""
    text = np.array([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1), [0, 0, 0], [0, 0, 0]], np.float32)
    image = np.array([unit(1, 1, 0), unit(0, 1, 0), [0, 0, 0], unit(1, 0, 1), [0, 0, 0]], np.float32)
    audio = np.array([unit(1, 0), [0, 0], [0, 0], [0, 0], unit(0, 1)], np.float32)
    items = [
        {"id": "a", "title": "A", "tags": ["x"], "metadata": {"category": "animals"}},
        {"id": "b", "title": "B", "tags": ["x"], "metadata": {"category": "animals"}},
        {"id": "c", "title": "C", "tags": ["y"], "metadata": {}},
        {"id": "d", "title": "D", "tags": [], "metadata": {"category": "animals"}},
        {"id": "e", "title": "E", "tags": [], "metadata": {}},
    ]
    return Store(Path("."), "v000001", {}, items, {"text": text, "image": image, "audio": audio}, scaler=None)


def test_like_dislike_forget_are_exclusive():
    p = like(Profile(), "a")
    assert p.liked == ("a",) and p.status("a") == "liked"
    p = dislike(p, "a")
    assert p.liked == () and p.disliked == ("a",) and p.status("a") == "disliked"
    p = like(like(p, "b"), "a")
    assert p.liked == ("b", "a") and p.disliked == ()
    assert forget(p, "a").liked == ("b",)
    assert Profile().is_empty and not p.is_empty


def test_profile_vectors_is_rocchio_with_cross_fill(store):
    p = dislike(like(like(Profile(), "a"), "c"), "b")
    qv = profile_vectors(store, p)
    emb = store.embeddings
    # c has no image: its text vector stands in, as for "more like this" seeds
    want_image = (emb["image"][0] + emb["text"][2]) / 2 - 0.5 * emb["image"][1]
    np.testing.assert_allclose(qv.image, want_image / np.linalg.norm(want_image), atol=1e-6)
    want_text = (emb["text"][0] + emb["text"][2]) / 2 - 0.5 * emb["text"][1]
    np.testing.assert_allclose(qv.text, want_text / np.linalg.norm(want_text), atol=1e-6)
    np.testing.assert_allclose(qv.audio, emb["audio"][0], atol=1e-6)  # b has no audio: nothing subtracted
    assert qv.exclude == frozenset({0, 1, 2})


def test_uploads_count_as_likes_and_stale_ids_are_skipped(store):
    up = Upload("sound.wav", "audio", QueryVectors(audio=unit(0, 1)))
    p = add_upload(like(Profile(), "gone-from-store"), up)
    qv = profile_vectors(store, p)
    assert qv.text is None and qv.image is None
    np.testing.assert_allclose(qv.audio, unit(0, 1))
    assert remove_upload(p, 0).uploads == ()
    wrong_dim = Upload("x.png", "image", QueryVectors(text=unit(1, 0), image=unit(1, 0)))
    with pytest.raises(QueryError, match="no liked items"):
        profile_vectors(store, add_upload(Profile(), wrong_dim))


def test_only_dislikes_is_an_error(store):
    with pytest.raises(QueryError, match="no liked items"):
        profile_vectors(store, dislike(Profile(), "a"))


def test_cold_start_round_robin_over_categories(store):
    picks = cold_start(store, 4)
    cats = [c for _, c, _ in picks]
    # animals (3 items) first, then the 1-item groups by name: tag 'y' for c, '(none)' for e
    assert cats == ["animals", "(none)", "y", "animals"]
    assert [store.ids[r] for r, _, _ in picks][1:3] == ["e", "c"]
    assert len({r for r, _, _ in picks}) == 4
    assert all(store.ids[r] != "a" for r, _, _ in cold_start(store, 5, exclude=["a"]))
    assert category_of(store.items[2]) == "y"


def test_because_names_the_closest_liked_item(store):
    got = because(store, [1, 4], ["a", "c"])
    assert got[1][0] == "a"  # b is closer to a (image 0.71) than to c (0)
    assert 4 in got and got[4][0] == "a"  # e shares only audio, with a
    assert because(store, [1], []) == {}
