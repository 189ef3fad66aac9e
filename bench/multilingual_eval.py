"""Text -> image Recall@10 per language on the demo's pictures, with Tux Paint's own translations as the queries.

Each demo item is a Tux Paint stamp, and each stamp ships its description in dozens of languages (the .txt
files of Debian's tuxpaint-stamps-default, fetched once with `apt-get download` into ~/.cache/mmrec). For every
language, every stamp's description finds its own picture among the demo's 950 (the image side alone, as
the store holds it). Two text sides: the default encoder as it ships (English on MiniLM, other languages on
e5 mapped into MiniLM's space) and MiniLM alone (what a query in another language got before).

The demo's English captions are in the aligned heads' training pairs, so English is near 1.0 here and the
ratio to it flatters nobody; `e5 English` (English forced through the e5 route) is the fair yardstick for
what the map transfers. The map trains on four fifths of the stamps' translations (scripts/train_multilingual.py):
the table is printed for the fifth it never saw (`held out`, the one to read) and for all stamps.

Usage: python bench/multilingual_eval.py [--gloss-weight W]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_eval import ranks  # noqa: E402
from mmrec_core.encoders import DEFAULT_ENCODER, _multilingual, get_encoders  # noqa: E402
from train_multilingual import held_out, stamp_key, stamp_texts, stamps  # noqa: E402

LANGS = {"en": "", "zh": "zh_CN", "zh_TW": "zh_TW", "ja": "ja", "ko": "ko", "es": "es", "de": "de", "fr": "fr",
         "it": "it", "pt": "pt", "ru": "ru", "ar": "ar", "ca": "ca"}


def queries(folder: Path, only_held_out: bool) -> dict[str, list[tuple[str, str]]]:
    """Per language: (item id, its stamp's description in that language), all stamps or the held-out fifth."""
    out: dict[str, list[tuple[str, str]]] = {lang: [] for lang in LANGS}
    with open(ROOT / "assets" / "demo" / "catalog.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            txt = folder / row["source"].replace(".png", ".txt")
            if not txt.is_file() or (only_held_out and not held_out("tuxpaint:" + stamp_key(txt))):
                continue
            texts = stamp_texts(txt)
            for lang, key in LANGS.items():
                text = texts.get(key or "en", "")
                if text:
                    out[lang].append((row["id"], text))
    return out


def main() -> None:
    from mmrec_core.encoders import aligned
    from mmrec_core.ingest import ingest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gloss-weight", type=float, help="the dictionary's share of a glossed text's vector (an experiment)")
    args = ap.parse_args()
    if args.gloss_weight is not None:
        aligned.GLOSS_WEIGHT = args.gloss_weight

    folder = stamps()
    with tempfile.TemporaryDirectory() as tmp:
        store = ingest(ROOT / "assets" / "demo", Path(tmp) / "demo").store
    images = np.asarray(store.vectors("image", store.live_rows), np.float32)
    col = {store.ids[r]: j for j, r in enumerate(store.live_rows)}
    text = get_encoders(DEFAULT_ENCODER).text

    def recall10(pairs: list[tuple[str, str]], encode) -> float:
        targets = np.array([col[i] for i, _ in pairs])
        return round(float(np.mean(ranks(encode([t for _, t in pairs]), images, targets) <= 10)), 3)

    model = text.model
    e5_only = lambda texts: model.heads.text(_multilingual.shared().encode(texts))  # noqa: E731
    minilm_only = lambda texts: model.heads.text(model.text.encode([model.heads.prompt(t) for t in texts]))  # noqa: E731
    for label, only in (("held-out stamps", True), ("all stamps", False)):
        by_lang = queries(folder, only)
        rows = {}
        for lang, pairs in by_lang.items():
            pairs = [p for p in pairs if p[0] in col]
            rows[lang] = {"queries": len(pairs), "shipped": recall10(pairs, text.encode),
                          "minilm": recall10(pairs, minilm_only)}
        rows["en"]["e5"] = recall10([p for p in by_lang["en"] if p[0] in col], e5_only)
        print(json.dumps({"encoder": text.name, "gloss_weight": aligned.GLOSS_WEIGHT, "stamps": label,
                          "items": len(col), "recall_at_10": rows}))
        print(f"\n{label}, each description against the demo's {len(col)} pictures:")
        print("| language | queries | MiniLM alone | as shipped | / English | / e5 English |")
        print("|---|---|---|---|---|---|")
        for lang, r in rows.items():
            print(f"| {lang} | {r['queries']} | {r['minilm']:.3f} | {r['shipped']:.3f} | "
                  f"{r['shipped'] / rows['en']['shipped']:.2f} | {r['shipped'] / rows['en']['e5']:.2f} |")


if __name__ == "__main__":
    main()
