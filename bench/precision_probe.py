"""What each OpenVINO precision costs and gives, per tower: speed side by side, vectors, and retrieval quality.

Precisions: f32 (exact: within 1e-4 cosine of torch), bf16 (native on CPUs with AVX512-BF16 or AMX; OpenVINO's own
default there) and, when NNCF is installed (it is not an mmrec dependency: pip install nncf==3.4.0), int8 for
EfficientNet-Lite0 by post-training quantization calibrated on 300 demo pictures (Tux Paint stamps: training
pictures, never a reserved source). For each tower: items/s (rounds interleave the precisions, the first dropped),
the cosine of the default encoder's output vectors with each precision against f32 (min, mean), and:
- text and image: caption -> image Recall@10 (the caption as a text query against the pictures alone) on the demo
  (950 stamps) and on the two held-out sets the aligned heads never saw (Wesnoth's pictures and GNOME's icons,
  bench/aligned_eval.py), for text f32 / image f32, text bf16 / image f32, text bf16 / image in each precision;
- audio: the demo's sound -> sound same-category precision@5 (bench/demo_quality.py) with each precision.
A tower may leave f32 by default (`Tower.bf16_ok`) only if its vectors stay within 1e-4 cosine of f32, or every
Recall@10 above moves by less than 0.005.
Usage: python bench/precision_probe.py [--rounds 5] [--no-held-out]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_eval import ranks  # noqa: E402
from mmrec_core.catalog import load_audio, load_catalog, load_image  # noqa: E402
from mmrec_core.encoders import DEFAULT_ENCODER, _runtime, _towers, get_encoders  # noqa: E402
from mmrec_core.encoders.bridge import lite_array  # noqa: E402


def int8_lite0(images: list) -> object | None:
    """Lite0 quantized to int8 by NNCF (calibrated on 300 demo pictures), compiled; None without NNCF."""
    try:
        import nncf
    except ImportError:
        print("int8 left out: NNCF is not installed (pip install nncf==3.4.0)")
        return None
    import openvino as ov

    tower = _towers.lite_tower()
    _runtime.load(tower, runtime="openvino", precision="f32")  # converted into the cache once
    core = ov.Core()
    model = core.read_model(str(_runtime.model_folder(tower, ov.__version__) / "model.xml"))
    calib = [lite_array(images[i:i + 8]) for i in range(0, 300, 8)]
    quantized = nncf.quantize(model, nncf.Dataset(calib), subset_size=300)
    compiled = core.compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                     "INFERENCE_NUM_THREADS": _runtime.threads()})

    class Int8:
        runtime, precision = "openvino", "int8"

        def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
            result = compiled([np.ascontiguousarray(x) for x in inputs])
            return [np.array(result[o], np.float32) for o in compiled.outputs]

    return Int8()


def speed(forwards: dict[str, object], batch: tuple[np.ndarray, ...], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in forwards}
    for r in range(rounds + 1):
        for k, f in forwards.items():
            start = time.perf_counter()
            f(*batch)
            if r:
                times[k].append(time.perf_counter() - start)
    return {k: len(batch[0]) / statistics.median(v) for k, v in times.items()}


def cosines(a: np.ndarray, b: np.ndarray) -> str:
    c = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return f"min {c.min():.6f}, mean {c.mean():.6f}"


def recall10(texts: np.ndarray, images: np.ndarray) -> float:
    return float(np.mean(ranks(texts, images) <= 10))


def held_out() -> dict[str, tuple[list[str], list]]:
    """name -> (captions, pictures): the demo, and the held-out Wesnoth and GNOME sets."""
    items = [it for it in load_catalog(ROOT / "assets" / "demo").items if it.image]
    sets = {"demo": ([it.text for it in items], [load_image(it.image) for it in items])}
    try:
        from aligned_sources import pairs

        for source in ("wesnoth", "gnome"):
            ps = pairs(source)
            sets[source] = ([p.texts[0] for p in ps], [load_image(p.image) for p in ps])
    except Exception as exc:  # noqa: BLE001  (the held-out sets come from Debian packages; the demo still counts)
        print(f"held-out sets left out: {exc}")
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-held-out", action="store_true")
    args = ap.parse_args()
    sets = held_out() if not args.no_held_out else {}
    if not sets:
        items = [it for it in load_catalog(ROOT / "assets" / "demo").items if it.image]
        sets = {"demo": ([it.text for it in items], [load_image(it.image) for it in items])}
    enc = get_encoders(DEFAULT_ENCODER)
    text, image, audio = enc.text.model, enc.image.model, getattr(enc.audio, "model", enc.audio)
    load = {name: {p: _runtime.load(t, runtime="openvino", precision=p) for p in ("f32", "bf16")}
            for name, t in (("text", _towers.minilm_tower()), ("image", _towers.lite_tower()),
                            ("audio", _towers.aisfx_tower()))}
    for name, forwards in load.items():
        got = {p: getattr(f, "precision", p) for p, f in forwards.items()}
        if got["bf16"] != "bf16":
            print(f"this CPU has no native bf16: {name} compiled as {got['bf16']}")
    int8 = int8_lite0(sets["demo"][1])
    if int8 is not None:
        load["image"]["int8"] = int8

    demo_items = load_catalog(ROOT / "assets" / "demo").items
    captions = [it.text for it in demo_items[:64]]
    batch_text = text.text.tokenizer.encode_batch(captions)
    ids = np.array([e.ids for e in batch_text], np.int64)
    batches = {"text": (ids, np.array([e.attention_mask for e in batch_text], np.int64)),
               "image": (lite_array(sets["demo"][1][300:332]),),
               "audio": (np.random.default_rng(0).random((32, 100, 96), dtype=np.float32),)}
    print(f"{_runtime.threads()} threads, batches: 64 captions, 32 pictures, 32 log-mel blocks")
    print("| tower | precision | items/s | vs f32 |")
    print("|---|---|---|---|")
    for name, forwards in load.items():
        rates = speed(forwards, batches[name], args.rounds)
        for p, r in rates.items():
            print(f"| {name} | {p} | {r:.0f} | {r / rates['f32']:.2f}x |", flush=True)

    def with_forward(obj: object, attr: str, forward: object, fn, *a):
        old = getattr(obj, attr)
        setattr(obj, attr, forward)
        try:
            return fn(*a)
        finally:
            setattr(obj, attr, old)

    def embed_images(pics: list, p: str) -> np.ndarray:
        return with_forward(image.bridge, "levels", load["image"][p],
                            lambda: np.concatenate([image.encode(pics[i:i + 32]) for i in range(0, len(pics), 32)]))

    def embed_texts(caps: list[str], p: str) -> np.ndarray:
        return with_forward(text.text, "forward", load["text"][p], lambda: text.encode(caps))

    print("\n| set | items | text / image | caption -> image R@10 | vs f32 |")
    print("|---|---|---|---|---|")
    for set_name, (caps, pics) in sets.items():
        t = {p: embed_texts(caps, p) for p in ("f32", "bf16")}
        im = {p: embed_images(pics, p) for p in load["image"]}
        base = recall10(t["f32"], im["f32"])
        rows = [("f32", "f32")] + [("bf16", p) for p in load["image"]]
        for tp, ip in rows:
            r = recall10(t[tp], im[ip])
            print(f"| {set_name} | {len(caps)} | {tp} / {ip} | {r:.4f} | {r - base:+.4f} |", flush=True)
        print(f"  {set_name}: text vectors bf16 vs f32 {cosines(t['f32'], t['bf16'])}; image vectors "
              + "; ".join(f"{p} vs f32 {cosines(im['f32'], im[p])}" for p in im if p != "f32"))

    clips = [it for it in demo_items if it.audio]
    waves = [audio.prepare(load_audio(it.audio, sr=audio.sample_rate)) for it in clips]
    cats = np.array([it.metadata.get("category") or (it.tags or ["?"])[0] for it in clips])
    raws = {p: with_forward(audio, "_forward", load["audio"][p], audio.features, waves) for p in ("f32", "bf16")}
    print(f"\naudio vectors bf16 vs f32: {cosines(raws['f32'], raws['bf16'])}")
    for p, raw in raws.items():
        x = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        top = np.argsort(-s, axis=1)[:, :5]
        print(f"sound -> sound P@5 ({len(clips)} clips), {p}: {float((cats[top] == cats[:, None]).mean()):.4f}")


if __name__ == "__main__":
    main()
