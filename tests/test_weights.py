"""Weights registry: package-shipped files verify, a mismatch is refused, an absent file says where and what."""

from __future__ import annotations

import pytest

from facekit import weights
from facekit.weights import WeightsCorrupt, WeightsMissing, WeightSpec


def test_shipped_weights_resolve_and_verify():
    for name in ("mtcnn-onet", "dlib-shape-68", "haar-frontalface-default", "mediapipe-face-mesh-iris"):
        path = weights.resolve(name)
        assert path.is_file() and weights.sha256_of(name) == weights.get_spec(name).sha256


def test_mirror_weights(shared_weights):
    assert weights.resolve("retinaface-mnet025").name == "mobilenet0.25_Final.pth"


def test_mismatch_refused_and_missing_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEKIT_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("FACEKIT_CACHE", str(tmp_path / "cache"))
    spec = WeightSpec("toy", "toy.pth", "0" * 64, "https://example.invalid/toy.pth", "MIT", mirror_path="toy/toy.pth")
    monkeypatch.setitem(weights.REGISTRY, "toy", spec)
    with pytest.raises(WeightsMissing) as exc:
        weights.resolve("toy")
    msg = str(exc.value)
    assert "toy.pth" in msg and "https://example.invalid/toy.pth" in msg and "FACEKIT_WEIGHTS" in msg
    (tmp_path / "w" / "toy").mkdir(parents=True)
    (tmp_path / "w" / "toy" / "toy.pth").write_bytes(b"not the registered file")
    with pytest.raises(WeightsCorrupt, match="refusing"):
        weights.resolve("toy")
    rows = {r["name"]: r["state"] for r in weights.status()}
    assert rows["toy"] == "corrupt" and rows["yolov8n-face"] == "missing" and rows["mtcnn-onet"] == "ok"
