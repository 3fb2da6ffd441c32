"""Detection with an on-disk cache keyed by image content, detector name, version and configuration.

One small JSON per image, written atomically as soon as its batch is done: an interrupted run resumes where it
stopped, and a second run over the same images calls no detector at all. Many uncached images are spread over a
pool of worker processes (one per core, each with one math thread), each building the detector once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facekit import paths
from facekit.detect.base import Detection, Detector
from facekit.io import ImageError, load_image
from facekit.runtime import cap_threads, cores, device_kind, in_batches, pooled
from facekit.runtime import workers as default_workers
from facekit.store import atomic_write_json, file_sha1
from facekit.tally import record


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
    """``<name>@<version>-<config hash>``: what makes two detectors' outputs interchangeable (a network on a GPU
    gets its own key; on the CPU the key is what it was before devices were named)."""
    config = getattr(detector, "config", dict)()
    if (kind := device_kind(getattr(detector, "device", None))) != "cpu":
        config = {**config, "device": kind}
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{detector.name.replace(':', '_').replace('/', '_')}@{detector.version}-{digest}"


def _entry(root: Path, sha1: str) -> Path:
    return root / sha1[:2] / f"{sha1}.json"


#: below this many uncached images per worker, starting the pool costs more than it saves
MIN_PER_WORKER = 200


def _detect_chunk(detector: Detector, chunk: list[tuple[int, Path, str]]) -> list[tuple[int, Path, str, dict]]:
    """Detect one batch; per image the cache entry to write (an unreadable image's entry holds its reason)."""
    images, ok, out = [], [], []
    for i, p, sha in chunk:
        try:
            images.append(load_image(p).pixels)
            ok.append((i, p, sha))
        except ImageError as exc:
            out.append((i, p, sha, {"detections": [], "seconds": 0.0, "image_size": [0, 0], "error": exc.reason}))
    if images:
        t0 = time.perf_counter()
        results = detector.detect_batch(images)
        per_image = (time.perf_counter() - t0) / len(images)
        for (i, p, sha), img, dets in zip(ok, images, results, strict=True):
            out.append((i, p, sha, {"detections": [d.to_json() for d in dets], "seconds": per_image,
                                    "image_size": [int(img.shape[1]), int(img.shape[0])], "batch": len(images)}))
    return out


_WORKER: dict[str, Detector] = {}


def _worker_init(spec: tuple[str, dict], threads: int) -> None:
    cap_threads(threads)
    from facekit.detect.base import DETECTORS

    _WORKER["detector"] = DETECTORS.get(spec[0], **spec[1])


def _worker_chunk(chunk: list[tuple[int, Path, str]]) -> list[tuple[int, Path, str, dict]]:
    return _detect_chunk(_WORKER["detector"], chunk)


def _pooled(detector: Detector, todo: list[tuple[int, Path, str]], batch_size: int, n_workers: int,
            progress: bool) -> Iterator[list[tuple[int, Path, str, dict]]]:
    """Batches detected by ``n_workers`` spawned processes, in completion order, under one progress bar."""
    threads = max(1, cores() // n_workers)
    return pooled(_worker_chunk, todo, batch_size, n_workers, _worker_init, (detector.registry_spec, threads),
                  f"detect ({detector.name}, {n_workers} workers)", progress)


def detect_cached(detector: Detector, image_paths: Sequence[str | Path], batch_size: int = 16,
                  progress: bool = True, cache_root: Path | None = None,
                  stats: CacheStats | None = None, workers: int | None = None) -> list[Detected]:
    """Detections for every path, from the cache where present, else computed in batches and cached.

    ``workers`` (default ``facekit.runtime.workers()``: one per core on the CPU) spreads the uncached images over
    that many processes when there are enough of them and the detector was built from the registry; the cache
    entries are the same. Unreadable images come back with ``error`` set (cached as such, and read again on the
    next call), never as an exception.
    """
    root = (cache_root or paths.cache_dir() / "detections") / detector_key(detector)
    stats = stats if stats is not None else CacheStats()
    out: list[Detected | None] = [None] * len(image_paths)
    todo: list[tuple[int, Path, str]] = []
    computed = read = 0  # this call's own counts (``stats`` may be shared between calls)
    for i, p in enumerate(image_paths):
        p = Path(p)
        try:
            sha = file_sha1(p)
        except OSError as exc:
            out[i] = Detected(p, "", error=f"cannot read file: {exc.strerror or exc}")
            stats.unreadable += 1
            continue
        entry = _entry(root, sha)
        d = json.loads(entry.read_text()) if entry.exists() else None
        if d is not None and not d.get("error"):
            out[i] = Detected(p, sha, [Detection.from_json(x) for x in d["detections"]], d["seconds"],
                              tuple(d["image_size"]))
            stats.cached += 1
            read += 1
        else:  # never seen, or unreadable last time: read again (cheap, and a newer reader may manage it)
            todo.append((i, p, sha))
    n_workers = default_workers(getattr(detector, "device", None)) if workers is None else max(1, workers)
    if n_workers > 1 and (len(todo) < MIN_PER_WORKER * n_workers or not hasattr(detector, "registry_spec")):
        n_workers = 1
    if n_workers > 1:
        batches: Iterator = _pooled(detector, todo, batch_size, n_workers, progress)
    else:
        batches = (_detect_chunk(detector, c) for c in in_batches(todo, batch_size, f"detect ({detector.name})",
                                                                   progress))
    for done in batches:
        for i, p, sha, entry in done:
            atomic_write_json(_entry(root, sha), entry)
            if entry.get("error"):
                out[i] = Detected(p, sha, error=entry["error"])
                stats.unreadable += 1
            else:
                out[i] = Detected(p, sha, [Detection.from_json(x) for x in entry["detections"]], entry["seconds"],
                                  tuple(entry["image_size"]))
                stats.detected += 1
                computed += 1
    record("detections", computed, read)
    return [d for d in out if d is not None]
