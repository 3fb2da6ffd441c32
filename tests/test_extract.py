"""Batch extraction: the per-image table, reasons for rejection, and a cache that spares the detector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import skimage.data
from PIL import Image

from facekit.detect import get_detector
from facekit.detect.cache import CacheStats, detect_cached
from facekit.extract import extract_faces, reliability
from facekit.face_path import FacePath


class CountingDetector:
    """Wraps a detector and counts the images it is asked to process."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.name, self.version, self.has_landmarks = inner.name, inner.version, inner.has_landmarks

    def config(self):
        return self.inner.config()

    def detect(self, image):
        return self.detect_batch([image])[0]

    def detect_batch(self, images):
        self.calls += len(images)
        return self.inner.detect_batch(images)


def _folder(tmp_path):
    face = skimage.data.astronaut()
    paths = []
    for k in range(3):
        p = tmp_path / f"face{k}.png"
        Image.fromarray(np.ascontiguousarray(face[:, k * 10:])).save(p)
        paths.append(p)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(blank)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    return [*paths, blank, bad]


def test_second_run_calls_no_detector(isolated, tmp_path):
    paths = _folder(tmp_path)
    det = CountingDetector(get_detector("mtcnn"))
    first = CacheStats()
    detect_cached(det, paths, progress=False, stats=first)
    assert det.calls == 4 and (first.detected, first.unreadable) == (4, 1)
    det2 = CountingDetector(get_detector("mtcnn"))
    second = CacheStats()
    again = detect_cached(det2, paths, progress=False, stats=second)
    # the unreadable file is read again (it fails before any detector runs); every image comes from the cache
    assert det2.calls == 0 and second.cached == 4 and second.unreadable == 1
    assert [len(d.detections) for d in again[:4]] == [1, 1, 1, 0] and again[4].error
    # another configuration is another cache entry
    det3 = CountingDetector(get_detector("mtcnn", thresholds=(0.7, 0.8, 0.8)))
    detect_cached(det3, paths, progress=False)
    assert det3.calls == 4


def test_interrupted_run_resumes(isolated, tmp_path):
    paths = _folder(tmp_path)
    det = CountingDetector(get_detector("retinaface"))
    detect_cached(det, paths[:2], progress=False, batch_size=1)  # "interrupted" after two images
    det.calls = 0
    detect_cached(det, paths, progress=False, batch_size=1)
    assert det.calls == 2  # only the images not done before (the unreadable one never reaches the detector)


def test_extraction_table_and_reliability(isolated, tmp_path):
    paths = _folder(tmp_path)
    table, crops = extract_faces(paths, FacePath("retinaface", aligner="arcface112", fallback=None), progress=False,
                                 save_dir=tmp_path / "crops", return_crops=True)
    assert list(table.columns[:6]) == ["image", "sha1", "detector", "faces_found", "face_chosen", "score"]
    assert table.accepted.tolist() == [True, True, True, False, False]
    assert table.rejection.iloc[3] == "no face detected" and table.rejection.iloc[4].startswith("unreadable")
    assert all(c.shape == (112, 112, 3) for c in crops.values()) and len(crops) == 3
    assert len(list((tmp_path / "crops").glob("*.png"))) == 3
    rel = reliability(table)
    assert rel["accepted_share"] == 0.6 and rel["rejected_no_face_detected"] == 1 and rel["rejected_unreadable"] == 1
    # the path's own rules decide: with the mean-face fallback the blank image gets the set's mean face, marked
    # as such, and the quality checks still reject it
    mean, _ = extract_faces(paths, FacePath("retinaface", aligner="arcface112", fallback="mean"), progress=False)
    assert mean.face_source.iloc[3] == "fallback" and pd.isna(mean.face_chosen.iloc[3]) and not mean.accepted.iloc[3]


def test_crops_memory_mapped_and_reused(isolated, tmp_path):
    """A training set larger than memory: crops land in a memory-mapped cache file equal to the in-memory ones,
    and a second call reads it back without detecting or aligning again."""
    import facekit.embed as E

    paths = _folder(tmp_path)
    fp = FacePath("retinaface", aligner="arcface112", fallback=None)
    in_memory, src = fp.crops(paths, progress=False)
    mapped, src2 = fp.crops(paths, progress=False, memmap=True)
    assert isinstance(mapped, np.memmap) and src2 == src
    assert mapped.shape == in_memory.shape and np.array_equal(np.asarray(mapped), in_memory)
    assert src[3] == "failed: no face detected" and not mapped[3].any()  # a miss is a zero crop, marked
    calls = []
    real = E.align
    E.align = lambda *a: (calls.append(1), real(*a))[1]
    try:
        again, src3 = fp.crops(paths, progress=False, memmap=True)
    finally:
        E.align = real
    assert calls == [] and src3 == src and np.array_equal(np.asarray(again), in_memory)
    assert len(list((isolated / "cache" / "crops").glob("*.npy"))) == 1
