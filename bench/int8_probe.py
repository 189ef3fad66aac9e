"""int8 for EfficientNet-Lite0 (NNCF post-training quantization) beside the f32 model: images/s and what it costs.

Calibrated on 300 of the demo's pictures (Tux Paint stamps: training pictures, never a reserved source). Prints the
speed of both, side by side, the cosine of the encoder's image vectors with each, and the demo's caption -> image
Recall@10 with each. The default stays f32 unless Recall@10 moves by less than 0.005.
Needs NNCF, which mmrec does not install: pip install nncf==3.4.0 (and its dependencies).
Usage: python bench/int8_probe.py
"""

import glob
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
try:
    import nncf
except ImportError:
    sys.exit("needs NNCF: pip install nncf==3.4.0")
from mmrec_core.encoders._base import cache_dir
from mmrec_core.catalog import load_catalog, load_image
from mmrec_core.encoders.bridge import lite_array
found = glob.glob(str(cache_dir() / "runtime" / "effnetlite0-levels-*" / "model.xml"))
if not found:
    sys.exit("convert the towers first: python -m mmrec_core prepare")
xml = found[0]
core = ov.Core()
items = load_catalog(Path(__file__).resolve().parents[1] / "assets" / "demo").items
imgs = [load_image(it.image) for it in items if it.image]
calib = [lite_array(imgs[i:i+8]) for i in range(0, 300, 8)]  # demo (Tux Paint) pictures: training images, not reserved
model = core.read_model(xml)
t=time.time(); q = nncf.quantize(model, nncf.Dataset(calib), subset_size=300); print("quantize", round(time.time()-t,1), "s", flush=True)
cfg = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY"}
f32 = core.compile_model(core.read_model(xml), "CPU", cfg)
i8 = core.compile_model(q, "CPU", cfg)
x = lite_array(imgs[300:332])
for name, c in (("f32", f32), ("int8", i8), ("f32", f32), ("int8", i8)):
    c([x]); t=time.perf_counter()
    for _ in range(5): c([x])
    print(name, round(5*32/(time.perf_counter()-t)), "images/s", flush=True)
# the encoder's image vectors with each tower, and caption -> image R@10 on the demo
from mmrec_core.encoders import get_encoders, DEFAULT_ENCODER
enc = get_encoders(DEFAULT_ENCODER); img = enc.image.model; txt = enc.text.model
def embed(compiled):
    class F:
        runtime = "openvino"
        def __call__(self, *inputs):
            r = compiled([np.ascontiguousarray(a) for a in inputs]); return [np.array(r[o], np.float32) for o in compiled.outputs]
    img.bridge.levels = F()
    return np.concatenate([img.encode(imgs[i:i+32]) for i in range(0, len(imgs), 32)])
a, b = embed(f32), embed(i8)
print("cosine f32 vs int8 image vectors: min", float((a*b).sum(1).min()), "mean", float((a*b).sum(1).mean()))
caps = txt.encode([it.text for it in items if it.image])
for name, e in (("f32", a), ("int8", b)):
    s = caps @ e.T; r = (s > s[np.arange(len(s)), np.arange(len(s))][:,None]).sum(1)
    print(name, "caption->image R@10", round(float((r<10).mean()),4))
