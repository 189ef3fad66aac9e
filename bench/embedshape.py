"""Synthetic catalogs shaped like the default encoder's real embeddings, at any N, row-range by row-range.

Why: the clustered Gaussians of bench/app_latency.py are isotropic around 500 random centres, with no
common mean direction, a flat spectrum and unrelated text and image spaces, which flatters ANN indexes.
Real `aligned+aisfx` vectors are anisotropic (a mean vector of norm 0.4-0.6), their spectrum decays fast
(effective dimension ~50 of 384), they come in families of near-duplicates, and a caption sits across a modality gap
from its own picture (pair cosine 0.26 on the fitted data).

The model, fitted by `python bench/embedshape_fit.py` (bench/embedshape_fit.py says on what data and how
long) and stored in bench/data/embedshape.npz (1.3 MB, float16 bases, no pickles):

- families: runs of consecutive rows; a row starts a new one with probability 1/s (sizes geometric, mean s):
  variants of one thing (the demo's "frog", "frog 1"), listed together as catalogs do. Each family has a
  centre per modality. (A Simon/Yule process, where concepts grow with N, fitted the NN cosines worse and
  its few giant concepts halved the effective dimension.)
- image: x = mean + U diag(sd) z, (U, sd) the top principal directions holding 99% of the real variance
  (the last 1% spread over the kept second half, so the balance of mean and spread in a unit row is the
  real one); z = sqrt(1-b) c + sqrt(b) w, c the family centre, w the row's own draw, both N(0, I), and b
  the row's within-family share, uniform in [b_lo, b_hi] (one closeness per row for all modalities: a
  near-copy picture has a near-copy caption). z is N(0, I) whatever b, so the covariance is the real one.
- text: mean_t + X z[:128] + U_t diag(sd_t) u: X is the least-squares map from the whitened image latents
  to the texts of the same real pairs (it reproduces their cross-covariance, hence the pair cosine),
  (U_t, sd_t) the principal directions of what X leaves, u split into family centre and own draw as above.
  Mean, X and U_t all lie in the encoder's text subspace; the two means carry the modality gap.
- audio: the same recipe in its own space; whole families have a sound or not (a hashed 14%, the demo's).
- s and each modality's [b_lo, b_hi] are chosen by grid search to match the real nearest-neighbour cosine
  quantiles (10-90%) and the effective dimension at the real N (2,202 pairs, 425 sounds).
- queries redraw part of the row's own draw: w -> rho w + sqrt(1-rho^2) w'. A text query keeps the row's
  image latent, its family's text centre and rho_t of its text draw (rho_t fitted to 0.88, the demo
  queries' cosine with their items' texts); an image query keeps the family centre and rho_i of the row's
  draw, fitted to 0.81, the image cosine of two demo stamps sharing a name (the fit gives rho_i = 0: a new
  member of the row's family is already about that close).

Randomness is counter-based: Philox keyed by (seed, stream, block), blocks of 16 rows for the rows' own
draws, one per family centre, and hashed per-row uniforms; so the same rows come out whatever the chunking,
and a query regenerates only its source row. Items cost ~0.4 s of one core per 10k rows (all modalities)
and are built in pieces of 8,192 rows: 1M rows in chunks of 20k peak at ~0.6 GB resident (chunks of 50k:
~1.1 GB, since a caller's loop holds the previous chunk while the next one is built).

Where it is not like the real data (numbers: `report`):
- the latents are Gaussian: the real pool is a mixture of sources (stamps, game art, icons) and is matched
  in mean, covariance and NN-cosine quantiles only. Cross-modal quality is one regime, where the real pool
  has two (the demo is the heads' training data: caption -> own image median rank 2 of 950; the unseen
  packages: 314 of 1,252), so the generated median rank is lower than the pooled real one at equal R@10.
- families are bounded, so past the fitted N neighbours close in only as fast as a denser Gaussian base
  allows (mean image NN cosine 0.825 at 2,202 rows, 0.835 at 20k); the real one rises 0.03 per doubling
  up to 2,202 and probably keeps densifying faster (see the report's growth lines).
- the near-duplicate tail is a little short (NN cosine 90% quantile 0.93 vs 0.95-0.97: real captions
  repeat exactly, generated ones never do).
- audio is fitted on 425 sounds: its spectrum beyond rank 424 is not known.
Usage: python bench/embedshape_fit.py [--profile P] | python bench/embedshape_report.py [--n 20000] [--profile P]
(this module is the model both use; it runs nothing itself)
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.vectors import l2_normalize  # noqa: E402



def _default_dims() -> dict[str, int]:
    """Each modality's dimension in the default encoder (declared up front: no model loads)."""
    from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders

    encoders = get_encoders(DEFAULT_ENCODER)
    return {m: getattr(encoders, m).dim for m in ("text", "image", "audio")}


DIMS = _default_dims()
DEFAULT_PROFILE = Path(__file__).resolve().parent / "data" / "embedshape.npz"
SUB = 16  # rows per random sub-block of the rows' own draws
SPARSE = 256  # rows per block of the audio draws (only sounding rows draw)
PIECE = 8192  # rows generated at once inside items(), so the working set stays small whatever the chunk
_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)
_STREAMS = {name: i for i, name in enumerate((
    "family", "closeness", "audio", "source", "text_query", "image_query", "audio_row",
    *(f"{kind}_{m}" for kind in ("centre", "row", "clustered") for m in DIMS), "clustered_label",
    "clustered_centre"), start=1)}


def _mix(x: np.ndarray | int) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=np.uint64) + _GOLD
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@functools.lru_cache(maxsize=256)
def _key(seed: int, stream: str) -> int:
    return int(_mix(_mix(seed) ^ np.uint64(_STREAMS[stream])))


class _Philox:
    """One Philox generator re-keyed per block: key (seed, stream), block number, counter 0.
    Re-keying an existing bit generator costs ~2 us; building a new one ~30 us."""

    def __init__(self, seed: int, stream: str) -> None:
        self.key = _key(seed, stream)
        self.bits = np.random.Philox(key=[0, 0])
        self.gen = np.random.Generator(self.bits)
        self.state = self.bits.state

    def at(self, block: int) -> np.random.Generator:
        self.state["state"]["key"][:] = [self.key, block % (1 << 64)]
        self.state["state"]["counter"][:] = 0
        self.state.update(buffer_pos=4, has_uint32=0, uinteger=0)  # empty buffer: the next draw starts at counter 0
        self.bits.state = self.state
        return self.gen


def _rng(seed: int, stream: str, block: int) -> np.random.Generator:
    return _Philox(seed, stream).at(block)


def hash_uniform(seed: int, stream: str, rows: np.ndarray) -> np.ndarray:
    """float64 (n,) in [0, 1): a pure function of (seed, stream, row), for random access per row."""
    return (_mix(rows.astype(np.uint64) ^ np.uint64(_key(seed, stream))) >> np.uint64(11)) * 2.0 ** -53


def sub_normals(seed: int, stream: str, idx: np.ndarray, width: int, *, sub: int = SUB) -> np.ndarray:
    """Standard normals float32 (n, width) for positions idx: sub-block idx // sub, row idx % sub of it."""
    blocks, inverse = np.unique(idx // sub, return_inverse=True)
    out = np.empty((len(blocks), sub, width), np.float32)
    philox = _Philox(seed, stream)
    for j, b in enumerate(blocks):
        philox.at(int(b)).standard_normal(out=out[j], dtype=np.float32)
    flat = out.reshape(-1, width)
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and np.all(np.diff(idx) == 1):  # a row range: a view
        first = int(idx[0] - blocks[0] * sub)
        return flat[first : first + len(idx)]
    return flat[inverse.ravel() * sub + idx % sub]


def founders(rows: np.ndarray, seed: int, mean_size: float) -> np.ndarray:
    """int64 (n,): the first row of each row's family. Families are runs of consecutive rows: a row starts
    a new one with probability 1/mean_size (row 0 always), so sizes are geometric and any row is found alone."""
    first = rows.astype(np.int64).copy()
    todo = np.flatnonzero((first > 0) & (hash_uniform(seed, "family", first) >= 1.0 / mean_size))
    while len(todo):
        first[todo] -= 1
        todo = todo[(first[todo] > 0) & (hash_uniform(seed, "family", first[todo]) >= 1.0 / mean_size)]
    return first


def hashed_fraction(keys: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """bool (n,): a hashed `fraction` of the keys (rows or families) is True."""
    return hash_uniform(seed, "audio", keys) < fraction


def sources(n_rows: int, n_queries: int, seed: int) -> np.ndarray:
    """int64 (q,): the catalog rows that queries are about; distinct when q <= n_rows."""
    if n_rows < 1 or n_queries < 0:
        raise ValueError(f"need n_rows >= 1 and n_queries >= 0, got n_rows={n_rows}, n_queries={n_queries}")
    rng = _rng(seed, "source", n_rows)
    if n_queries <= n_rows:
        return rng.choice(n_rows, n_queries, replace=False).astype(np.int64)
    return rng.integers(0, n_rows, n_queries).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Shape:
    """A fitted profile: per-modality mean (d,) and scaled basis (r, d) = sd * directions, the cross map
    (k, d_text) from the image latent to text, the family/query parameters and the real statistics."""

    mean: dict[str, np.ndarray]
    basis: dict[str, np.ndarray]
    cross: np.ndarray
    params: dict[str, float]
    real: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PROFILE) -> "Shape":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
        f32 = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
        return cls({m: f32[f"mean_{m}"] for m in DIMS}, {m: f32[f"basis_{m}"] for m in DIMS}, f32["cross"],
                   meta["params"], meta["real"])

    def rank(self, modality: str) -> int:
        return int(self.basis[modality].shape[0])

    def has_audio(self, rows: np.ndarray, seed: int = 0) -> np.ndarray:
        """bool (n,): whether the rows have a sound; whole families have one or not."""
        return hashed_fraction(founders(rows, seed, self.params["family_size"]), seed, self.params["audio_frac"])

    def _parts(self, rows: np.ndarray, seed: int, modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Per modality: the family centre c_m and the row's own draw w_m (float32 (n, r)) and the row's
        within-family share b_m (float32 (n, 1)); text and image only (audio: see rows())."""
        first = founders(rows, seed, self.params["family_size"])
        close = hash_uniform(seed, "closeness", rows).astype(np.float32)[:, None]  # one closeness, all modalities
        parts = {}
        for m in modalities:
            lo, hi = self.params[f"beta_lo_{m}"], self.params[f"beta_hi_{m}"]
            parts[f"c_{m}"] = sub_normals(seed, f"centre_{m}", first, self.rank(m), sub=1)
            parts[f"b_{m}"] = np.float32(lo) + np.float32(hi - lo) * close
            if m != "audio":
                parts[f"w_{m}"] = sub_normals(seed, f"row_{m}", rows, self.rank(m))
        return parts

    @staticmethod
    def _latent(parts: dict[str, np.ndarray], m: str, rho: float = 1.0, fresh: np.ndarray | None = None) -> np.ndarray:
        """sqrt(1-b) c + sqrt(b) w; with rho < 1, w -> rho w + sqrt(1-rho^2) fresh (a query's redraw)."""
        b = parts[f"b_{m}"]
        own = parts[f"w_{m}"] * (np.sqrt(b) * np.float32(rho if fresh is not None else 1.0))
        if fresh is not None:
            own += np.sqrt(b * np.float32(1 - rho ** 2)) * fresh
        own += np.sqrt(1 - b) * parts[f"c_{m}"]
        return own

    def _text(self, z_image: np.ndarray, u_text: np.ndarray) -> np.ndarray:
        x = u_text @ self.basis["text"]
        x += z_image[:, : self.cross.shape[0]] @ self.cross
        x += self.mean["text"]
        return l2_normalize(x)

    def _vectors(self, m: str, z: np.ndarray) -> np.ndarray:
        x = z @ self.basis[m]
        x += self.mean[m]
        return l2_normalize(x)

    def rows(self, rows: np.ndarray, *, seed: int = 0,
             modalities: tuple[str, ...] = tuple(DIMS)) -> dict[str, np.ndarray]:
        """Catalog rows at arbitrary (non-negative) indices: float32 (n, d) per modality asked for."""
        rows = np.asarray(rows, dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        if "text" in modalities or "image" in modalities:
            parts = self._parts(rows, seed, ("image", "text") if "text" in modalities else ("image",))
            z = self._latent(parts, "image")
            if "image" in modalities:
                out["image"] = self._vectors("image", z)
            if "text" in modalities:
                out["text"] = self._text(z, self._latent(parts, "text"))
        if "audio" in modalities:
            out["audio"] = np.zeros((len(rows), DIMS["audio"]), np.float32)
            has = self.has_audio(rows, seed)
            if has.any():
                parts = self._parts(rows[has], seed, ("audio",))
                parts["w_audio"] = self._audio_draws(rows[has], seed)
                out["audio"][has] = self._vectors("audio", self._latent(parts, "audio"))
        return out

    def _audio_draws(self, rows: np.ndarray, seed: int) -> np.ndarray:
        """The own draws of sounding rows, float32 (n, r): each SPARSE-row block draws one row of normals
        per sounding row in it, in row order, so silent rows cost nothing."""
        out = np.empty((len(rows), self.rank("audio")), np.float32)
        philox = _Philox(seed, "audio_row")
        for b in np.unique(rows // SPARSE):
            order = np.cumsum(self.has_audio(np.arange(b * SPARSE, (b + 1) * SPARSE), seed)) - 1
            normals = philox.at(int(b)).standard_normal((int(order[-1]) + 1, self.rank("audio")), dtype=np.float32)
            sel = rows // SPARSE == b
            out[sel] = normals[order[rows[sel] - b * SPARSE]]
        return out

    def items(self, start: int, stop: int, *, seed: int = 0) -> dict[str, np.ndarray]:
        """Rows [start, stop) of the synthetic catalog: float32 (stop-start, d) per modality, L2-normalised
        rows, audio rows all-zero for items without audio (same fraction as real). Deterministic: the same
        rows come out whatever chunking the caller uses (seed per row block internally)."""
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        if stop - start <= PIECE:
            return self.rows(np.arange(start, stop), seed=seed)
        out = {m: np.empty((stop - start, d), np.float32) for m, d in DIMS.items()}
        for lo in range(start, stop, PIECE):
            piece = self.rows(np.arange(lo, min(lo + PIECE, stop)), seed=seed)
            for m in DIMS:
                out[m][lo - start : lo - start + len(piece[m])] = piece[m]
        return out

    def text_queries(self, n_rows: int, n_queries: int, *, seed: int = 1,
                     catalog_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(queries float32 (q, d_text) L2-normalised, source_rows int64 (q,)): text queries written 'about' catalog
        rows in [0, n_rows) (like a caption/short query of that item, in the TEXT space, across the modality gap
        from the item's image vector), computed without materialising the catalog (regenerate only those rows)."""
        src = sources(n_rows, n_queries, seed)
        parts = self._parts(src, catalog_seed, ("image", "text"))
        fresh = sub_normals(seed, "text_query", np.arange(len(src)), self.rank("text"))
        u = self._latent(parts, "text", self.params["rho_text"], fresh)
        return self._text(self._latent(parts, "image"), u), src

    def image_queries(self, n_rows: int, n_queries: int, *, seed: int = 2,
                      catalog_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Image queries: a NEW picture of the same thing as a catalog row (not the row itself), image space."""
        src = sources(n_rows, n_queries, seed)
        parts = self._parts(src, catalog_seed, ("image",))
        fresh = sub_normals(seed, "image_query", np.arange(len(src)), self.rank("image"))
        return self._vectors("image", self._latent(parts, "image", self.params["rho_image"], fresh)), src


# --- the plain clustered set (bench/app_latency.py's recipe), chunked -----------------------------

CLUSTERS, SPREAD = 500, 0.7
AUDIO_FRAC = 134 / 950  # the demo's fraction of items with a sound (app_latency.py used 0.2)


@functools.lru_cache(maxsize=2)
def _centres(seed: int) -> dict[str, np.ndarray]:
    """500 standard-normal centres per modality, float32 (500, d)."""
    rng = _rng(seed, "clustered_centre", 0)
    return {m: rng.standard_normal((CLUSTERS, d), dtype=np.float32) for m, d in DIMS.items()}


def _labels(rows: np.ndarray, seed: int) -> np.ndarray:
    return (hash_uniform(seed, "clustered_label", rows) * CLUSTERS).astype(np.int64)


def clustered(start: int, stop: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """The plain clustered synthetic set (Gaussian clusters around random centres, as bench/app_latency.py does),
    same dims and contract, for comparison."""
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    rows = np.arange(start, stop)
    labels, centres = _labels(rows, seed), _centres(seed)
    out = {}
    for m, d in DIMS.items():
        out[m] = np.empty((len(rows), d), np.float32)
        for lo in range(0, len(rows), PIECE):
            part = slice(lo, lo + PIECE)
            out[m][part] = l2_normalize(centres[m][labels[part]] + SPREAD * sub_normals(seed, f"clustered_{m}",
                                                                                       rows[part], d))
    out["audio"][~hashed_fraction(rows, seed, AUDIO_FRAC)] = 0
    return out


def clustered_text_queries(n_rows: int, n_queries: int, seed: int = 1,
                           catalog_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Text queries about clustered rows in [0, n_rows): a fresh text of the row's cluster (its text centre plus
    new noise). The clustered set's text and image centres are unrelated, as in app_latency.py."""
    src = sources(n_rows, n_queries, seed)
    noise = sub_normals(seed, "text_query", np.arange(len(src)), DIMS["text"])
    return l2_normalize(_centres(catalog_seed)["text"][_labels(src, catalog_seed)] + SPREAD * noise), src
