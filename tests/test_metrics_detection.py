"""Detection and landmark metrics on hand-made numbers, the 300-W evaluator against an oracle detector, and
report 001's CelebA box test against a scripted one."""

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


def test_report_001s_box_test_counts_precision_recall_and_iou_on_celebas_labelled_boxes(isolated, tmp_path):
    """A fake full-CelebA folder (list_bbox_celeba.txt and three images) and a detector that answers by image
    size: one exact hit, one hit plus a second face, one miss; the counts are the rule's."""
    from PIL import Image

    from facekit.data import celeba
    from facekit.studies import detection as ds

    base = tmp_path / "celeba"
    (base / "img_celeba").mkdir(parents=True)
    sizes = {"000001.jpg": 100, "000002.jpg": 110, "000003.jpg": 120}
    for name, side in sizes.items():
        Image.fromarray(np.full((side, side, 3), 128, np.uint8)).save(base / "img_celeba" / name)
    (base / "list_bbox_celeba.txt").write_text("3\nimage_id x_1 y_1 width height\n000001.jpg 10 10 40 40\n"
                                               "000002.jpg 20 20 40 40\n000003.jpg 30 30 40 40\n")
    images = celeba.box_sample(10, base=base)
    assert len(images) == 3 and images.iloc[0][["x1", "y1", "x2", "y2"]].tolist() == [10, 10, 50, 50]

    class Scripted:
        name, version, has_landmarks = "scripted", "1", False

        def config(self):
            return {}

        def detect(self, image):
            return self.detect_batch([image])[0]

        def detect_batch(self, batch):
            out = []
            for img in batch:
                side = img.shape[0]
                out.append({100: [Detection([10, 10, 50, 50], 0.9)],
                            110: [Detection([22, 22, 62, 62], 0.9), Detection([70, 70, 100, 100], 0.8)],
                            120: [Detection([0, 0, 10, 10], 0.9)]}[side])
            return out

    table, summary = ds.evaluate_boxes(Scripted(), images, progress=False)
    assert table.matched.tolist() == [True, True, False]
    assert summary["recall"] == pytest.approx(2 / 3) and summary["precision"] == pytest.approx(2 / 4)
    iou2 = (38 * 38) / (2 * 40 * 40 - 38 * 38)
    assert summary["mean_iou_matched"] == pytest.approx((1 + iou2) / 2)
    (base / "list_bbox_celeba.txt").unlink()
    with pytest.raises(Exception, match="list_bbox_celeba.txt is missing"):
        celeba.box_sample(3, base=base)
    assert "not run in this profile" in ds.celeba_boxes_note(ds.CHAPTER.params("cpu")).lower()
    assert "dataset:celeba" in [str(n) for n in ds.CHAPTER.needs_of(ds.CHAPTER.params("full"))]
