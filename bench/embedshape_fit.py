"""Harvest real embeddings of the default encoder and fit the embedshape profile (python bench/embedshape_fit.py).

Real data: the demo store (.mmrec/stores/demo, 950 Tux Paint stamps, 134 sounds) plus images,
captions and sounds from Debian packages that the aligned heads never saw and that are not reserved
for evaluation (no OpenClipart, emoji artwork, GCompris; no Tux Paint beyond the demo):

- wesnoth-1.16-data: 238 portraits, 400 unit stills (seeded sample of ~960), 98 items, 42 scenery
  pieces and 159 attack icons, captioned by file and folder names; its 291 sound effects for audio
- gnome-icon-theme: 315 48x48 icons of the descriptive freedesktop contexts, captioned by icon name

In all 2,202 image-caption pairs (950 demo + 1,252 packages) and 425 sounds (134 + 291; the audio
scaler is fit over all 425, as ingest fits it over a catalog). Each package is fetched with
`apt-get download` and unpacked with `dpkg-deb -x` under CACHE (gitignored, nothing is installed);
the encoded vectors are cached there too (real.npz). On the 2-core CPU the first harvest takes about
5.5 minutes (encoding), the calibration about 6 more; a refit from the cache about 6.
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    from embedshape import Shape

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".mmrec" / "embedshape-cache"
sys.path.insert(0, str(ROOT / "scripts"))
from aligned_sources import unpack  # noqa: E402  (apt-get download + dpkg-deb -x, once, into its package cache)
DEMO_STORE = ROOT / ".mmrec" / "stores" / "demo"
WESNOTH = "wesnoth-1.16-data"
GNOME = "gnome-icon-theme"
PACKAGES = (WESNOTH, GNOME)
UNIT_LIMIT = 400  # unit sprites sampled (seeded) out of ~960 stills, so one source does not dominate
_FRAME_WORDS = {"attack", "defend", "die", "melee", "ranged", "moving", "idle", "death", "leading", "healing",
                "flying", "magic", "flame", "bite", "ne", "se", "sw", "nw", "n", "s", "w", "e"}


def words(name: str) -> str:
    """'mage-arch+female' / 'face-smile_big' / 'book3' -> 'mage arch female' / 'face smile big' / 'book'."""
    name = re.sub(r"[-_.+]+", " ", name)
    return " ".join(re.sub(r"\d+", " ", name).lower().split())


def _still(stem: str) -> bool:
    """A unit's still image, not an animation frame ('bat-se-5', 'ogre-attack1', 'horse-die')."""
    return not stem[-1].isdigit() and not _FRAME_WORDS & set(re.split(r"[-_+]", stem))


def wesnoth_pairs() -> Iterator[tuple[str, str, str]]:
    """(id, image path, caption) for portraits, unit stills, items, scenery and attack icons."""
    images = unpack(WESNOTH) / "usr/share/games/wesnoth/1.16/data/core/images"
    for path in sorted((images / "portraits").glob("*/*.png")):
        yield f"portrait/{path.parent.name}/{path.stem}", str(path), f"portrait of a {words(path.stem)}, {path.parent.name}"
    stills = [p for p in sorted((images / "units").rglob("*.png")) if _still(p.stem)]
    for path in sorted(random.Random(0).sample(stills, min(UNIT_LIMIT, len(stills)))):
        folder = words(path.relative_to(images / "units").parts[0])
        yield f"unit/{path.relative_to(images / 'units')}", str(path), f"{words(path.stem)}, {folder} unit"
    for kind in ("items", "scenery", "attacks"):
        seen: set[str] = set()
        for path in sorted((images / kind).glob("*.png")):
            name = words(path.stem)
            if name and name not in seen:
                seen.add(name)
                yield f"{kind}/{path.stem}", str(path), name + (" attack icon" if kind == "attacks" else "")


def gnome_pairs() -> Iterator[tuple[str, str, str]]:
    """(id, image path, caption) for 48x48 GNOME icons of the descriptive contexts."""
    base = unpack(GNOME) / "usr/share/icons/gnome/48x48"
    for ctx in ("actions", "categories", "devices", "emblems", "emotes", "places", "status"):
        for path in sorted((base / ctx).glob("*.png")):
            if path.is_symlink():  # aliases of another icon (or dangling)
                continue
            yield f"gnome/{ctx}/{path.stem}", str(path), f"{words(path.stem)} icon"


def wesnoth_sounds() -> list[Path]:
    """Wesnoth's sound effects (hits, deaths, weapons, spells, interface), one file per name stem."""
    base = unpack(WESNOTH) / "usr/share/games/wesnoth/1.16"
    return sorted(p for p in base.rglob("*") if p.suffix in (".ogg", ".wav") and "/music/" not in str(p))


def encode_images(paths: list[str], captions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Default-encoder image and text vectors of the pairs, float32 (n, d) each, the default encoder's dimensions."""
    from mmrec_core.encoders import get_encoders
    from mmrec_core.catalog import load_image

    enc = get_encoders()
    image = np.zeros((len(paths), enc.image.dim), np.float32)
    for start in range(0, len(paths), 64):
        image[start:start + 64] = enc.image.encode([load_image(p) for p in paths[start:start + 64]])
        print(f"  images {min(start + 64, len(paths))}/{len(paths)}", file=sys.stderr, flush=True)
    return enc.text.encode(captions), image


def raw_audio(paths: list[Path]) -> np.ndarray:
    """aisfx raw features float32 (n, 512) of the sound files (the catalog scaler makes the embedding)."""
    from mmrec_core.encoders import get_encoders
    from mmrec_core.catalog import load_audio

    audio = get_encoders().audio
    return np.vstack([audio.features([load_audio(p, sr=audio.sample_rate)]) for p in paths]).astype(np.float32)


def demo_arrays() -> dict[str, np.ndarray]:
    """The demo store's embeddings, its queries' text vectors and its audio clips' paths."""
    from mmrec_core.encoders import get_encoders
    from mmrec_core.store import open_store

    if not (DEMO_STORE / "CURRENT").is_file():
        subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", "assets/demo", "--store", str(DEMO_STORE)],
                       cwd=ROOT, check=True)
    store = open_store(DEMO_STORE)
    ids = {it["id"]: row for row, it in enumerate(store.items)}
    with open(ROOT / "assets/demo/queries.csv", newline="", encoding="utf-8") as f:
        queries = {row["query_id"]: row["text"] for row in csv.DictReader(f)}
    with open(ROOT / "assets/demo/qrels.csv", newline="", encoding="utf-8") as f:
        qrels = [(queries[r["query_id"]], ids[r["item_id"]]) for r in csv.DictReader(f) if r["item_id"] in ids]
    sounds = [str(store.media_path(it["audio"])) for it in store.items if it.get("audio")]
    return {"text": store.embeddings["text"], "image": store.embeddings["image"],
            "audio": store.embeddings["audio"], "query_text": get_encoders().text.encode([q for q, _ in qrels]),
            "query_row": np.array([r for _, r in qrels], np.int64), "sounds": np.array(sounds)}


def harvest() -> dict[str, np.ndarray]:
    """All real vectors, cached in CACHE/real.npz: demo_* (the store) and extra_* (the packages)."""
    path = CACHE / "real.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    demo = demo_arrays()
    pairs = [("wesnoth", *p) for p in wesnoth_pairs()] + [("gnome", *p) for p in gnome_pairs()]
    text, image = encode_images([p[2] for p in pairs], [p[3] for p in pairs])
    sounds = wesnoth_sounds()
    raw = raw_audio([Path(p) for p in demo["sounds"]] + sounds)
    out = {f"demo_{k}": v for k, v in demo.items() if k != "sounds"}
    out.update(extra_text=text, extra_image=image, extra_source=np.array([p[0] for p in pairs]),
               extra_caption=np.array([p[3] for p in pairs]), audio_raw=raw,
               audio_source=np.array(["demo"] * len(demo["sounds"]) + ["wesnoth"] * len(sounds)),
               meta=np.array(json.dumps({"packages": list(PACKAGES), "seconds": round(time.perf_counter() - t0)})))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


# --- fitting ---------------------------------------------------------------------------------------

KEEP = 0.99  # variance share of the kept principal directions; the rest is spread over the kept tail
CROSS_RANK = 128  # image latents that the text cross map reads (the cross-covariance lives in the top ones)
NN_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
EFF_WEIGHT = 0.1  # weight of the effective-dimension error against the NN-quantile errors in the fit


def principal(x: np.ndarray, *, keep: float = KEEP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean (d,), sd (r,) and directions (r, d) of the top principal components of x (n, d), float64.

    The variance beyond `keep` is added evenly to the kept second half, so the total variance (hence the
    unit-norm rows' mean-vs-noise balance) is the real one."""
    mu = x.mean(axis=0)
    c = (x - mu).astype(np.float64)
    ev, vec = np.linalg.eigh(c.T @ c / len(x))
    ev, vec = np.clip(ev[::-1], 0, None), vec[:, ::-1]
    r = int(np.searchsorted(np.cumsum(ev) / ev.sum(), keep)) + 1
    kept = ev[:r].copy()
    kept[r // 2:] += (ev.sum() - kept.sum()) / (r - r // 2)
    return mu, np.sqrt(kept), vec[:, :r].T


def real_sets(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pooled real vectors: text/image pairs (demo + packages) and audio (the pooled catalog's scaler)."""
    from mmrec_core.encoders.librosa_audio import AudioScaler

    scaler = AudioScaler.fit(raw["audio_raw"], dim=raw["audio_raw"].shape[1])
    return {"text": np.vstack([raw["demo_text"], raw["extra_text"]]),
            "image": np.vstack([raw["demo_image"], raw["extra_image"]]), "audio": scaler.apply(raw["audio_raw"])}


def base_profile(real: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Means, scaled bases and the cross map, before the family parameters are calibrated."""
    out: dict[str, np.ndarray] = {}
    mu_i, sd_i, dir_i = principal(real["image"])
    z = (real["image"] - mu_i) @ dir_i.T / sd_i  # whitened image latents of the real pairs
    mu_t = real["text"].mean(axis=0)
    cross = z[:, :CROSS_RANK].T @ (real["text"] - mu_t) / len(z)  # least squares: z is white in-sample
    _, sd_t, dir_t = principal(real["text"] - mu_t - z[:, :CROSS_RANK] @ cross)
    mu_a, sd_a, dir_a = principal(real["audio"])
    for m, mu, sd, d in (("image", mu_i, sd_i, dir_i), ("text", mu_t, sd_t, dir_t), ("audio", mu_a, sd_a, dir_a)):
        out[f"mean_{m}"], out[f"basis_{m}"] = mu, sd[:, None] * d
    out["cross"] = cross
    return out


def nn_profile(x: np.ndarray) -> np.ndarray:
    """NN_QUANTILES of each row's nearest-neighbour cosine among all rows of x, then the effective dimension
    (participation ratio of the covariance), both from one Gram matrix: float64 (len(NN_QUANTILES) + 1,)."""
    gram = (x @ x.T).astype(np.float64)
    row = gram.mean(axis=0)
    centred = gram - row[:, None] - row[None, :] + row.mean()  # the Gram matrix of the centred rows
    eff = np.trace(centred) ** 2 / np.sum(centred ** 2)
    np.fill_diagonal(gram, -2.0)
    return np.append(np.quantile(gram.max(axis=1), NN_QUANTILES), eff)


def profile_loss(generated: np.ndarray, real: np.ndarray) -> float:
    """Squared NN-quantile errors plus EFF_WEIGHT x the squared relative error of the effective dimension."""
    return float(np.sum((generated[:-1] - real[:-1]) ** 2) + EFF_WEIGHT * (generated[-1] / real[-1] - 1) ** 2)


def _generated(shape: "Shape", modality: str, n_real: int) -> np.ndarray:
    """nn_profile of the first n_real generated rows (audio: the first n_real sounding rows)."""
    if modality != "audio":
        return nn_profile(shape.rows(np.arange(n_real), modalities=(modality,))[modality])
    rows = np.arange(int(3 * n_real / shape.params["audio_frac"]))
    return nn_profile(shape.rows(rows[shape.has_audio(rows)][:n_real], modalities=("audio",))["audio"])


def fit_families(shape: "Shape", real: dict[str, np.ndarray]) -> dict[str, float]:
    """family_size and beta_lo/hi per modality matching the real NN-cosine quantiles and effective dimension
    at the real N (grid search; the family size is shared, each modality's spread range is its own)."""
    from dataclasses import replace

    target = {m: nn_profile(x) for m, x in real.items()}
    ranges = [(lo, hi) for lo in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3) for hi in np.arange(0.2, 1.01, 0.1) if hi > lo]
    best: tuple[float, dict[str, float]] | None = None
    for size in (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 11.0):
        params, total = {**shape.params, "family_size": size}, 0.0
        for m in ("image", "text", "audio"):  # text reads the image latent: image first
            losses = []
            for lo, hi in ranges:
                trial = replace(shape, params={**params, f"beta_lo_{m}": lo, f"beta_hi_{m}": round(float(hi), 2)})
                losses.append(profile_loss(_generated(trial, m, len(real[m])), target[m]))
            lo, hi = ranges[int(np.argmin(losses))]
            params.update({f"beta_lo_{m}": lo, f"beta_hi_{m}": round(float(hi), 2)})
            total += min(losses)
        print(f"  family size {size:4.1f}: loss {total:.4f} " + " ".join(
            f"{m} {params[f'beta_lo_{m}']:.2f}-{params[f'beta_hi_{m}']:.2f}" for m in ("image", "text", "audio")),
            file=sys.stderr, flush=True)
        if best is None or total < best[0]:
            best = (total, params)
    assert best is not None
    return best[1]


def fit_rho(shape: "Shape", kind: str, target: float, n_rows: int) -> float:
    """rho (bisection) such that a query's mean cosine to its source row's own vector is `target`."""
    from dataclasses import replace

    modality = "text" if kind == "text" else "image"
    lo, hi = 0.0, 1.0
    for _ in range(14):
        rho = (lo + hi) / 2
        trial = replace(shape, params={**shape.params, f"rho_{kind}": rho})
        q, src = getattr(trial, f"{kind}_queries")(n_rows, 2000)
        cos = float(np.mean(np.sum(q * trial.rows(src)[modality], axis=1)))
        lo, hi = (rho, hi) if cos < target else (lo, rho)
    return (lo + hi) / 2


def same_name_image_cos(raw: dict[str, np.ndarray]) -> float:
    """Mean image cosine of demo stamps that share a name ('frog', 'frog-1'): two pictures of one thing."""
    from mmrec_core.store import open_store

    groups: dict[str, list[int]] = {}
    for row, it in enumerate(open_store(DEMO_STORE).items):
        groups.setdefault(re.sub(r"-\d+$", "", it["id"]), []).append(row)
    img = raw["demo_image"]
    cos = [float(img[a] @ img[b]) for g in groups.values() for i, a in enumerate(g) for b in g[i + 1:]]
    return float(np.mean(cos))


def real_stats(raw: dict[str, np.ndarray], real: dict[str, np.ndarray], audio_frac: float) -> dict[str, Any]:
    """What the report compares against: measure() of the pooled real set, plus the rank checks."""
    from embedshape_report import measure, ranks

    stats = measure(real)
    stats["audio_frac"] = audio_frac  # the real audio vectors are a catalog of their own; the demo says how many
    n_demo = len(raw["demo_text"])
    stats["ranks"] = {
        "pooled item text -> own image": {**ranks(real["text"], real["image"], np.arange(len(real["text"]))),
                                          "n": len(real["text"])},
        "demo query -> own image": {**ranks(raw["demo_query_text"], raw["demo_image"], raw["demo_query_row"]),
                                    "n": n_demo},
        "packages item text -> own image": {**ranks(raw["extra_text"], raw["extra_image"],
                                                    np.arange(len(raw["extra_text"]))), "n": len(raw["extra_text"])},
    }
    stats["query_text_cos"] = float(np.mean(np.sum(raw["demo_query_text"] * raw["demo_text"][raw["demo_query_row"]],
                                                   axis=1)))
    stats["image_query_cos"] = same_name_image_cos(raw)
    stats["n_audio"] = len(real["audio"])
    return stats


def fit(path: Path) -> None:
    """Harvest (cached), fit, calibrate and write the profile to path."""
    from dataclasses import replace

    from embedshape import DIMS, Shape

    t0 = time.perf_counter()
    raw = harvest()
    real = real_sets(raw)
    audio_frac = float(np.mean(np.abs(raw["demo_audio"]).sum(axis=1) > 0))
    arrays = {k: v.astype(np.float32 if k.startswith("mean") else np.float16) for k, v in base_profile(real).items()}
    f32 = {k: v.astype(np.float32) for k, v in arrays.items()}
    params = {"family_size": 4.0, "rho_text": 0.5, "rho_image": 0.5, "audio_frac": audio_frac,
              **{f"beta_{b}_{m}": v for m in DIMS for b, v in (("lo", 0.1), ("hi", 0.5))}}
    shape = Shape({m: f32[f"mean_{m}"] for m in DIMS}, {m: f32[f"basis_{m}"] for m in DIMS}, f32["cross"], params, {})
    stats = real_stats(raw, real, audio_frac)
    shape = replace(shape, params=fit_families(shape, real))
    rho_text = fit_rho(shape, "text", stats["query_text_cos"], len(real["text"]))
    rho_image = fit_rho(shape, "image", stats["image_query_cos"], len(real["image"]))
    params = {**shape.params, "rho_text": rho_text, "rho_image": rho_image}
    raw_meta = json.loads(str(raw["meta"]))
    meta = {"params": params, "real": stats, "fit_seconds": round(time.perf_counter() - t0),
            "data": {"demo_items": len(raw["demo_text"]), "package_pairs": len(raw["extra_text"]),
                     "sounds": len(real["audio"]), "packages": raw_meta["packages"],
                     "harvest_seconds": raw_meta["seconds"]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {meta['fit_seconds']} s: "
          + json.dumps(params), file=sys.stderr)


def main() -> None:
    import argparse

    from embedshape import DEFAULT_PROFILE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    fit(parser.parse_args().profile)


if __name__ == "__main__":
    main()
