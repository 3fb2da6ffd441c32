"""Timing of a face path's detector on already-decoded images: seconds per image one by one and batched, and
detect + pick the face + align, each step the path's own."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from facekit.align import align
from facekit.face_path import FacePath, pick_face


def time_detection(face_path: FacePath, images: Sequence[np.ndarray], warmup: int = 2,
                   with_alignment: bool = True) -> dict[str, float]:
    """Median and mean seconds per image for ``detect`` one by one, mean for ``detect_batch`` over all images,
    and (``with_alignment``, for a detector with landmarks) the median of detect + the path's pick + its aligner."""
    detector = face_path.build_detector()
    for im in images[:warmup]:
        detector.detect(im)
    aligner = face_path.aligned_with() if with_alignment and detector.has_landmarks else None
    single, both = [], []
    for im in images:
        t0 = time.perf_counter()
        dets = detector.detect(im)
        single.append(time.perf_counter() - t0)
        if aligner:
            _, det = pick_face(dets, im.shape, face_path.policy)
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
