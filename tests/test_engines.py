"""ONNX Runtime runs the torch embedders with the same vectors: agreement on real LFW faces, an exported graph that
follows the weights, a cache that keeps the engines apart, and a network the exporter cannot take still runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facekit.models.embedders import Network, Preprocessing, TorchEmbedder, get_embedder

PHOTOS = ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg",
          "Serena_Williams/Serena_Williams_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg")


def _crops(aligner: str) -> list[np.ndarray]:
    from facekit.align import align
    from facekit.data import lfw
    from facekit.detect import get_detector
    from facekit.face_path import pick_face
    from facekit.io import read_image

    det, root = get_detector("retinaface"), lfw.root() / "lfw-deepfunneled"
    out = []
    for rel in PHOTOS:
        img = read_image(root / rel)
        out.append(align(aligner, img, pick_face(det.detect(img), img.shape)[1]))
    return out


@pytest.mark.parametrize("name", ["mobilefacenet-casia", "facenet-casia"])
def test_onnxruntime_gives_torch_vectors_on_lfw_faces(name, mirror_data, shared_weights):
    fast, slow = get_embedder(name), get_embedder(name, engine="torch")
    assert (fast.engine, slow.engine) == ("onnxruntime", "torch")  # the CPU default is ONNX Runtime
    crops = _crops(fast.preprocessing.aligner)
    a, b = fast.embed(crops), slow.embed(crops)
    assert a.shape == b.shape == (len(PHOTOS), fast.dim)
    assert (a * b).sum(1).min() >= 0.9999
    assert (a[0] @ a[1]) > (a[0] @ a[2]) + 0.2  # and the vectors still separate people


def _tiny(engine: str | None = None) -> TorchEmbedder:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    pre = Preprocessing((8, 8), "RGB", "(x - 127.5) / 128", "arcface112")
    return TorchEmbedder("tiny", Network(net, 5, 127.5, 128.0), pre, engine=engine, device="cpu")


def test_the_exported_graph_follows_the_weights_and_is_read_from_the_cache(isolated):
    crops = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    emb = _tiny()
    files = list((isolated / "cache" / "onnx").glob("tiny*.onnx"))
    assert emb.engine == "onnxruntime" and len(files) == 1
    before = emb.embed(crops)
    with torch.no_grad():  # weights changed in place, as fine-tuning does: the next call must not use the old graph
        emb.net[4].weight.mul_(-1)
    after = emb.embed(crops)
    assert np.abs(after - before).max() > 0.1
    np.testing.assert_allclose(after, _tiny_with_flipped_head(crops), atol=1e-5)
    assert len(list((isolated / "cache" / "onnx").glob("tiny*.onnx"))) == 2
    stamp = files[0].stat().st_mtime_ns
    again = _tiny()  # the same weights: the file is read, not exported again
    assert files[0].stat().st_mtime_ns == stamp
    np.testing.assert_allclose(again.embed(crops), before, atol=1e-6)


def _tiny_with_flipped_head(crops: np.ndarray) -> np.ndarray:
    ref = _tiny("torch")
    with torch.no_grad():
        ref.net[4].weight.mul_(-1)
    return ref.embed(crops)


def test_engines_have_their_own_embedding_caches(isolated):
    from facekit.detect import get_detector
    from facekit.embed import embedding_key

    det = get_detector("whole-image")
    assert embedding_key(_tiny(), det, "largest") != embedding_key(_tiny("torch"), det, "largest")


#: RetinaFace's and the tiny embedder's CPU cache keys, as computed before the keys named devices
CPU_KEYS = ("retinaface@1r-ab3a7ffa", "tiny@1-6022d5871a")


def test_a_gpu_has_its_own_detection_and_embedding_caches(isolated, shared_weights):
    """A network on a GPU computes other numbers than on the CPU, so its detections and embeddings are cached apart;
    on the CPU the keys are what they were before devices were named (warm caches stay valid)."""
    from facekit.detect import get_detector
    from facekit.detect.cache import detector_key
    from facekit.embed import embedding_key

    det, emb = get_detector("retinaface", engine="torch"), _tiny("torch")
    cpu_det, cpu_emb = detector_key(det), embedding_key(emb, det, "largest")
    assert det.device == emb.device == "cpu"
    assert (cpu_det, cpu_emb) == CPU_KEYS  # the keys from before the device was named
    det.device, emb.device = "cuda:0", "cuda"  # as built on a GPU (none here); only the key reads them
    assert detector_key(det) != cpu_det
    assert embedding_key(emb, det, "largest") != cpu_emb
    det.device = "cpu"
    assert embedding_key(emb, det, "largest") != cpu_emb  # the embedder's own device counts too


def test_a_network_the_exporter_cannot_take_runs_in_torch_and_says_so(isolated):
    class Odd(torch.nn.Module):
        def forward(self, x):
            small = torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", antialias=True)
            return small.flatten(1)

    pre = Preprocessing((8, 8), "RGB", "(x - 127.5) / 128", "arcface112")
    with pytest.warns(UserWarning, match="not exported to ONNX.*runs in torch"):
        emb = TorchEmbedder("odd", Network(Odd(), 48, 127.5, 128.0), pre, device="cpu")
    assert emb.engine == "torch"
    assert emb.embed(np.zeros((2, 8, 8, 3), np.uint8)).shape == (2, 48)
    with pytest.raises(ValueError, match="engine='tensorrt' is not an engine"):
        TorchEmbedder("odd", Network(Odd(), 48, 127.5, 128.0), pre, device="cpu", engine="tensorrt")


def test_retinaface_in_onnxruntime_finds_what_torch_finds(mirror_data, shared_weights, shared_mirror):
    """Images of two sizes (LFW 250x250, a 1200x630 group photo, downscaled by the size policy) and the
    refinement's 256 px crops: same faces, boxes and landmarks within 0.01 px."""
    from facekit.data import lfw
    from facekit.detect import get_detector
    from facekit.io import read_image

    fast, slow = get_detector("retinaface"), get_detector("retinaface", engine="torch")
    assert fast.engine == "onnxruntime" and fast.config() != slow.config()  # separate detection caches
    photos = [lfw.root() / "lfw-deepfunneled" / PHOTOS[0], shared_mirror / "facenet_pytorch_test_images" /
              "multiface.jpg"]
    found = 0
    for path in photos:
        img = read_image(path)
        a, b = fast.detect(img), slow.detect(img)
        assert len(a) == len(b) > 0, path.name
        found += len(a)
        for x, y in zip(a, b, strict=True):
            assert np.abs(x.box - y.box).max() < 0.01 and np.abs(x.landmarks - y.landmarks).max() < 0.01
            assert abs(x.score - y.score) < 1e-4
    assert found >= 4  # the group photo's faces included
    with pytest.raises(ValueError, match="engine='onnx' is not an engine"):
        get_detector("retinaface", engine="onnx")


def test_the_engine_rule_torch_off_the_cpu(monkeypatch):
    from facekit.engines import choose

    monkeypatch.delenv("FACEKIT_ENGINE", raising=False)
    assert choose(None, "cpu") == "onnxruntime" and choose(None, "cuda:0") == "torch"
    assert choose("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="on the CPU here, not on cuda"):
        choose("onnxruntime", "cuda")


def test_facekit_engine_sets_a_whole_runs_engine_and_its_chapters_keys(monkeypatch):
    """``FACEKIT_ENGINE=torch`` runs everything in torch (records comparable with a torch build's); an argument
    still wins; a wrong value is one line naming the variable, exit 2; the book reruns a chapter whose engine
    changed."""
    from facekit import book, cli
    from facekit.engines import EngineError, choose

    monkeypatch.delenv("FACEKIT_ENGINE", raising=False)
    src = book.chapters()[0]
    default_key = book.chapter_key(src, "smoke")
    monkeypatch.setenv("FACEKIT_ENGINE", "torch")
    assert choose(None, "cpu") == "torch" and choose("onnxruntime", "cpu") == "onnxruntime"
    assert book.chapter_key(src, "smoke") != default_key
    monkeypatch.setenv("FACEKIT_ENGINE", "onnx")
    with pytest.raises(EngineError, match="FACEKIT_ENGINE='onnx' is not an engine"):
        choose(None, "cpu")
    monkeypatch.setenv("FACEKIT_ENGINE", "onnxruntime")
    with pytest.raises(EngineError, match="FACEKIT_ENGINE=onnxruntime runs on the CPU here, not on cuda"):
        choose(None, "cuda")
    assert EngineError in cli._user_errors()
    monkeypatch.setenv("FACEKIT_ENGINE", "onnx")
    fetched = []
    monkeypatch.setattr(book, "fetch_missing", lambda *a: fetched.append(a))
    assert cli.main(["book", "--profile", "smoke", "--only", src.stem, "--no-html"]) == 2
    assert not fetched  # refused before any data is copied


def test_a_replaced_scaling_is_one_rule_in_both_embedder_kinds(isolated):
    """Report 002's normalisation study: the torch and the ONNX embedder replace a network's scaling alike (the
    cache version, the preprocessing shown in tables, the pixels fed) and refuse an unknown one."""
    from dataclasses import replace

    from facekit.models.embedders import NORMALISATIONS, OnnxEmbedder

    crops = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    tiny = _tiny()  # exports the graph an OnnxEmbedder can load
    graph = next((isolated / "cache" / "onnx").glob("tiny*.onnx"))
    pre = tiny.preprocessing
    made = [TorchEmbedder("tiny", Network(tiny.net, 5, 127.5, 128.0), pre, engine="torch", device="cpu",
                          normalisation="div255"),
            OnnxEmbedder("tiny", Network(str(graph), 5, 127.5, 128.0), pre, normalisation="div255")]
    with torch.no_grad():
        expected = tiny.net(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    for emb in made:
        assert emb.version == "1-div255" and emb.normalisation == "div255"
        assert emb.preprocessing == replace(pre, scaling=NORMALISATIONS["div255"])
        np.testing.assert_allclose(emb.embed(crops), expected, atol=1e-5)
    with pytest.raises(ValueError, match="normalisation 'x / 2'"):
        OnnxEmbedder("tiny", Network(str(graph), 5), pre, normalisation="x / 2")
