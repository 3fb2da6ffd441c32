"""Every detector backend on real photos: box, score range, landmark order; no-face, grayscale, tiny, selection."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from facekit.detect import Detection, available, get_detector
from facekit.face_path import pick_face as select_face
from facekit.io import read_image

# the astronaut's face (measured once by hand from the image: eyes near (204, 102) and (247, 104))
FACE = np.array([175.0, 60.0, 275.0, 180.0])


def _iou(a, b):
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


def _check_landmarks(lm: np.ndarray, box: np.ndarray) -> None:
    le, re, nose, ml, mr = lm
    assert le[0] < re[0] and ml[0] < mr[0], "image-left eye and mouth corner come first"
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1]), "eyes above the nose above the mouth"
    assert np.all(lm[:, 0] > box[0] - 5) and np.all(lm[:, 0] < box[2] + 5)


MIRROR_DETECTORS = ["scrfd", "yunet", "yolov8-face", "yolov5-face"]  # weights from ../shared/weights


@pytest.fixture()
def _weights_for(request):
    """The mirror detectors need FACEKIT_WEIGHTS (a recorded skip without the shared weights)."""
    if request.node.callspec.params["name"] in MIRROR_DETECTORS:
        request.getfixturevalue("shared_weights")


@pytest.mark.usefixtures("_weights_for")
@pytest.mark.parametrize("name", ["mtcnn", "retinaface", "dlib-hog", "dlib-cnn", "mediapipe", "haar",
                                  *MIRROR_DETECTORS])
def test_backend_on_astronaut(name, astronaut):
    det = get_detector(name)
    found = det.detect(astronaut)
    assert found and all(isinstance(d, Detection) for d in found)
    best = max(found, key=lambda d: _iou(d.box, FACE))
    assert _iou(best.box, FACE) > 0.5
    assert all(0.0 <= d.score <= 1.0 for d in found)
    if det.has_landmarks:
        assert best.landmarks is not None
        _check_landmarks(best.landmarks, best.box)
        assert abs(best.landmarks[0, 0] - 204) < 8 and abs(best.landmarks[1, 0] - 247) < 8
    else:
        assert best.landmarks is None


@pytest.mark.usefixtures("_weights_for")
@pytest.mark.parametrize("name", ["mtcnn", "retinaface", "mediapipe", "dlib-hog", "dlib-cnn", "haar",
                                  *MIRROR_DETECTORS])
def test_backend_on_shared_portrait(name, mirror_data):
    from facekit.data import sources

    root = sources.fetch("facenet_test_images", progress=False)
    img = read_image(root / "test_images" / "paul_rudd" / "1.jpg")
    det = get_detector(name) if name in MIRROR_DETECTORS else get_detector(name, max_side=512)  # these letterbox
    found = det.detect(img)
    assert len(found) >= 1 and all(0 <= d.score <= 1 for d in found)
    best = max(found, key=lambda d: d.area)
    assert best.width > 0.1 * img.shape[1]
    if det.has_landmarks:
        _check_landmarks(best.landmarks, best.box)
    else:
        assert best.landmarks is None


def test_no_face_grayscale_tiny_and_batch(astronaut):
    det = get_detector("mtcnn")
    blank = np.full((200, 300, 3), 127, np.uint8)
    assert det.detect(blank) == []
    grey = (astronaut.mean(axis=2)).astype(np.uint8)
    assert any(_iou(d.box, FACE) > 0.5 for d in det.detect(grey))
    assert det.detect(np.zeros((8, 8, 3), np.uint8)) == []
    batch = det.detect_batch([astronaut, blank, astronaut[:300, :300]])
    assert len(batch) == 3 and batch[1] == [] and batch[0] and batch[2]
    np.testing.assert_allclose(batch[0][0].box, det.detect(astronaut)[0].box, atol=1.0)


def test_retinaface_batched_equals_single(astronaut):
    det = get_detector("retinaface")
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    batch = det.detect_batch([astronaut, flipped])
    for img, got in zip([astronaut, flipped], batch, strict=True):
        np.testing.assert_allclose(got[0].box, det.detect(img)[0].box, atol=0.5)


def test_huge_image_coordinates_mapped_back(astronaut):
    big = np.kron(astronaut, np.ones((3, 3, 1), np.uint8))  # 1536 px > max_side 1024
    found = get_detector("retinaface").detect(big)
    assert any(_iou(d.box, FACE * 3) > 0.5 for d in found)


def test_selection_policies():
    dets = [Detection([0, 0, 50, 50], 0.99), Detection([80, 80, 120, 120], 0.90), Detection([0, 0, 70, 60], 0.50)]
    shape = (200, 200)
    assert select_face(dets, shape, "largest")[0] == 2
    assert select_face(dets, shape, "central")[0] == 1
    assert select_face(dets, shape, "score")[0] == 0
    assert select_face([], shape) == (None, None)
    with pytest.raises(ValueError, match="unknown policy"):
        select_face(dets, shape, "random")


def test_detection_validates_score_and_shapes():
    with pytest.raises(ValueError):
        Detection([0, 0, 1, 1], 1.5)
    d = Detection([0, 0, 10, 10], 0.5, np.zeros(10))
    assert d.landmarks.shape == (5, 2)
    assert Detection.from_json(d.to_json()).box.tolist() == [0, 0, 10, 10]


def test_registry_lists_all_six_backends():
    names = set(available())
    assert {"mtcnn", "retinaface", "dlib-hog", "dlib-cnn", "mediapipe", "haar", "yolo", *MIRROR_DETECTORS} <= names
    with pytest.raises(KeyError, match="unknown detector"):
        get_detector("nope")


def test_yolo_interface_with_yaml_model(tmp_path, monkeypatch, astronaut):
    """No YOLO weights here: the code path runs on a random 5-keypoint pose model built from a yaml."""
    import ultralytics

    from facekit.weights import WeightsMissing

    monkeypatch.setenv("FACEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    src = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8-pose.yaml"
    text = src.read_text().replace("kpt_shape: [17, 3]", "kpt_shape: [5, 3]")
    assert "kpt_shape: [5, 3]" in text
    yaml = tmp_path / "face5-pose.yaml"
    yaml.write_text(text)
    det = get_detector("yolo", model=str(yaml), conf=0.0001, imgsz=160)
    assert det.has_landmarks
    found = det.detect(astronaut)
    assert found, "a random model at conf 1e-4 still returns boxes"
    assert all(isinstance(d, Detection) and d.landmarks is not None and 0 <= d.score <= 1 for d in found)
    with pytest.raises(WeightsMissing, match="yolov8n-face.pt.*Put the file at"):
        get_detector("yolo", model="yolov8n-face")
    # importing ultralytics must not leave its PIL.Image.open wrapper (it pip-installs on unknown files)
    from PIL import Image

    assert Image.open.__module__ == "PIL.Image"


def test_retinaface_r50_code_path_and_missing_weights(astronaut, tmp_path, monkeypatch):
    """The ResNet-50 weights are absent here: the missing file is named, and the code path runs on random weights."""
    from retinaface.model import retinaface_pth_model

    from facekit.weights import WeightsMissing

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    with pytest.raises(WeightsMissing, match="retinaface.pth"):
        get_detector("retinaface-r50")
    det = get_detector("retinaface-r50", model=retinaface_pth_model.RetinaFace().eval(), threshold=0.9)
    found = det.detect(astronaut[:128, :128])
    assert isinstance(found, list) and all(isinstance(d, Detection) for d in found)


def test_worker_pool_gives_the_cached_results_of_one_process(astronaut, tmp_path, monkeypatch):
    """Detections spread over two spawned worker processes equal those of one process, image by image, and land in
    the same cache entries (a second call detects nothing)."""
    import cv2

    from facekit.detect import cache
    from facekit.detect.cache import CacheStats, detect_cached

    monkeypatch.setattr(cache, "MIN_PER_WORKER", 48)  # the pool starts on fewer images than a chapter's
    MIN_PER_WORKER = 48
    small = cv2.resize(astronaut, (160, 160))
    paths = []
    for k in range(2 * MIN_PER_WORKER):
        img = np.roll(small, k, axis=1)  # different bytes, one face each
        p = tmp_path / "img" / f"{k:03d}.png"
        p.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(p), img[:, :, ::-1])
        paths.append(p)
    (tmp_path / "img" / "bad.png").write_bytes(b"not an image")
    paths.append(tmp_path / "img" / "bad.png")
    det = get_detector("haar")
    one = detect_cached(det, paths, progress=False, cache_root=tmp_path / "c1", workers=1)
    stats = CacheStats()
    two = detect_cached(det, paths, progress=False, cache_root=tmp_path / "c2", workers=2, stats=stats)
    assert stats.detected == 2 * MIN_PER_WORKER and stats.unreadable == 1
    assert [d.path for d in two] == paths
    assert [[x.box.tolist() for x in d.detections] for d in one] == [[x.box.tolist() for x in d.detections]
                                                                   for d in two]
    assert two[-1].error and sum(len(d.detections) > 0 for d in two) > 10
    again = CacheStats()
    detect_cached(det, paths, progress=False, cache_root=tmp_path / "c2", workers=2, stats=again)
    # the unreadable file is read again (a newer reader may manage it); every other image comes from the cache
    assert again.cached == len(paths) - 1 and again.unreadable == 1 and again.detected == 0


def test_dlib_detector_served_from_cache_loads_no_model(astronaut, tmp_path, monkeypatch):
    """A dlib detector whose images are all cached never opens its model files (the GPU box had the detection cache
    but not the 99 MB 68-point predictor); the first real detection still asks for them."""
    import cv2

    from facekit import weights
    from facekit.detect.cache import CacheStats, detect_cached

    p = tmp_path / "a.png"
    cv2.imwrite(str(p), astronaut[:, :, ::-1])
    detect_cached(get_detector("dlib-hog"), [p], progress=False, cache_root=tmp_path / "c", workers=1)

    def missing(name):
        raise weights.WeightsMissing(f"{name} is not on this machine")

    monkeypatch.setattr(weights, "resolve", missing)
    det = get_detector("dlib-hog")  # builds without the 68-point predictor
    stats = CacheStats()
    (got,) = detect_cached(det, [p], progress=False, cache_root=tmp_path / "c", workers=1, stats=stats)
    assert stats.cached == 1 and got.detections and got.detections[0].landmarks is not None
    with pytest.raises(weights.WeightsMissing, match="dlib-shape-68"):
        det.detect(astronaut)


def test_numpy_nms_keeps_what_torchvision_keeps():
    import torch
    from torchvision.ops import nms as tv_nms

    from facekit.detect.decode import nms

    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(1, 60))
        xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
        wh = rng.uniform(5, 80, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + wh], 1)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        iou = float(rng.uniform(0.2, 0.7))
        want = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        assert nms(boxes, scores, iou).tolist() == want.tolist(), trial


def test_an_onnx_face_path_never_imports_torch(mirror_data, tmp_path):
    """SCRFD or YuNet with SFace: a command on this path loads no torch (a cold verify stays light)."""
    import subprocess
    import sys

    from facekit.data import lfw

    root = lfw.root() / "lfw-deepfunneled" / "Colin_Powell"
    code = ("import sys\nfrom facekit.face_path import FacePath\n"
            "for det in ('scrfd', 'yunet'):\n"
            "    out = FacePath(det, 'sface', policy='largest', fallback=None).embed(sys.argv[1:], progress=False)\n"
            "    assert out.ok.all(), out.source\n"
            "print('torch' in sys.modules)\n")
    env = {**os.environ, "FACEKIT_CACHE": str(tmp_path / "cache")}  # cold: detection runs
    out = subprocess.run([sys.executable, "-c", code, str(root / "Colin_Powell_0001.jpg"),
                          str(root / "Colin_Powell_0002.jpg")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
