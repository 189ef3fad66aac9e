#!/usr/bin/env python3
"""Build mmrec's built-in demo catalog (assets/demo/) from Debian's Tux Paint stamps.

Source data: the Debian package ``tuxpaint-stamps-default`` (GPL-2.0-or-later).
Each Tux Paint stamp lives under ``usr/share/tuxpaint/stamps/<category path>/`` as

* ``<name>.png`` and/or ``<name>.svg``  - the image (``<name>_mirror.*`` / ``<name>_flip.*``
  are alternate orientations of the same stamp and are ignored),
* ``<name>.txt``                          - captions: the first line is the untagged English
  caption, every further line is ``<locale>.utf8=<caption>`` (e.g. ``fr.utf8=Un merle.``),
* ``<name>.ogg`` / ``<name>.wav``         - optional sound effect (the only audio used here),
* ``<name>_<locale>.ogg``                 - localized sound (ignored),
* ``<name>_desc.ogg`` / ``_desc_<locale>.ogg|wav`` - spoken description (ignored),
* ``<name>.dat``                          - Tux Paint rendering hints (ignored).

Output (``assets/demo/``): catalog.csv, queries.csv, qrels.csv, images/<id>.webp,
sounds/<id>.ogg, LICENSE.txt, SOURCES.md.  The script rebuilds everything from scratch
(the old images/ and sounds/ folders and the generated files are deleted first) and walks
the data in sorted order, so reruns give the same result.

Required tools (Debian/Ubuntu packages):
  * apt, dpkg       - apt-get, apt-cache, dpkg-deb (package download + extraction)
  * librsvg2-bin    - rsvg-convert (renders SVG-only stamps)
  * ffmpeg          - with libvorbis (sound conversion to mono 22050 Hz Ogg Vorbis)
  * base-files      - /usr/share/common-licenses/GPL-2 (copied into LICENSE.txt)
  * Python 3.9+ with Pillow built with WebP support (``pip install pillow``)

  apt-get install librsvg2-bin ffmpeg && pip install pillow

Usage:
  python3 scripts/build_demo.py                 # download the package with apt-get
  python3 scripts/build_demo.py --deb FILE.deb  # use an already downloaded .deb
"""
from __future__ import annotations

import argparse
import collections
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "tuxpaint-stamps-default"
STAMPS_DIR = Path("usr/share/tuxpaint/stamps")
GPL2_PATH = Path("/usr/share/common-licenses/GPL-2")

IMAGE_SIZE = 160          # longest side of every output image, in px
WEBP_QUALITY = 80
SVG_RENDER_SIZE = 640     # SVGs are rendered into this box, then cropped and downscaled
AUDIO_RATE = 22050
AUDIO_QUALITY = 2         # libvorbis -q:a
AUDIO_MAX_SECONDS = 10
MAX_TOTAL_BYTES = 15 * 1024 * 1024

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "assets" / "demo"

CATALOG_COLUMNS = ["id", "title", "description", "image", "audio", "tags", "category", "source"]
QUERY_COLUMNS = ["query_id", "text", "image", "audio"]
QREL_COLUMNS = ["query_id", "item_id", "relevance"]
GENERATED_FILES = ["catalog.csv", "queries.csv", "qrels.csv", "LICENSE.txt", "SOURCES.md"]
GENERATED_DIRS = ["images", "sounds"]

# "fr.utf8=", "pt_BR.utf8=", "ca@valencia.utf8=", "zh_TW.UTF-8=" ...
LOCALE_LINE = re.compile(r"^[A-Za-z]{2,3}(?:_[A-Za-z]{2,4})?(?:@[A-Za-z]+)?\.(?:utf8|utf-8|UTF8|UTF-8)=")
ALT_IMAGE_SUFFIXES = ("_mirror", "_flip")


class BuildError(RuntimeError):
    pass


@dataclass
class Stamp:
    rel_dir: Path          # category path, relative to STAMPS_DIR
    name: str              # file stem
    png: Path | None
    svg: Path | None
    txt: Path | None
    sound: Path | None


# --------------------------------------------------------------------------- tools


def check_tools(need_apt: bool) -> None:
    problems = []
    tools = {"dpkg-deb": "dpkg", "rsvg-convert": "librsvg2-bin", "ffmpeg": "ffmpeg"}
    if need_apt:
        tools = {"apt-get": "apt", "apt-cache": "apt", **tools}
    for tool, pkg in tools.items():
        if shutil.which(tool) is None:
            problems.append(f"missing '{tool}' (apt-get install {pkg})")
    if shutil.which("ffmpeg"):
        enc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
        if "libvorbis" not in enc.stdout:
            problems.append("ffmpeg has no libvorbis encoder (install Debian's ffmpeg package)")
    try:
        from PIL import features  # noqa: F401

        if not features.check("webp"):
            problems.append("Pillow was built without WebP support (pip install --upgrade pillow)")
    except ImportError:
        problems.append("Python package Pillow is missing (pip install pillow)")
    if not GPL2_PATH.is_file():
        problems.append(f"{GPL2_PATH} not found (apt-get install base-files)")
    if problems:
        raise BuildError("required tools are missing:\n  - " + "\n  - ".join(problems))


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"command failed: {' '.join(cmd)}\n{exc.stderr.strip()}") from exc


# --------------------------------------------------------------------------- package


def stamp_dependencies(package: str) -> list[str]:
    """Other tuxpaint-stamps-* packages that `package` depends on (none for 2022.06.04-1)."""
    out = run(["apt-cache", "show", "--no-all-versions", package]).stdout
    deps = []
    for line in out.splitlines():
        if line.startswith(("Depends:", "Pre-Depends:")):
            for alt in line.split(":", 1)[1].split(","):
                name = alt.split("|")[0].split("(")[0].strip().split(":")[0]
                if name.startswith("tuxpaint-stamps") and name != package:
                    deps.append(name)
    return sorted(set(deps))


def download(packages: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    # let apt's unprivileged _apt user write here (avoids the "unsandboxed" warning as root)
    os.chmod(dest, 0o777)
    run(["apt-get", "download", *packages], cwd=dest)
    debs = sorted(dest.glob("*.deb"))
    if not debs:
        raise BuildError(f"apt-get download produced no .deb in {dest}")
    return debs


def deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "-f", str(deb), field]).stdout.strip()


# --------------------------------------------------------------------------- stamps


def find_stamps(root: Path) -> tuple[list[Stamp], list[str]]:
    """Sorted list of stamps under root/STAMPS_DIR, plus notes about skipped files."""
    base = root / STAMPS_DIR
    if not base.is_dir():
        raise BuildError(f"{STAMPS_DIR} not found in the extracted package")
    stamps, notes = [], []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        d = Path(dirpath)
        files = set(filenames)
        stems = sorted({f[:-4] for f in files if f.endswith((".png", ".svg"))})
        image_stems = set(stems)
        for stem in stems:
            if stem.endswith(ALT_IMAGE_SUFFIXES) and stem.rsplit("_", 1)[0] in image_stems:
                continue  # alternate orientation of another stamp
            sound = None
            for ext in (".ogg", ".wav"):
                if stem + ext in files:
                    sound = d / (stem + ext)
                    break
            stamps.append(Stamp(
                rel_dir=d.relative_to(base),
                name=stem,
                png=d / f"{stem}.png" if f"{stem}.png" in files else None,
                svg=d / f"{stem}.svg" if f"{stem}.svg" in files else None,
                txt=d / f"{stem}.txt" if f"{stem}.txt" in files else None,
                sound=sound,
            ))
        rel = d.relative_to(base)
        for f in sorted(files):
            stem, ext = os.path.splitext(f)
            if ext == ".txt" and stem not in image_stems:
                notes.append(f"caption file without image, skipped: {rel / f}")
            elif ext in (".ogg", ".wav") and "_desc" not in stem and stem not in image_stems:
                # localized sounds (<stem>_<locale>.ogg) are expected; report true orphans only
                if not any(stem.startswith(s + "_") for s in image_stems):
                    notes.append(f"sound without image, skipped: {rel / f}")
    return stamps, notes


def english_caption(txt: Path | None) -> str:
    if txt is None:
        return ""
    lines = txt.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff").splitlines()
    for line in lines:
        if line.strip() and not LOCALE_LINE.match(line):
            return " ".join(line.split())
    for loc in ("en_US", "en_GB", "en_AU", "en_CA", "en"):
        for line in lines:
            for suffix in (".utf8=", ".UTF-8="):
                if line.startswith(loc + suffix):
                    return " ".join(line.split("=", 1)[1].split())
    return ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_title(name: str) -> str:
    words = re.sub(r"[_\-]+", " ", name).split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


# --------------------------------------------------------------------------- media


def render_svg(svg: Path, tmp: Path) -> Path:
    out = tmp / "render.png"
    run(["rsvg-convert", "--keep-aspect-ratio", "-w", str(SVG_RENDER_SIZE), "-h",
         str(SVG_RENDER_SIZE), "-o", str(out), str(svg)])
    return out


def convert_image(src: Path, dest: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(src) as im:
        im.load()
        im = im.convert("RGBA")
    bbox = im.getchannel("A").getbbox()
    if bbox is None:
        raise BuildError(f"image is fully transparent: {src}")
    im = im.crop(bbox)
    w, h = im.size
    scale = IMAGE_SIZE / max(w, h)
    # small rasters are upscaled too, so every tile has the same longest side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    im = im.resize(size, Image.LANCZOS)
    if im.getchannel("A").getextrema()[0] == 255:
        im = im.convert("RGB")
    im.save(dest, "WEBP", quality=WEBP_QUALITY, method=4)
    return im.size


def convert_audio(src: Path, dest: Path) -> None:
    fade = 0.3
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", "0:a:0",
         "-t", str(AUDIO_MAX_SECONDS),
         "-af", f"afade=t=out:st={AUDIO_MAX_SECONDS - fade}:d={fade}",
         "-ac", "1", "-ar", str(AUDIO_RATE), "-c:a", "libvorbis", "-q:a", str(AUDIO_QUALITY),
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", str(dest)])


# --------------------------------------------------------------------------- output


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clean_output(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for d in GENERATED_DIRS:
        shutil.rmtree(out / d, ignore_errors=True)
        (out / d).mkdir()
    for f in GENERATED_FILES:
        (out / f).unlink(missing_ok=True)


def build(out: Path, deb: Path | None, keep_temp: bool) -> int:
    check_tools(need_apt=deb is None)
    tmp = Path(tempfile.mkdtemp(prefix="mmrec-demo-"))
    try:
        if deb is None:
            packages = [PACKAGE, *stamp_dependencies(PACKAGE)]
            print(f"downloading {' '.join(packages)} ...", flush=True)
            debs = download(packages, tmp / "debs")
        else:
            debs = [deb.resolve()]
        root = tmp / "root"
        root.mkdir()
        versions = {}
        for d in debs:
            run(["dpkg-deb", "-x", str(d), str(root)])
            versions[deb_field(d, "Package")] = deb_field(d, "Version")
        if PACKAGE not in versions:
            raise BuildError(f"{PACKAGE} .deb not found among {debs}")
        version = versions[PACKAGE]
        print(f"extracted {', '.join(f'{p} {v}' for p, v in versions.items())}", flush=True)

        stamps, notes = find_stamps(root)
        clean_output(out)
        rows, queries, qrels = [], [], []
        seen_ids: dict[str, str] = {}
        for st in stamps:
            title = make_title(st.name)
            if not title:
                notes.append(f"no title possible, skipped: {st.rel_dir / st.name}")
                continue
            item_id = slug("-".join([*st.rel_dir.parts, st.name]))
            if item_id in seen_ids:
                n = 2
                while f"{item_id}-{n}" in seen_ids:
                    n += 1
                notes.append(f"id collision {item_id} ({seen_ids[item_id]} vs {st.rel_dir / st.name})")
                item_id = f"{item_id}-{n}"
            seen_ids[item_id] = str(st.rel_dir / st.name)

            # Prefer the PNG; use the SVG when there is no PNG or the PNG is smaller
            # than the target size (the SVG then gives a sharper thumbnail).
            src = st.png
            if st.svg is not None:
                if src is None:
                    src = st.svg
                else:
                    from PIL import Image

                    with Image.open(src) as im:
                        if max(im.size) < IMAGE_SIZE:
                            src = st.svg
            image_rel = f"images/{item_id}.webp"
            raster = render_svg(src, tmp) if src.suffix == ".svg" else src
            convert_image(raster, out / image_rel)

            audio_rel = ""
            if st.sound is not None:
                audio_rel = f"sounds/{item_id}.ogg"
                convert_audio(st.sound, out / audio_rel)

            caption = english_caption(st.txt)
            if st.txt is None:
                notes.append(f"no caption file (kept, empty description): {st.rel_dir / st.name}")
            elif not caption:
                notes.append(f"no English caption (kept, empty description): {st.rel_dir / st.name}")
            rows.append({
                "id": item_id,
                "title": title,
                "description": caption,
                "image": image_rel,
                "audio": audio_rel,
                "tags": ";".join(st.rel_dir.parts),
                "category": st.rel_dir.parts[0] if st.rel_dir.parts else "",
                "source": src.relative_to(root).as_posix(),
            })
            if caption:
                queries.append({"query_id": f"q-{item_id}", "text": caption, "image": "", "audio": ""})
                qrels.append({"query_id": f"q-{item_id}", "item_id": item_id, "relevance": 1})
            if len(rows) % 100 == 0:
                print(f"  {len(rows)} items ...", flush=True)

        write_csv(out / "catalog.csv", CATALOG_COLUMNS, rows)
        write_csv(out / "queries.csv", QUERY_COLUMNS, queries)
        write_csv(out / "qrels.csv", QREL_COLUMNS, qrels)

        copyright_file = root / "usr/share/doc" / PACKAGE / "copyright"
        header = (
            "mmrec demo assets (assets/demo/images, assets/demo/sounds, and the captions in\n"
            "assets/demo/*.csv) are derived from the Debian package\n"
            f"{PACKAGE} {version} (Tux Paint stamps, https://tuxpaint.org/).\n"
            "License: GPL-2.0-or-later.\n\n"
            "The images were resized and converted to WebP, the sounds were converted to\n"
            "mono 22050 Hz Ogg Vorbis and trimmed, by scripts/build_demo.py.\n"
        )
        sep = "\n" + "=" * 78 + "\n"
        (out / "LICENSE.txt").write_text(
            header
            + sep + f"Debian copyright file (usr/share/doc/{PACKAGE}/copyright):" + sep + "\n"
            + copyright_file.read_text(encoding="utf-8")
            + sep + "GNU General Public License, version 2:" + sep + "\n"
            + GPL2_PATH.read_text(encoding="utf-8"),
            encoding="utf-8",
        )

        per_cat = collections.Counter(r["category"] for r in rows)
        n_audio = sum(1 for r in rows if r["audio"])
        n_caption = len(queries)
        media_bytes = dir_size(out / "images") + dir_size(out / "sounds")
        sources = [
            "# mmrec demo catalog - sources",
            "",
            f"- Package: `{PACKAGE}` version `{version}` (Debian, section graphics)",
            *(f"- Also extracted: `{p}` `{v}`" for p, v in versions.items() if p != PACKAGE),
            "- Upstream: Tux Paint stamps, https://tuxpaint.org/ - Copyright 2002-2022 Bill Kendrick"
            " and contributors",
            "- License: GPL-2.0-or-later (see LICENSE.txt)",
            "",
            "## How it was built",
            "",
            "```",
            "apt-get install librsvg2-bin ffmpeg && pip install pillow",
            "python3 scripts/build_demo.py",
            "```",
            "",
            f"The script runs `apt-get download {PACKAGE}`, extracts it with `dpkg-deb -x` and walks",
            f"`{STAMPS_DIR}/` in sorted order. Every stamp image (`<name>.png`, or `<name>.svg`",
            f"rendered with rsvg-convert when there is no PNG or the PNG is smaller than {IMAGE_SIZE} px)",
            f"is cropped to its visible pixels and scaled to a longest side of {IMAGE_SIZE} px",
            f"(WebP, quality {WEBP_QUALITY}, alpha kept). The English caption is the first,",
            "untagged line of `<name>.txt`. A stamp's own sound effect (`<name>.ogg`/`.wav`; not the",
            "spoken `_desc` descriptions or localized variants) is converted to mono",
            f"{AUDIO_RATE} Hz Ogg Vorbis (quality {AUDIO_QUALITY}) and trimmed to {AUDIO_MAX_SECONDS} s.",
            "`queries.csv`/`qrels.csv` hold one text query per captioned item (the caption),",
            "relevant to that item only.",
            "",
            "## Counts",
            "",
            f"- Items: {len(rows)}",
            f"- Items with an English caption (= queries): {n_caption}",
            f"- Items with sound: {n_audio}",
            "- Items per top-level category:",
            *(f"  - {c}: {n}" for c, n in sorted(per_cat.items())),
            "",
        ]
        (out / "SOURCES.md").write_text("\n".join(sources), encoding="utf-8")

        total = dir_size(out)
        for note in notes:
            print(f"note: {note}")
        print()
        print(f"items:            {len(rows)}")
        print(f"with caption:     {n_caption}")
        print(f"with sound:       {n_audio}")
        print("per category:")
        for c, n in sorted(per_cat.items()):
            print(f"  {c:<16}{n}")
        print(f"media size:       {media_bytes / 1e6:.2f} MB")
        print(f"total size:       {total / 1e6:.2f} MB ({total} bytes) in {out}")
        if total > MAX_TOTAL_BYTES:
            raise BuildError(f"assets are {total} bytes, over the {MAX_TOTAL_BYTES} byte budget")
        return 0
    finally:
        if keep_temp:
            print(f"temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: assets/demo)")
    ap.add_argument("--deb", type=Path, help=f"use this {PACKAGE} .deb instead of apt-get download")
    ap.add_argument("--keep-temp", action="store_true", help="keep the extracted package")
    args = ap.parse_args(argv)
    try:
        return build(args.out, args.deb, args.keep_temp)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
