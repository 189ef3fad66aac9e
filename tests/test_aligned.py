"""The `aligned` encoder: the committed checkpoint, the encoder contract, and real caption -> image matches on the demo."""

import json

import numpy as np
import pytest

import mmrec_core.encoders.aligned  # noqa: F401  (registers the family)
from conftest import DEMO
from mmrec_core.encoders.aligned import CHECKPOINT, AlignedText, load_heads
from mmrec_core.catalog import load_catalog
from mmrec_core.encoders import get_encoders, list_encoders
from mmrec_core.errors import EncoderError, EncoderUnavailable
from mmrec_core.catalog import load_image


def test_committed_checkpoint_is_small_and_well_formed():
    assert CHECKPOINT.stat().st_size < 6_000_000  # two towers side by side: a 5728 x 384 float16 image head
    heads = load_heads()
    assert heads.dim == heads.arrays["img_w"].shape[1] + (384 if heads.mix < 1 else 0) and heads.meta["sources"]
    reserved = {"openclipart", "noto-emoji", "emojify", "gcompris"}
    assert not reserved & set(heads.meta["sources"])  # evaluation sets never trained on


def test_heads_contract_without_models():
    heads = load_heads()
    rng = np.random.default_rng(0)
    t = heads.text(rng.standard_normal((3, 384)).astype(np.float32))
    f = heads.arrays["img_w"].shape[0]  # the image features the head reads, concatenated
    v = heads.image(rng.standard_normal((2, f)).astype(np.float32), rng.standard_normal((2, 384)).astype(np.float32))
    for x, n in ((t, 3), (v, 2)):
        assert x.shape == (n, heads.dim) and x.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


def test_registered_and_lazy():
    assert "aligned" in list_encoders()
    enc = get_encoders("aligned")
    assert get_encoders("aligned") is enc
    assert enc.text.dim == enc.image.dim == load_heads().dim
    assert enc.text.name.startswith("aligned-") and enc.image.name != enc.text.name
    assert enc.audio.modality == "audio"
    with pytest.raises(EncoderUnavailable, match="not shipped"):
        get_encoders("aligned:0123456789")  # an argument names an earlier checkpoint; this one never shipped
    old = get_encoders("aligned:8bd132ed8e")  # the first checkpoint ships for the stores encoded with it
    assert old.text.name == "aligned-8bd132ed8e+minilm-l6-v2" and old.text.dim == 768 != enc.text.dim


def test_bad_checkpoints_are_refused(tmp_path):
    with pytest.raises(EncoderUnavailable, match="train_aligned"):
        load_heads(tmp_path / "nope.npz")
    np.savez(tmp_path / "partial.npz", text_w=np.zeros((384, 8), np.float32))
    with pytest.raises(EncoderError, match="lacks"):
        load_heads(tmp_path / "partial.npz")
    good = dict(np.load(CHECKPOINT, allow_pickle=False))
    good["img_w"] = np.zeros((10, 3), np.float16)
    np.savez(tmp_path / "shapes.npz", **good)
    with pytest.raises(EncoderError, match="wrong shapes"):
        load_heads(tmp_path / "shapes.npz")
    (tmp_path / "pickle.npz").write_bytes(b"not a zip")
    with pytest.raises(EncoderError, match="cannot read"):
        load_heads(tmp_path / "pickle.npz")
    np.savez(tmp_path / "obj.npz", meta=np.array([json.dumps({}), {"x": 1}], dtype=object))
    with pytest.raises(EncoderError):
        load_heads(tmp_path / "obj.npz")


def test_prompt_template_phrases_short_texts_only(tmp_path):
    heads = load_heads()
    arrays = {k: v for k, v in dict(np.load(CHECKPOINT, allow_pickle=False)).items() if k != "meta"}
    meta = {**heads.meta, "prompt": {"template": "a picture of a {}", "max_words": 3}}
    np.savez(tmp_path / "t.npz", meta=np.array(json.dumps(meta)), **arrays)
    phrased = load_heads(tmp_path / "t.npz")
    assert phrased.prompt("fire truck") == "a picture of a fire truck" and phrased.prompt(" cat ") == "a picture of a cat"
    assert phrased.prompt("a red car parked by the sea") == "a red car parked by the sea"
    assert phrased.digest != heads.digest  # a new template is a new encoder name: stores offer to re-encode

    class Recorder:
        name, dim = "minilm-l6-v2", 384
        seen: list = []

        def encode(self, batch):
            self.seen += list(batch)
            return np.ones((len(batch), 384), np.float32)

    tower = Recorder()
    AlignedText(tower, phrased).encode(["dog", "a dog running across a field"])
    assert tower.seen == ["a picture of a dog", "a dog running across a field"]
    for bad in ("a picture of a", "{} and {}", "a {x}"):
        np.savez(tmp_path / "bad.npz", meta=np.array(json.dumps({**meta, "prompt": {"template": bad}})), **arrays)
        with pytest.raises(EncoderError, match="template"):
            load_heads(tmp_path / "bad.npz")


def test_a_head_reads_the_image_features_its_checkpoint_names(tmp_path, demo_subset):
    """A checkpoint whose image head reads more than the average pool: shapes are checked against the named
    features, and the encoder computes exactly those (one forward pass) before the head."""
    from mmrec_core.encoders.aligned import AlignedImage, bridge_embedding, feature_dims, lite_features
    from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText

    heads = load_heads()
    names = ["pooled", "mid", "pooled_max"]
    f, d = sum(feature_dims()[n] for n in names), heads.arrays["text_w"].shape[1]
    rng = np.random.default_rng(1)
    arrays = {k: v for k, v in dict(np.load(CHECKPOINT, allow_pickle=False)).items() if k != "meta"}
    arrays |= {"img_w": rng.standard_normal((f, d)).astype(np.float16), "img_mean": np.zeros(f, np.float32),
               "img_std": np.ones(f, np.float32)}
    np.savez(tmp_path / "wide.npz", meta=np.array(json.dumps({**heads.meta, "image_features": names, "tower": "lite0"})),
             **arrays)
    wide = load_heads(tmp_path / "wide.npz")
    assert wide.image_features == tuple(names)
    _, images = demo_subset
    bridge = ImageNetBridge(MiniLMText())
    got = AlignedImage([bridge], wide).encode(images[:3])
    feats, logits = lite_features([bridge], images[:3], names)
    plain, plain_logits = lite_features([bridge], images[:3])
    assert feats.shape == (3, f) and np.array_equal(feats[:, :1280], plain) and np.array_equal(logits, plain_logits)
    np.testing.assert_allclose(got, wide.image(feats, bridge_embedding(logits, bridge.prompts)), atol=1e-6)
    for bad in (["pooled", "nope"], ["pooled", "pooled"], [], "pooled"):
        np.savez(tmp_path / "bad.npz", meta=np.array(json.dumps({**heads.meta, "image_features": bad})), **arrays)
        with pytest.raises(EncoderError, match="image features"):
            load_heads(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", meta=np.array(json.dumps({**heads.meta, "image_features": ["pooled", "mid"]})),
             **arrays)
    with pytest.raises(EncoderError, match="wrong shapes"):
        load_heads(tmp_path / "short.npz")


def test_a_checkpoint_names_its_image_tower_and_the_widths_follow_it(tmp_path, monkeypatch):
    """Lite2's mid blocks are wider (120 + 208 channels, not 112 + 192): a checkpoint for Lite2 is read with its
    widths, the image encoder is named after the tower and resizes to its input size; an unknown tower is refused."""
    from PIL import Image

    from mmrec_core.encoders import aligned
    from mmrec_core.encoders.aligned import build, feature_dims

    heads = load_heads()
    names = ["pooled", "pooled_max", "mid"]
    d = heads.arrays["text_w"].shape[1]
    arrays = {k: v for k, v in dict(np.load(CHECKPOINT, allow_pickle=False)).items() if k not in ("meta", "tail_w", "tail_b")}
    assert feature_dims("lite2")["mid"] == 328 and feature_dims()["mid"] == 304
    f = sum(feature_dims("lite2")[n] for n in names)
    wide = arrays | {"img_w": np.zeros((f, d), np.float16), "img_mean": np.zeros(f, np.float32),
                     "img_std": np.ones(f, np.float32)}
    meta = {**heads.meta, "image_features": names, "tower": "lite2"}
    np.savez(tmp_path / "lite2.npz", meta=np.array(json.dumps(meta)), **wide)
    lite2 = load_heads(tmp_path / "lite2.npz")
    assert lite2.tower == "lite2" and lite2.arrays["img_w"].shape == (f, d)
    np.savez(tmp_path / "lite0-widths.npz", meta=np.array(json.dumps(meta)), **arrays)  # Lite0's widths, Lite2 named
    with pytest.raises(EncoderError, match="wrong shapes"):
        load_heads(tmp_path / "lite0-widths.npz")
    np.savez(tmp_path / "unknown.npz", meta=np.array(json.dumps({**meta, "tower": "lite9"})), **wide)
    with pytest.raises(EncoderError, match="unknown image tower 'lite9'"):
        load_heads(tmp_path / "unknown.npz")
    shipped = tmp_path / "shipped" / "aligned-heads.npz"
    shipped.parent.mkdir()
    shipped.write_bytes((tmp_path / "lite2.npz").read_bytes())
    monkeypatch.setattr(aligned, "CHECKPOINT", shipped)
    image = build("").image
    assert image.name == f"aligned-{lite2.digest}+effnetlite2"
    assert image.prepare(Image.new("RGB", (50, 30), "red")).shape == (3, 260, 260)  # no model loaded for this


def test_a_checkpoint_may_read_two_towers_side_by_side(tmp_path, monkeypatch, demo_subset):
    """"lite0+lite1": the image head reads each feature of Lite0 then Lite1 (feature by feature), the label bridge
    is Lite0's; each tower gets the picture at its own size, prepared ahead of the model. A tower named twice, and
    a retrained head conv for two towers, are refused."""
    from mmrec_core.encoders import aligned
    from mmrec_core.encoders.aligned import AlignedImage, bridge_embedding, build, feature_dims, lite_features
    from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText

    heads = load_heads()
    names = ["pooled", "mid"]
    d = heads.arrays["text_w"].shape[1]
    assert feature_dims("lite0+lite1") == {"pooled": 2560, "pooled_max": 2560, "mid": 608}
    f = sum(feature_dims("lite0+lite1")[n] for n in names)
    rng = np.random.default_rng(3)
    arrays = {k: v for k, v in dict(np.load(CHECKPOINT, allow_pickle=False)).items() if k not in ("meta", "tail_w", "tail_b")}
    arrays |= {"img_w": rng.standard_normal((f, d)).astype(np.float16), "img_mean": np.zeros(f, np.float32),
               "img_std": np.ones(f, np.float32)}
    meta = {**heads.meta, "image_features": names, "tower": "lite0+lite1"}
    shipped = tmp_path / "shipped" / "aligned-heads.npz"
    shipped.parent.mkdir()
    np.savez(shipped, meta=np.array(json.dumps(meta)), **arrays)
    both = load_heads(shipped)
    assert both.towers == ("lite0", "lite1")
    monkeypatch.setattr(aligned, "CHECKPOINT", shipped)
    image = build("").image
    assert image.name == f"aligned-{both.digest}+effnetlite0+effnetlite1"
    _, images = demo_subset
    prepared = [image.prepare(im) for im in images[:3]]  # no model loaded for this
    assert [p.shape for p in prepared[0]] == [(3, 224, 224), (3, 240, 240)]
    text = MiniLMText()
    lite0, lite1 = ImageNetBridge(text), ImageNetBridge(text, tower="lite1")
    got = AlignedImage([lite0, lite1], both).encode(prepared)
    np.testing.assert_allclose(got, AlignedImage([lite0, lite1], both).encode(images[:3]), atol=1e-5)
    (f0, logits), (f1, _) = lite_features([lite0], images[:3], names), lite_features([lite1], images[:3], names)
    feats = np.hstack([f0[:, :1280], f1[:, :1280], f0[:, 1280:], f1[:, 1280:]])  # pooled 0, 1, then mid 0, 1
    np.testing.assert_allclose(got, both.image(feats, bridge_embedding(logits, lite0.prompts)), atol=1e-5)
    with pytest.raises(EncoderError, match="read lite0\\+lite1, not lite0"):
        AlignedImage([lite0], both)
    np.savez(tmp_path / "twice.npz", meta=np.array(json.dumps({**meta, "tower": "lite0+lite0"})), **arrays)
    with pytest.raises(EncoderError, match="names a tower twice"):
        load_heads(tmp_path / "twice.npz")
    tail = {"tail_w": np.zeros((1280, 320), np.float16), "tail_b": np.zeros(1280, np.float32)}
    np.savez(tmp_path / "tails.npz", meta=np.array(json.dumps(meta)), **arrays, **tail)
    with pytest.raises(EncoderError, match="several towers"):
        load_heads(tmp_path / "tails.npz")


def test_a_checkpoint_with_a_retrained_tail_uses_it_for_the_pooled_features_only(tmp_path, demo_subset):
    """A retrained head conv (batch norm folded in) replaces what "pooled"/"pooled_max" read; the label bridge's
    logits and the earlier blocks' "mid" stay the pretrained model's. The pretrained conv, folded, changes nothing."""
    from mmrec_core.encoders.aligned import AlignedImage, bridge_embedding, feature_dims, lite_features, pretrained_tail
    from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText

    heads = load_heads()
    names = ("pooled", "pooled_max", "mid")
    f, d = sum(feature_dims()[n] for n in names), heads.arrays["text_w"].shape[1]
    arrays = {k: v for k, v in dict(np.load(CHECKPOINT, allow_pickle=False)).items() if k not in ("meta", "tail_w", "tail_b")}
    arrays |= {"img_w": np.random.default_rng(4).standard_normal((f, d)).astype(np.float16),
               "img_mean": np.zeros(f, np.float32), "img_std": np.ones(f, np.float32)}  # Lite0's widths
    meta = np.array(json.dumps({**heads.meta, "image_features": list(names), "tower": "lite0"}))
    _, images = demo_subset
    bridge = ImageNetBridge(MiniLMText())
    plain, plain_logits = lite_features([bridge], images[:4], names)
    w, b = pretrained_tail(bridge.model)
    same, same_logits = lite_features([bridge], images[:4], names, tail=(w, b))
    np.testing.assert_allclose(same, plain, atol=1e-4)
    rng = np.random.default_rng(2)
    tail = (w + 0.05 * rng.standard_normal(w.shape).astype(np.float32), b)
    moved, moved_logits = lite_features([bridge], images[:4], names, tail=tail)
    assert np.array_equal(moved_logits, plain_logits) and np.array_equal(moved[:, 2560:], plain[:, 2560:])
    assert np.abs(moved[:, :2560] - plain[:, :2560]).max() > 0.1
    np.savez(tmp_path / "tail.npz", meta=meta, tail_w=tail[0].astype(np.float16), tail_b=tail[1], **arrays)
    tuned = load_heads(tmp_path / "tail.npz")
    assert tuned.tail is not None and tuned.digest != heads.digest
    got = AlignedImage([bridge], tuned).encode(images[:4])
    want_feats, want_logits = lite_features([bridge], images[:4], names, tail=tuned.tail)
    np.testing.assert_allclose(got, tuned.image(want_feats, bridge_embedding(want_logits, bridge.prompts)), atol=1e-6)
    np.savez(tmp_path / "half.npz", meta=meta, tail_w=tail[0], **arrays)
    with pytest.raises(EncoderError, match="lacks.*tail_b"):
        load_heads(tmp_path / "half.npz")
    np.savez(tmp_path / "wrong.npz", meta=meta, tail_w=tail[0][:, :100], tail_b=tail[1], **arrays)
    with pytest.raises(EncoderError, match="wrong shapes"):
        load_heads(tmp_path / "wrong.npz")


@pytest.fixture(scope="module")
def demo_subset():
    items = [it for it in load_catalog(DEMO).items if it.image][::19][:50]
    return items, [load_image(it.image) for it in items]


def test_encoder_contract_with_the_real_towers(demo_subset):
    enc = get_encoders("aligned")
    _, images = demo_subset
    v = enc.image.encode(images[:3])
    t = enc.text.encode(["a penguin on ice", "", "a red sports car"])
    for x, n in ((v, 3), (t, 3)):
        assert x.shape == (n, enc.image.dim) and x.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


def test_captions_find_their_images_among_50_demo_stamps(demo_subset):
    """Rank of the right image among 50 demo stamps (alpha = 1), against the label bridge on the same subset."""
    items, images = demo_subset
    caps = [it.description or it.title for it in items]

    def ranks(name):
        enc = get_encoders(name)
        sims = enc.text.encode(caps) @ enc.image.encode(images).T
        return 1 + (sims > np.diag(sims)[:, None]).sum(1)

    aligned, bridge = ranks("aligned"), ranks("bridge")
    assert np.mean(aligned <= 5) >= 0.6 and np.mean(1 / aligned) > np.mean(1 / bridge) + 0.1
    by_id = {it.id: r for it, r in zip(items, aligned)}
    known = [i for i in by_id if i.split("-")[0] in ("animals", "food", "vehicles")][:5]
    assert known and all(by_id[i] <= 10 for i in known), {i: int(by_id[i]) for i in known}
