"""Detection with an on-disk cache keyed by image content, detector name, version and configuration.

One small JSON per image, written atomically as soon as its batch is done: an interrupted run resumes where it
stopped, and a second run over the same images calls no detector at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facekit import paths
from facekit.detect.base import Detection, Detector
from facekit.io import ImageError, load_image
from facekit.runtime import in_batches
from facekit.store import atomic_write_json, file_sha1


@dataclass
class Detected:
    """Cached detections of one image (coordinates of ``facekit.io.read_image(path)``) or the reason it failed."""

    path: Path
    sha1: str
    detections: list[Detection] = field(default_factory=list)
    seconds: float = 0.0  # detector time for this image as measured when it was computed
    image_size: tuple[int, int] = (0, 0)  # (width, height)
    error: str = ""  # unreadable image: the reason, and no detections


@dataclass
class CacheStats:
    """How a ``detect_cached`` call was served."""

    cached: int = 0
    detected: int = 0
    unreadable: int = 0


def detector_key(detector: Detector) -> str:
    """``<name>@<version>-<config hash>``: what makes two detectors' outputs interchangeable."""
    config = getattr(detector, "config", dict)()
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{detector.name.replace(':', '_').replace('/', '_')}@{detector.version}-{digest}"


def _entry(root: Path, sha1: str) -> Path:
    return root / sha1[:2] / f"{sha1}.json"


def detect_cached(detector: Detector, image_paths: Sequence[str | Path], batch_size: int = 16,
                  progress: bool = True, cache_root: Path | None = None,
                  stats: CacheStats | None = None) -> list[Detected]:
    """Detections for every path, from the cache where present, else computed in batches and cached.

    Unreadable images come back with ``error`` set (and are cached as such), never as an exception.
    """
    root = (cache_root or paths.cache_dir() / "detections") / detector_key(detector)
    stats = stats if stats is not None else CacheStats()
    out: list[Detected | None] = [None] * len(image_paths)
    todo: list[tuple[int, Path, str]] = []
    for i, p in enumerate(image_paths):
        p = Path(p)
        try:
            sha = file_sha1(p)
        except OSError as exc:
            out[i] = Detected(p, "", error=f"cannot read file: {exc.strerror or exc}")
            stats.unreadable += 1
            continue
        entry = _entry(root, sha)
        if entry.exists():
            d = json.loads(entry.read_text())
            out[i] = Detected(p, sha, [Detection.from_json(x) for x in d["detections"]], d["seconds"],
                              tuple(d["image_size"]), d.get("error", ""))
            stats.cached += 1
        else:
            todo.append((i, p, sha))
    for chunk in in_batches(todo, batch_size, f"detect ({detector.name})", progress):
        images, ok = [], []
        for i, p, sha in chunk:
            try:
                images.append(load_image(p).pixels)
                ok.append((i, p, sha))
            except ImageError as exc:
                out[i] = Detected(p, sha, error=exc.reason)
                atomic_write_json(_entry(root, sha), {"detections": [], "seconds": 0.0, "image_size": [0, 0],
                                                      "error": exc.reason})
                stats.unreadable += 1
        if images:
            t0 = time.perf_counter()
            results = detector.detect_batch(images)
            per_image = (time.perf_counter() - t0) / len(images)
            for (i, p, sha), img, dets in zip(ok, images, results, strict=True):
                size = (int(img.shape[1]), int(img.shape[0]))
                out[i] = Detected(p, sha, dets, per_image, size)
                atomic_write_json(_entry(root, sha), {"detections": [d.to_json() for d in dets],
                                                      "seconds": per_image, "image_size": list(size),
                                                      "batch": len(images)})
                stats.detected += 1
    return [d for d in out if d is not None]
