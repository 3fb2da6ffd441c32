"""Each embedder's preprocessing is pinned (size, channel order, scaling), and its output is unit length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facekit.models.embedders import Network, Preprocessing, TorchEmbedder, get_embedder
from facekit.weights import WeightsMissing


def test_mobilefacenet_preprocessing_pinned(shared_weights):
    emb = get_embedder("mobilefacenet-casia")
    assert emb.preprocessing == Preprocessing((96, 112), "RGB", "(x - 127.5) / 128", "arcface112x96")
    crop = np.zeros((112, 96, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 255, 0, 128
    x = emb.to_tensor([crop])
    assert tuple(x.shape) == (1, 3, 112, 96)
    assert x[0, 0, 0, 0].item() == pytest.approx(127.5 / 128)  # channel 0 is red: RGB order kept
    assert x[0, 1, 0, 0].item() == pytest.approx(-127.5 / 128)
    assert x[0, 2, 0, 0].item() == pytest.approx(0.5 / 128)
    e = emb.embed([crop, crop[:, ::-1].copy()])
    assert e.shape == (2, 256) and e.dtype == np.float32  # flip-concat of two 128-d halves
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="96x112"):
        emb.embed([np.zeros((112, 112, 3), np.uint8)])


def test_dlib_preprocessing_pinned_and_separates_people(mirror_data):
    from facekit.align import align
    from facekit.data import lfw
    from facekit.detect import get_detector
    from facekit.face_path import pick_face
    from facekit.io import read_image

    emb = get_embedder("dlib-resnet")
    assert emb.preprocessing == Preprocessing((150, 150), "RGB", "none (dlib scales internally)", "dlib-chip150")
    det = get_detector("retinaface")
    root = lfw.root() / "lfw-deepfunneled"
    crops = []
    for rel in ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg",
                "Serena_Williams/Serena_Williams_0001.jpg"):
        img = read_image(root / rel)
        crops.append(align("dlib-chip150", img, pick_face(det.detect(img), img.shape)[1]))
    e = emb.embed(crops)
    assert e.shape == (3, 128) and emb.metric == "euclidean"
    d_same, d_other = np.linalg.norm(e[0] - e[1]), np.linalg.norm(e[0] - e[2])
    assert d_same < 0.6 < d_other  # dlib's documented rule: the same person lies within 0.6
    swapped = emb.embed([c[..., ::-1].copy() for c in crops])  # BGR by mistake changes the descriptor
    assert np.abs(swapped - e).max() > 1e-3
    cos = get_embedder("dlib-resnet", metric="cosine").embed(crops)
    np.testing.assert_allclose(np.linalg.norm(cos, axis=1), 1.0, atol=1e-5)
    assert cos.shape == (3, 128)


def test_torch_embedder_bgr_and_scaling():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    pre = Preprocessing((2, 1), "BGR", "x - 100", "box224")
    emb = TorchEmbedder("probe", Network(net, 6, mean=100.0, std=1.0), pre)
    crop = np.array([[[10, 20, 30], [40, 50, 60]]], np.uint8)
    x = emb.to_tensor([crop])
    assert x[0, :, 0, 0].tolist() == [-70.0, -80.0, -90.0]  # B, G, R after the swap, minus the mean


def test_full_profile_embedders_explain_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEKIT_CACHE", str(tmp_path))
    for name in ("facenet-vggface2", "vgg-m-face-bn"):
        with pytest.raises(WeightsMissing, match="not found"):
            get_embedder(name)


def test_vgg_m_face_architecture_shapes():
    from facekit.models.backbones import VggMFaceBN

    net = VggMFaceBN().eval()
    with torch.no_grad():
        assert tuple(net(torch.zeros(1, 3, 224, 224)).shape) == (1, 4096)
    keys = set(net.state_dict())
    assert {"conv1.weight", "bn49.running_mean", "fc6.weight", "bn55.weight", "fc8.weight"} <= keys


def test_trained_embedder_version_follows_weights():
    from facekit.metric_training import as_embedder, build_model
    from facekit.studies.metric_learning import REPORT_001

    spec = REPORT_001[1]
    torch.manual_seed(0)
    a = as_embedder(spec, build_model(spec, 32).eval(), 32)
    torch.manual_seed(1)
    b = as_embedder(spec, build_model(spec, 32).eval(), 32)
    assert a.version != b.version and a.version.startswith("trained-")
    assert a.preprocessing.aligner == "arcface112" and a.preprocessing.size == (112, 112)


def test_a_flipped_torch_embedder_is_another_version_so_caches_never_mix_them():
    from facekit.models.embedders import Network, Preprocessing, TorchEmbedder

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    pre = Preprocessing((8, 8), "RGB", "(x - 127.5) / 128", "arcface112")
    made = {flip: TorchEmbedder("tiny", Network(net, 4, 127.5, 128.0), pre, flip=flip, device="cpu")
            for flip in (None, "concat", "sum")}
    assert len({e.version for e in made.values()}) == 3  # the version is part of every embedding cache key
    assert made["concat"].dim == 8 and made["sum"].dim == made[None].dim == 4
