"""Detection and landmark metrics on hand-made numbers, and the 300-W evaluator against an oracle detector."""

from __future__ import annotations

import numpy as np
import pytest

from facekit.data import w300
from facekit.detect import Detection
from facekit.metrics import auc_at, box_iou, cdf, failure_rate, match_boxes, nme
from facekit.studies.detection import evaluate_300w


def test_box_iou_and_matching():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    pred = np.array([[21, 21, 31, 31], [0, 0, 10, 5], [100, 100, 110, 110]])
    iou = box_iou(gt, pred)
    assert iou[0, 1] == pytest.approx(0.5) and iou[1, 0] == pytest.approx(81 / 119)
    match, best = match_boxes(gt, pred, 0.5)
    assert match.tolist() == [1, 0] and best[1] == pytest.approx(81 / 119)
    match, _ = match_boxes(gt, pred, 0.6)
    assert match.tolist() == [-1, 0]
    assert match_boxes(gt, np.zeros((0, 4)))[0].tolist() == [-1, -1]


def test_nme_failure_cdf_auc():
    gt = np.zeros((5, 2))
    pred = np.array([[3, 4]] * 5, float)  # every point 5 px off
    assert nme(pred, gt, 50) == pytest.approx(0.1)
    errors = np.array([0.02, 0.05, 0.2, np.inf])
    assert failure_rate(errors, 0.1) == 0.5
    assert cdf(errors, np.array([0.0, 0.05, 1.0])).tolist() == [0.0, 0.5, 0.75]
    assert auc_at(np.array([0.0, 0.0]), 0.1) == pytest.approx(1.0)
    assert auc_at(np.array([np.inf]), 0.1) == 0.0
    with pytest.raises(ValueError):
        nme(pred, gt[:4], 1.0)


class Oracle:
    """A 'detector' that returns the annotated faces themselves (optionally with shifted landmarks)."""

    name, version, has_landmarks = "oracle", "1", True

    def __init__(self, faces, shift=0.0):
        self.by_image = {}
        for f in faces.itertuples():
            self.by_image.setdefault(f.image.name, []).append(f.landmarks)
        self.shift = shift

    def config(self):
        return {"shift": self.shift}

    def detect_batch(self, images):
        raise AssertionError("replaced per test")


def test_evaluator_with_oracle(isolated, mirror_data, monkeypatch):
    faces = w300.faces()
    faces = faces[faces.image.isin(list(dict.fromkeys(faces.image))[:12])]
    import facekit.studies.detection as ev
    from facekit.detect.cache import Detected

    def fake_cached(detector, images, progress=True):
        out = []
        for p in images:
            lms = faces[faces.image == p].landmarks
            dets = [Detection(w300.box_from_landmarks(lm), 1.0, w300.five_points(lm) + detector.shift,
                              {"landmarks68": lm}) for lm in lms]
            out.append(Detected(p, "x", dets, 0.01, (100, 100)))
        return out

    monkeypatch.setattr(ev, "detect_cached", fake_cached)
    table, s = evaluate_300w(Oracle(faces), faces, progress=False)
    assert s["recall"] == 1.0 and s["nme5_mean"] == pytest.approx(0.0, abs=1e-6) and s["nme68_mean"] < 1e-6
    assert s["failure_rate_0.1"] == 0.0
    det = Oracle(faces, shift=1000.0)
    _, s2 = evaluate_300w(det, faces, progress=False)
    assert s2["failure_rate_0.1"] == 1.0 and s2["nme5_mean"] > 1
