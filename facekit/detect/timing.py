"""Timing of detectors: seconds per image single and batched, and detect + align, on already-decoded images."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from facekit.align import align
from facekit.detect.base import Detector, select_face

#: Report 000's published extraction times (seconds per image), for "reported by" columns only.
REPORTED_000 = {"yolo_person_seconds_per_image": 2.07, "retinaface_dlib_seconds_per_image": 4.65,
                "source": "report 000, section 3.1-3.2"}


def time_detector(detector: Detector, images: Sequence[np.ndarray], aligner: str | None = "arcface112",
                  warmup: int = 2) -> dict[str, float]:
    """Median and mean seconds per image for ``detect`` one by one, mean for ``detect_batch`` over all images,
    and median for detect + choose the largest face + align (when the detector gives landmarks)."""
    for im in images[:warmup]:
        detector.detect(im)
    single, both = [], []
    for im in images:
        t0 = time.perf_counter()
        dets = detector.detect(im)
        t1 = time.perf_counter()
        single.append(t1 - t0)
        if aligner and detector.has_landmarks:
            _, det = select_face(dets, im.shape)
            if det is not None and det.landmarks is not None:
                align(aligner, im, det)
            both.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    detector.detect_batch(list(images))
    batched = (time.perf_counter() - t0) / max(1, len(images))
    out = {"single_median": float(np.median(single)), "single_mean": float(np.mean(single)),
           "batched_mean": float(batched), "images": len(images)}
    if both:
        out["detect_align_median"] = float(np.median(both))
    return out
