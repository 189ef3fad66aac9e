"""Interactions (user_id,item_id[,rating][,timestamp]) -> indexed arrays on one store; bad rows reported, never fatal.

Items are store rows (indices inside, ids at the edge); users are indices into `user_ids`.
Every interaction is an implicit positive; `min_rating` drops explicit ratings below it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError

COLUMNS = ("user_id", "item_id", "rating", "timestamp")


class InteractionsError(EvaluationError):
    """An interactions file that cannot be read at all (missing file, no user_id/item_id column)."""


@dataclass(frozen=True)
class BadRow:
    """One skipped row: its CSV line number, what it held, and why it was skipped."""

    line: int
    user_id: str
    item_id: str
    reason: str


@dataclass(frozen=True)
class Interactions:
    """Positive interactions, sorted by (user, time, input order).

    users (n,) int64 into user_ids; rows (n,) int64 store rows; times (n,) float64 seconds (the line
    number when the file has no timestamp column); ratings (n,) float32, NaN for implicit feedback.
    """

    users: np.ndarray
    rows: np.ndarray
    times: np.ndarray
    ratings: np.ndarray
    user_ids: tuple[str, ...]
    n_items: int

    def __post_init__(self) -> None:
        n = self.users.shape[0]
        if not (self.rows.shape == self.times.shape == self.ratings.shape == (n,)):
            raise InteractionsError("users, rows, times and ratings must be (n,) arrays of one length")
        order = np.lexsort((np.arange(n), self.times, self.users))
        for name in ("users", "rows", "times", "ratings"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        starts = np.searchsorted(self.users, np.arange(len(self.user_ids) + 1))
        object.__setattr__(self, "_starts", starts)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def user_index(self, user_id: str) -> int | None:
        if not hasattr(self, "_index"):
            object.__setattr__(self, "_index", {u: i for i, u in enumerate(self.user_ids)})
        return self._index.get(user_id)

    def user_rows(self, user: int) -> np.ndarray:
        """Store rows (h,) int64 of one user's interactions, oldest first."""
        s = self._starts
        return self.rows[s[user] : s[user + 1]]

    def item_counts(self) -> np.ndarray:
        """Interactions per store row, int64 (n_items,)."""
        return np.bincount(self.rows, minlength=self.n_items).astype(np.int64)

    def subset(self, mask: np.ndarray) -> "Interactions":
        """The interactions where mask (n,) bool is True; users and items keep their indices."""
        return Interactions(self.users[mask], self.rows[mask], self.times[mask], self.ratings[mask],
                            self.user_ids, self.n_items)


@dataclass(frozen=True)
class LoadReport:
    """What load_interactions kept and skipped."""

    interactions: Interactions
    bad_rows: tuple[BadRow, ...] = ()
    duplicates: int = 0  # repeated (user, item) pairs merged into the latest
    below_min_rating: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        inter = self.interactions
        return {"interactions": len(inter), "users": inter.n_users, "items": int((inter.item_counts() > 0).sum()),
                "bad_rows": len(self.bad_rows), "duplicates": self.duplicates,
                "below_min_rating": self.below_min_rating, "reasons": dict(self.reasons)}


def load_interactions(path: str | Path, item_ids: Sequence[str], *, min_rating: float | None = None) -> LoadReport:
    """Read an interactions CSV against a store's item ids (row i is item_ids[i]).

    Unknown items, empty ids, unparsable ratings or timestamps are skipped and reported per line.
    InteractionsError only when the file cannot be read or lacks user_id/item_id.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            missing = [c for c in ("user_id", "item_id") if c not in fields]
            if missing:
                raise InteractionsError(f"{path.name} lacks column(s) {missing}; found {fields} (need {', '.join(COLUMNS)})")
            records = list(_parse(reader, has_time="timestamp" in fields))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InteractionsError(f"cannot read interactions {path}: {exc}") from None
    return from_records(records, item_ids, min_rating=min_rating)


def from_records(records: Iterable[tuple[int, str, str, float | str, float | str]], item_ids: Sequence[str], *,
                 min_rating: float | None = None) -> LoadReport:
    """Build Interactions from (line, user_id, item_id, rating, time) tuples.

    A str in place of rating or time is the reason that row is bad; a NaN rating is implicit feedback.
    """
    row_of = {iid: r for r, iid in enumerate(item_ids)}
    bad: list[BadRow] = []
    below = 0
    latest: dict[tuple[str, int], tuple[float, int, float]] = {}
    duplicates = 0
    for line, user, item, rating, when in records:
        reason = _problem(user, item, rating, when, row_of)
        if reason:
            bad.append(BadRow(line, user, item, reason))
            continue
        rating, when = float(rating), float(when)  # _problem found no reason: both are numbers
        if min_rating is not None and not math.isnan(rating) and rating < min_rating:
            below += 1
            continue
        key = (user, row_of[item])
        if key in latest:
            duplicates += 1
            if (when, line) < latest[key][:2]:
                continue
        latest[key] = (float(when), line, float(rating))
    user_ids = tuple(sorted({u for u, _ in latest}))
    uidx = {u: i for i, u in enumerate(user_ids)}
    keys = list(latest)
    vals = list(latest.values())
    inter = Interactions(
        users=np.array([uidx[u] for u, _ in keys], dtype=np.int64),
        rows=np.array([r for _, r in keys], dtype=np.int64),
        times=np.array([v[0] for v in vals], dtype=np.float64),
        ratings=np.array([v[2] for v in vals], dtype=np.float32),
        user_ids=user_ids,
        n_items=len(item_ids),
    )
    reasons: dict[str, int] = {}
    for b in bad:
        key = b.reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    return LoadReport(inter, tuple(bad), duplicates, below, reasons)


def _parse(reader: csv.DictReader, *, has_time: bool) -> Iterable[tuple[int, str, str, float | str, float | str]]:
    for line, row in enumerate(reader, start=2):
        raw = (row.get("rating") or "").strip()
        try:
            rating: float | str = float(raw) if raw else math.nan
        except ValueError:
            rating = f"bad rating: {raw[:40]!r} is not a number"
        if isinstance(rating, float) and math.isinf(rating):
            rating = f"bad rating: {raw!r} is not finite"
        when = parse_time(row.get("timestamp")) if has_time else float(line)
        yield line, (row.get("user_id") or "").strip(), (row.get("item_id") or "").strip(), rating, when


def parse_time(raw: str | None) -> float | str:
    """Seconds since the epoch from a number or an ISO 8601 date; an error reason (str) when unparsable."""
    text = (raw or "").strip()
    if not text:
        return "unparsable time: empty timestamp"
    try:
        value = float(text)
        return value if math.isfinite(value) else f"unparsable time: {text!r}"
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"unparsable time: {text[:40]!r} is neither epoch seconds nor ISO 8601"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _problem(user: str, item: str, rating: float | str, when: float | str, row_of: dict[str, int]) -> str | None:
    if not user:
        return "empty user_id"
    if not item:
        return "empty item_id"
    if item not in row_of:
        return f"unknown item: {item[:60]!r} is not in the store"
    for reason in (rating, when):
        if isinstance(reason, str):
            return reason
    return None


def write_interactions(path: str | Path, rows: Iterable[tuple[str, str, float | str, float | str]]) -> Path:
    """Write (user_id, item_id, rating, timestamp) tuples as an interactions CSV (for tools and tests)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path
