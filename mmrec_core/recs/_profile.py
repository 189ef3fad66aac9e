"""A user's taste profile (liked/disliked items, uploaded media) -> query vectors; cold start; explanations. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from mmrec_core.catalog import category_of
from mmrec_core.errors import QueryError
from mmrec_core.query import item_vectors
from mmrec_core.retrieval import MODALITIES, QueryVectors
from mmrec_core.store import Store
from mmrec_core.vectors import l2_normalize

DISLIKE_WEIGHT = 0.5  # Rocchio's gamma: how far a dislike pushes the profile away
COLD_START_EXPLANATION = (
    "Your profile is empty, so this is a diverse sample rather than a guess: one typical item from "
    "each category (the item closest to its category's average), largest categories first. "
    "Like or dislike any item, or add an image, a sound or a video clip to your profile, to get personal recommendations."
)


@dataclass(frozen=True)
class Upload:
    """Media a user added to the profile, already encoded (as Engine.vectors returns it)."""

    name: str
    modality: str  # "image", "audio" or "video"
    vectors: QueryVectors


@dataclass(frozen=True)
class Profile:
    """One user's profile on one store; immutable, changed through like/dislike/forget/add_upload."""

    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    uploads: tuple[Upload, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.liked and not self.disliked and not self.uploads

    @property
    def has_positives(self) -> bool:
        return bool(self.liked or self.uploads)

    def status(self, item_id: str) -> str | None:
        return "liked" if item_id in self.liked else "disliked" if item_id in self.disliked else None


def like(profile: Profile, item_id: str) -> Profile:
    """Add to liked (newest last), removing a dislike."""
    return replace(profile, liked=_without(profile.liked, item_id) + (item_id,), disliked=_without(profile.disliked, item_id))


def dislike(profile: Profile, item_id: str) -> Profile:
    """Add to disliked, removing a like."""
    return replace(profile, liked=_without(profile.liked, item_id), disliked=_without(profile.disliked, item_id) + (item_id,))


def forget(profile: Profile, item_id: str) -> Profile:
    """Neither liked nor disliked."""
    return replace(profile, liked=_without(profile.liked, item_id), disliked=_without(profile.disliked, item_id))


def add_upload(profile: Profile, upload: Upload) -> Profile:
    return replace(profile, uploads=profile.uploads + (upload,))


def remove_upload(profile: Profile, index: int) -> Profile:
    return replace(profile, uploads=profile.uploads[:index] + profile.uploads[index + 1 :])


def _without(ids: tuple[str, ...], item_id: str) -> tuple[str, ...]:
    return tuple(i for i in ids if i != item_id)



def profile_vectors(store: Store, profile: Profile, *, dislike_weight: float = DISLIKE_WEIGHT) -> QueryVectors:
    """Rocchio per modality: normalise(mean(liked + uploads) - dislike_weight * mean(disliked)).

    A modality gets a vector only if some liked item or upload has it; liked and disliked items are
    excluded from the results. Ids the store does not hold (a profile from another version) are skipped.
    QueryError when nothing positive is left.
    """
    known = store.rows_by_id()
    liked = [known[i] for i in profile.liked if i in known]
    disliked = [known[i] for i in profile.disliked if i in known]
    pos, neg = item_vectors(store, liked), item_vectors(store, disliked)
    out: dict[str, np.ndarray | None] = {}
    for m in MODALITIES:
        rows = [v for v in pos[m] if v.any()]
        rows += [u.vectors.get(m) for u in profile.uploads if _fits(u.vectors.get(m), store, m)]
        if not rows:
            out[m] = None
            continue
        vec = np.mean(np.stack(rows), axis=0)
        bad = [v for v in neg[m] if v.any()]
        if bad:
            vec = vec - dislike_weight * np.mean(np.stack(bad), axis=0)
        out[m] = l2_normalize(vec[None, :])[0] if np.linalg.norm(vec) > 1e-6 else None
    if all(v is None for v in out.values()):
        raise QueryError("the profile has no liked items or uploads this store can use")
    return QueryVectors(**out, exclude=frozenset(liked) | frozenset(disliked))


def _fits(vec: np.ndarray | None, store: Store, modality: str) -> bool:
    return vec is not None and vec.shape == (store.embeddings[modality].shape[1],) and bool(np.any(vec))



COLD_START_POOL = 5_000  # a large store's cold start looks at a fixed random sample of this many items


def cold_start(store: Store, k: int, *, exclude: Sequence[str] = ()) -> list[tuple[int, str, float]]:
    """A diverse sample for an empty profile: (row, category, typicality) round-robin over categories.

    Categories go largest first (ties by name); within one, items go by cosine to the category's
    mean content vector (text and image averaged), most typical first. Excluded ids never appear (they
    still count towards their category's mean: the ranking is computed once per version for everyone).
    A store of more than COLD_START_POOL items is represented by a fixed random sample of them.
    """
    skip = set(exclude)
    queues = [[e for e in q if store.ids[e[0]] not in skip]
              for q in store.derived("cold_start", lambda: _typical_queues(store))]
    out: list[tuple[int, str, float]] = []
    depth = 0
    while len(out) < k and any(depth < len(q) for q in queues):
        out.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return out[:k]


def _typical_queues(store: Store) -> list[list[tuple[int, str, float]]]:
    """Per category, largest first: (row, category, typicality) most typical first. Once per version (Store.derived)."""
    pool = store.live_rows
    if len(pool) > COLD_START_POOL:
        pool = np.sort(np.random.default_rng(0).choice(pool, COLD_START_POOL, replace=False))
    vecs = item_vectors(store, pool)
    content = l2_normalize(vecs["text"] + vecs["image"]) if vecs["text"].shape == vecs["image"].shape else l2_normalize(vecs["text"])
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(pool):
        groups.setdefault(category_of(store.items[int(r)]), []).append(i)
    queues = []
    for cat, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        centre = l2_normalize(content[rows].mean(axis=0, keepdims=True))[0]
        sims = content[rows] @ centre
        order = np.lexsort((np.asarray(rows), -sims))
        queues.append([(int(pool[rows[i]]), cat, float(sims[i])) for i in order])
    return queues


def because(store: Store, rows: Sequence[int], liked: Sequence[str]) -> dict[int, tuple[str, float]]:
    """For each row, the liked item most similar to it and that similarity (mean cosine over shared modalities)."""
    known = store.rows_by_id()
    liked_rows = [known[i] for i in liked if i in known]
    if not liked_rows or not len(rows):
        return {}
    a, b = item_vectors(store, rows), item_vectors(store, liked_rows)
    total = np.zeros((len(rows), len(liked_rows)))
    count = np.zeros_like(total)
    for m in MODALITIES:
        sims = a[m] @ b[m].T
        both = np.outer(a[m].any(axis=1), b[m].any(axis=1))
        total += np.where(both, sims, 0.0)
        count += both
    mean = np.divide(total, count, out=np.full_like(total, -np.inf), where=count > 0)
    best = mean.argmax(axis=1)
    return {int(r): (store.ids[liked_rows[j]], float(mean[i, j])) for i, (r, j) in enumerate(zip(rows, best)) if np.isfinite(mean[i, j])}
