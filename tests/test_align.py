"""Alignment: templates hit exactly, eye-line geometry, box crops, quality checks with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from facekit.align import (
    ARCFACE_112,
    ARCFACE_112x96,
    QualityConfig,
    align,
    align_5point,
    crop_box,
    estimate_yaw,
    eye_line_matrix,
    quality_reasons,
    sharpness,
    similarity_matrix,
)
from facekit.detect import Detection


def _dot_image(point: np.ndarray, shape=(300, 400)) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    x, y = int(round(point[0])), int(round(point[1]))
    img[y - 3:y + 4, x - 3:x + 4] = 255
    return img


def _centroid(img: np.ndarray) -> np.ndarray:
    w = img[:, :, 0].astype(np.float64)
    ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


def test_similarity_recovers_known_transform():
    angle, scale, t = np.deg2rad(20), 1.7, np.array([30.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_112.astype(np.float64)
    dst = src @ rot.T + t
    m = similarity_matrix(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    with pytest.raises(ValueError, match="degenerate"):
        similarity_matrix(np.zeros((5, 2)), ARCFACE_112)


@pytest.mark.parametrize("size, template", [((112, 112), ARCFACE_112), ((96, 112), ARCFACE_112x96)])
def test_5point_warp_puts_landmarks_on_template(size, template):
    # the template scaled by 2.3, rotated by 15 degrees and moved: the warp must bring the dots back onto it
    a = np.deg2rad(15)
    rot = 2.3 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = np.round(ARCFACE_112 @ rot.T + np.array([150.0, 40.0]))
    for k in range(5):
        crop = align_5point(_dot_image(pts[k]), pts, size)
        assert crop.shape == (size[1], size[0], 3)
        np.testing.assert_allclose(_centroid(crop), template[k], atol=0.6)


def test_eye_line_alignment_levels_the_eyes():
    left, right = np.array([120.0, 140.0]), np.array([190.0, 110.0])  # tilted eye line
    m = eye_line_matrix(left, right, size=(96, 112), eye_row=51.6, eye_distance=35.2)
    le, re = m[:, :2] @ left + m[:, 2], m[:, :2] @ right + m[:, 2]
    np.testing.assert_allclose(le, [48 - 17.6, 51.6], atol=1e-6)
    np.testing.assert_allclose(re, [48 + 17.6, 51.6], atol=1e-6)


def test_crop_box_margin_and_padding():
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 40:60] = 255
    crop = crop_box(img, np.array([40, 40, 60, 60]), margin=0.5, size=(40, 40))
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].min() == 255 and crop[2, 2].max() == 0  # face in the middle, margin around it
    edge = crop_box(img, np.array([0, 0, 30, 30]), margin=0.5, size=(30, 30))  # leaves the image: replicated
    assert edge.shape == (30, 30, 3)
    with pytest.raises(ValueError, match="empty box"):
        crop_box(img, np.array([5, 5, 5, 9]))


def test_aligner_registry_needs_landmarks():
    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="needs five landmarks, and this detection has none"):
        align("arcface112", img, Detection([0, 0, 40, 40], 0.9))
    assert align("box224", img, Detection([0, 0, 40, 40], 0.9)).shape == (224, 224, 3)
    with pytest.raises(KeyError):
        align("nope", img, Detection([0, 0, 40, 40], 0.9))


def test_yaw_estimate():
    frontal = np.array([[40, 50], [70, 50], [55, 65], [44, 80], [66, 80]], float)
    assert abs(estimate_yaw(frontal)) < 1
    turned = frontal.copy()
    turned[2, 0] = 55 + 15 * np.sin(np.deg2rad(60))  # nose shifted by sin(60 deg) of half the eye distance
    assert estimate_yaw(turned) == pytest.approx(60, abs=0.5)
    rolled = frontal @ np.array([[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]]).T
    assert abs(estimate_yaw(rolled)) < 1, "roll alone is not yaw"


def test_quality_reasons():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    flat = np.full((112, 112, 3), 128, np.uint8)
    assert sharpness(sharp) > 100 and sharpness(flat) == 0
    lm = np.array([[40, 50], [70, 50], [55, 65], [44, 80], [66, 80]], float)
    good = Detection([20, 20, 100, 110], 0.99, lm)
    assert quality_reasons(good, sharp) == []
    small = Detection([20, 20, 50, 50], 0.5, lm)
    reasons = quality_reasons(small, flat, QualityConfig(min_face=40, min_score=0.9))
    assert any(r.startswith("face too small (30 px") for r in reasons)
    assert any(r.startswith("low detection score") for r in reasons)
    assert any(r.startswith("blurred") for r in reasons)
    turned = Detection([20, 20, 100, 110], 0.99, lm + np.array([[0, 0], [0, 0], [14, 0], [0, 0], [0, 0]]))
    assert any(r.startswith("head turned") for r in quality_reasons(turned, sharp))
