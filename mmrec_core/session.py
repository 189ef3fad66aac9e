"""The dashboard's view (store, query, weights, strategy, K, page), its URL round trip and upload staging; pure."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from mmrec_core.errors import CatalogError, StoreError
from mmrec_core.retrieval import MODALITIES, Weights, list_strategies

DEFAULT_STORE = "demo"
DEFAULT_QUERY = "a cute animal"
PAGES = ("search", "catalog", "profile", "recommend", "map", "compare")
MAX_K = 50
MAX_QUERY_CHARS = 500
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_WEIGHT_PARAMS = {"text": "wt", "image": "wi", "audio": "wa"}


@dataclass(frozen=True)
class View:
    """What is on screen; everything needed to reproduce it from a link."""

    store: str = DEFAULT_STORE
    text: str = DEFAULT_QUERY
    items: tuple[str, ...] = ()  # "more like this" seed item ids
    weights: Weights = field(default_factory=lambda: Weights(text=0.5, image=0.5, audio=0.5))
    strategy: str = "weighted"
    k: int = 12
    page: str = "search"

    @property
    def alpha(self) -> float:
        """Text<->image balance implied by the weights: image / (text + image); 0.5 when both are 0."""
        total = self.weights.text + self.weights.image
        return self.weights.image / total if total > 0 else 0.5


def with_alpha(view: View, alpha: float) -> View:
    """Set text = 1 - alpha and image = alpha (Weights.from_alpha); audio is kept."""
    return replace(view, weights=Weights.from_alpha(float(alpha), audio=view.weights.audio))


def with_weight(view: View, modality: str, value: float) -> View:
    """Change one modality's weight; alpha follows from the new text/image weights."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return replace(view, weights=replace(view.weights, **{modality: float(value)}))


def with_settled(view: View, weights: Mapping[str, object], strategy: str) -> View:
    """The weights and strategy a browser settled on (the Search page re-ranks in the page, then says so).

    Raises FusionError or UnknownNameError on values the library would refuse (from a crafted message too)."""
    from mmrec_core.retrieval import get_strategy

    get_strategy(strategy)
    try:
        values = {m: float(weights.get(m, 0.0)) for m in MODALITIES}  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        from mmrec_core.errors import FusionError

        raise FusionError(f"weights {weights!r} must map {', '.join(MODALITIES)} to numbers") from None
    return replace(view, weights=Weights(**values), strategy=strategy)


def valid_store_name(name: str) -> str:
    """A store name is a folder name: 1-40 letters, digits, '-' or '_', starting with a letter or digit."""
    name = (name or "").strip()
    if not _STORE_NAME.match(name):
        raise StoreError(f"store name {name!r} is not allowed: use 1-40 letters, digits, '-' or '_'")
    return name


def stores_root() -> Path:
    """Where stores live: $MMREC_HOME/stores, default .mmrec/stores (relative to the working folder)."""
    return Path(os.environ.get("MMREC_HOME") or ".mmrec") / "stores"


def to_params(view: View) -> dict[str, str | list[str]]:
    """URL query parameters for a view (strings only; weights rounded to 2 decimals)."""
    params: dict[str, str | list[str]] = {
        "page": view.page,
        "store": view.store,
        "q": view.text,
        "alpha": f"{view.alpha:.2f}",
        **{p: f"{getattr(view.weights, m):.2f}" for m, p in _WEIGHT_PARAMS.items()},
        "strategy": view.strategy,
        "k": str(view.k),
    }
    if view.items:
        params["item"] = list(view.items)
    return params


def from_params(params: Mapping[str, str | Sequence[str]], default: View = View()) -> tuple[View, list[str]]:
    """Parse URL query parameters into a view; bad values keep the default and are reported.

    Explicit weights (wt, wi, wa) win over alpha; alpha alone sets text=1-alpha, image=alpha.
    """
    problems: list[str] = []
    get = lambda key: _last(params.get(key))  # noqa: E731
    view = default
    if get("page") is not None:
        page = get("page")
        view = replace(view, page=page) if page in PAGES else _bad(problems, "page", page, view)
    if get("store") is not None:
        try:
            view = replace(view, store=valid_store_name(get("store")))
        except StoreError:
            _bad(problems, "store", get("store"), view)
    if get("q") is not None:
        view = replace(view, text=get("q")[:MAX_QUERY_CHARS])
    if "item" in params:
        raw = params["item"]
        items = [raw] if isinstance(raw, str) else list(raw)
        view = replace(view, items=tuple(i for i in items if i)[:20])
    alpha = _number(problems, "alpha", get("alpha"), 0.0, 1.0)
    if alpha is not None:
        view = with_alpha(view, alpha)
    for m, p in _WEIGHT_PARAMS.items():
        w = _number(problems, p, get(p), 0.0, 1.0)
        if w is not None:
            view = with_weight(view, m, w)
    if get("strategy") is not None:
        s = get("strategy")
        view = replace(view, strategy=s) if s in list_strategies() else _bad(problems, "strategy", s, view)
    k = _number(problems, "k", get("k"), 1, MAX_K)
    if k is not None:
        view = replace(view, k=int(k)) if float(k).is_integer() else _bad(problems, "k", get("k"), view)
    return view, problems


def _last(value: str | Sequence[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value[-1] if len(value) else None


def _bad(problems: list[str], key: str, value: object, view: View) -> View:
    problems.append(f"ignored link parameter {key}={str(value)[:40]!r}")
    return view


def _number(problems: list[str], key: str, raw: str | None, lo: float, hi: float) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # also rejects NaN
        problems.append(f"ignored link parameter {key}={raw[:40]!r}: expected a number in [{lo}, {hi}]")
        return None
    return value


def md_escape(text: str) -> str:
    """Escape user text for st.markdown/st.caption so it shows literally (no links, emphasis, colours, LaTeX)."""
    text = re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~$=^])", r"\\\1", str(text))
    # ':' starts emoji and colour directives (:red[...]); a zero-width space after it breaks them.
    return text.replace(":", ":\u200b").replace("\n", " ")


def stage_upload(files: Sequence[tuple[str, bytes]], dest: Path, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Write uploaded files into `dest` as something `ingest` reads: the .zip itself, or a catalog folder.

    Either one .zip, or one .csv (saved as catalog.csv) plus media files; each media file goes to
    every path in the CSV's image/audio/video columns that ends with its name, else to the top level.
    """
    if not files:
        raise CatalogError("nothing uploaded: choose a .zip catalog, or catalog.csv and its media files")
    total = sum(len(data) for _, data in files)
    if total > max_bytes:
        # MB as Streamlit counts server.maxUploadSize (2**20 bytes), so the two limits read the same
        raise CatalogError(f"upload is {total / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB "
                           "for one catalog, all its files together")
    names = [PurePosixPath(n.replace("\\", "/")).name for n, _ in files]
    zips = [i for i, n in enumerate(names) if n.lower().endswith(".zip")]
    csvs = [i for i, n in enumerate(names) if n.lower().endswith(".csv")]
    dest.mkdir(parents=True, exist_ok=True)
    if zips:
        if len(files) > 1:
            raise CatalogError("upload a .zip on its own (it should hold catalog.csv and the media)")
        data = files[zips[0]][1]
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise CatalogError(f"{names[zips[0]]} is not a zip archive")
        out = dest / "catalog.zip"
        out.write_bytes(data)
        return out
    if len(csvs) != 1:
        got = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        raise CatalogError(f"upload one .zip, or exactly one catalog .csv with its media files; got {got}")
    csv_bytes = files[csvs[0]][1]
    (dest / "catalog.csv").write_bytes(csv_bytes)
    wanted = _media_paths(csv_bytes)
    for i, (name, data) in enumerate(zip(names, (d for _, d in files))):
        if i == csvs[0] or not name or name.startswith("."):
            continue
        targets = [p for p in wanted if PurePosixPath(p).name == name] or [name]
        for rel in targets:
            out = (dest / rel).resolve()
            if dest.resolve() not in out.parents:
                continue  # the catalog parser reports such a path; never write outside dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    return dest


def _media_paths(csv_bytes: bytes) -> list[str]:
    """Relative media paths named in a catalog CSV's image, audio and video columns (best effort)."""
    try:
        rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig", errors="replace"))))
    except csv.Error:
        return []
    out = []
    for row in rows:
        for col in ("image", "audio", "video"):
            value = (row.get(col) or "").strip().replace("\\", "/")
            if value and not value.startswith("/") and ".." not in PurePosixPath(value).parts:
                out.append(value)
    return out


# ---------- one catalog, several encoders ----------

def encoder_slug(spec: str) -> str:
    """A short store-name suffix for an encoder spec: 'bridge', 'aligned', 'openclip-ViT-B-32-3f9a2c'."""
    family, _, arg = spec.partition(":")
    if not arg:
        return re.sub(r"[^A-Za-z0-9_-]", "-", family)[:20]
    arch = re.split(r"[/@]", arg, maxsplit=1)[0]
    digest = hashlib.sha1(spec.encode()).hexdigest()[:6]
    return f"{family}-{re.sub(r'[^A-Za-z0-9_-]', '-', arch)[:16]}-{digest}"


def variant_name(base: str, spec: str) -> str:
    """The store holding catalog `base` encoded with `spec` (still a valid store name)."""
    suffix = encoder_slug(spec)
    return valid_store_name(f"{base[:39 - len(suffix)]}-{suffix}")


def base_of(store: str, spec: str, existing: Sequence[str]) -> str:
    """The catalog a store is a variant of: 'demo-bridge' (spec bridge) -> 'demo' when 'demo' exists."""
    suffix = f"-{encoder_slug(spec)}"
    if store.endswith(suffix) and store[: -len(suffix)] in existing:
        return store[: -len(suffix)]
    return store
