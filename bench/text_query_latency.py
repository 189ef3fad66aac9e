"""How long one text query takes to encode with the default encoder, per language (what a search waits for).

A fresh process loads the encoder and warms each route once; then every query is encoded alone, 30 times:
median and p90 in ms. English runs on MiniLM (a rare word, quetzal, is checked against the other word lists);
other languages on e5 and the map, and where a dictionary reads them also through it and MiniLM (all but Korean
here). The issue's budget is 20 ms.
Usage: python bench/text_query_latency.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders  # noqa: E402

QUERIES = (("en", "a penguin"), ("en", "a red car in the snow"), ("en", "a quetzal on a branch"), ("zh", "企鹅"),
           ("zh", "一只在雪地里的狗"), ("zh_TW", "長頸鹿"), ("ja", "ペンギン"), ("ko", "펭귄"), ("es", "un perro en la nieve"),
           ("de", "der Hund"), ("fr", "une voiture rouge"), ("es", "manzana roja"), ("de", "lächelndes Gesicht"),
           ("de", "Kuhgesicht"), ("ja", "赤いハートの絵"), ("ru", "пингвин"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    start = time.perf_counter()
    text = get_encoders(DEFAULT_ENCODER).text
    text.encode([q for _, q in QUERIES])  # every route loaded and warm
    print(f"encoder {text.name}, loaded and warm in {time.perf_counter() - start:.1f} s")
    print("| language | query | median ms | p90 ms |")
    print("|---|---|---|---|")
    for lang, q in QUERIES:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            text.encode([q])
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        print(f"| {lang} | {q} | {statistics.median(times):.1f} | {times[int(0.9 * (len(times) - 1))]:.1f} |")


if __name__ == "__main__":
    main()
