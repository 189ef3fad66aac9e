"""Queries in other languages on emoji pictures with their CLDR names, per language.

Two picture sets, each single-code-point emoji with a name in English:
- `fxemoji` (default): Firefox OS Emoji (Iconify's npm package), never trained on: ours to choose on (the
  dictionary routes and their weight were chosen on it and on the held-out Tux Paint stamps);
- `noto-emoji`: Noto Color Emoji drawn with Pillow, **reserved** for evaluation (scripts/aligned_sources.py: never
  trained, tuned or chosen on; run after every choice is made).
The emoji's CLDR short name in each language (Debian `unicode-cldr-core`) is the query, its picture the one
relevant item among the set's pictures; the default encoder as it ships (English on MiniLM; other languages on
e5 and the map, and through a dictionary where one reads them). Recall@10 per language, and its ratio to English;
also on the fifth of the emoji whose names the multilingual map never trained on (`held out`).
Usage: python bench/multilingual_emoji.py [--set fxemoji|noto-emoji] [--gloss-weight W]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_eval import ranks  # noqa: E402
from aligned_sources import pairs  # noqa: E402
from train_multilingual import annotations, held_out  # noqa: E402

from mmrec_core.catalog import load_image  # noqa: E402
from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders  # noqa: E402

LANGS = ("en", "zh", "zh_Hant", "ja", "ko", "es", "de", "fr", "it", "pt", "nl", "sv", "pl", "tr", "ru", "ca", "ar")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="fxemoji", choices=("fxemoji", "noto-emoji"))
    ap.add_argument("--gloss-weight", type=float, help="the dictionary's share of a glossed text's vector (an experiment)")
    args = ap.parse_args()
    if args.gloss_weight is not None:
        from mmrec_core.encoders import aligned

        aligned.GLOSS_WEIGHT = args.gloss_weight
    emoji = {chr(int(p.id, 16)): p.image for p in pairs(args.set)}
    names = {lang: annotations(lang, "name") for lang in LANGS}
    gallery = sorted(cp for cp in emoji if cp in names["en"] and ":" not in names["en"][cp])
    col = {cp: j for j, cp in enumerate(gallery)}
    enc = get_encoders(DEFAULT_ENCODER)
    pics = [load_image(emoji[cp]) for cp in gallery]
    images = np.concatenate([enc.image.encode(pics[i:i + 64]) for i in range(0, len(pics), 64)])
    rows = {}
    for lang in LANGS:
        sel = [cp for cp in gallery if names[lang].get(cp)]
        q = enc.text.encode([names[lang][cp] for cp in sel])
        hit = ranks(q, images, np.array([col[cp] for cp in sel])) <= 10
        held = np.array([held_out(cp) for cp in sel])
        rows[lang] = {"queries": len(sel), "recall_at_10": round(float(hit.mean()), 3),
                      "held_out_queries": int(held.sum()), "held_out_recall_at_10": round(float(hit[held].mean()), 3)}
    print(json.dumps({"set": args.set, "encoder": enc.text.name, "gloss_weight": args.gloss_weight,
                      "pictures": len(gallery), "rows": rows}))
    print(f"{args.set}{' (reserved)' * (args.set == 'noto-emoji')}, {len(gallery)} pictures; the CLDR name as the "
          "query, Recall@10:")
    print("| language | queries | R@10 | / English | held out: queries | R@10 | / English |")
    print("|---|---|---|---|---|---|---|")
    en = rows["en"]
    for lang, r in rows.items():
        print(f"| {lang} | {r['queries']} | {r['recall_at_10']:.3f} | {r['recall_at_10'] / en['recall_at_10']:.2f} | "
              f"{r['held_out_queries']} | {r['held_out_recall_at_10']:.3f} | "
              f"{r['held_out_recall_at_10'] / en['held_out_recall_at_10']:.2f} |")


if __name__ == "__main__":
    main()
