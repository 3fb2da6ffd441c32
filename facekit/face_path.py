"""``FacePath``: the whole way from a photo to a face vector as one frozen, serialisable value.

Detector (name + kwargs), backup detector, face policy, fallback, aligner and embedder (name + kwargs): every
chapter, cache key, results record and CLI command uses one, so that ``facekit verify`` can rebuild exactly the
path a chapter calibrated, and two runs that differ in any of these never share a cache entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from facekit import paths
from facekit.detect.base import Detection, Detector, get_detector
from facekit.detect.cache import Detected, detect_cached
from facekit.embed import (
    EmbeddedSet,
    align_chosen,
    backup_detections,
    choose_faces,
    embed_chosen,
    embedding_key,
)
from facekit.models.embedders import Embedder, get_embedder
from facekit.store import fingerprint

_POLICIES = ("largest", "central", "score")
_FALLBACKS = (None, "mean")


@lru_cache(maxsize=32)
def _detector(name: str, kwargs_json: str) -> Detector:
    return get_detector(name, **json.loads(kwargs_json))


@lru_cache(maxsize=16)
def _embedder(name: str, kwargs_json: str) -> Embedder:
    return get_embedder(name, **json.loads(kwargs_json))


def _kw(kwargs: Mapping[str, Any]) -> str:
    return json.dumps(dict(kwargs), sort_keys=True, default=str)


@dataclass(frozen=True)
class FacePath:
    """detector -> face policy -> backup detector -> fallback -> aligner -> embedder.

    ``aligner`` None means the embedder's own (``embedder.preprocessing.aligner``); ``embedder`` None makes a
    crops-only path (training sets). Models are built once per process and shared by equal paths."""

    detector: str
    embedder: str | None = None
    detector_kwargs: Mapping[str, Any] = field(default_factory=dict)
    backup: str | None = None
    backup_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy: str = "largest"
    fallback: str | None = "mean"
    aligner: str | None = None
    embedder_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy not in _POLICIES:
            raise ValueError(f"FacePath policy {self.policy!r}: use one of {', '.join(_POLICIES)}")
        if self.fallback not in _FALLBACKS:
            raise ValueError(f"FacePath fallback {self.fallback!r}: use 'mean' or None")
        if self.aligner is None and self.embedder is None:
            raise ValueError("a FacePath without an embedder needs an aligner (e.g. 'arcface112')")
        for f in ("detector_kwargs", "backup_kwargs", "embedder_kwargs"):
            object.__setattr__(self, f, dict(getattr(self, f) or {}))

    # ---------------------------------------------------------------------------------------------- identity
    def to_json(self) -> dict[str, Any]:
        """Plain JSON (what a results record stores)."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> FacePath:
        """The path ``to_json`` wrote (a dict or its JSON text); unknown keys are an error, not ignored."""
        d = json.loads(data) if isinstance(data, str) else dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown FacePath field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def key(self) -> str:
        """A short content key of the whole path (checkpoint and cache folder names)."""
        return fingerprint(self.to_json())

    def replace(self, **changes: Any) -> FacePath:
        """A copy with some fields changed (ablations)."""
        return replace(self, **changes)

    def describe(self) -> str:
        """One line for tables: ``retinaface (backup mtcnn) -> central -> arcface112x96 -> mobilefacenet-casia``."""
        det = self.detector + (f" {self.detector_kwargs}" if self.detector_kwargs else "")
        det += f" (backup {self.backup})" if self.backup else ""
        emb = (self.embedder or "crops") + (f" {self.embedder_kwargs}" if self.embedder_kwargs else "")
        return f"{det} -> {self.policy} face -> {self.fallback or 'no'} fallback -> {self.aligned_with()} -> {emb}"

    # ---------------------------------------------------------------------------------------------- models
    def build_detector(self) -> Detector:
        return _detector(self.detector, _kw(self.detector_kwargs))

    def build_backup(self) -> Detector | None:
        return _detector(self.backup, _kw(self.backup_kwargs)) if self.backup else None

    def build_embedder(self) -> Embedder:
        if self.embedder is None:
            raise ValueError("this FacePath has no embedder (a crops-only path)")
        return _embedder(self.embedder, _kw(self.embedder_kwargs))

    def aligned_with(self, embedder: Embedder | None = None) -> str:
        """The aligner this path uses: its own, else the embedder's."""
        if self.aligner:
            return self.aligner
        return (embedder or self.build_embedder()).preprocessing.aligner

    # ---------------------------------------------------------------------------------------------- running
    def detect(self, images: Sequence[str | Path], progress: bool = True) -> tuple[list[Detected], list | None]:
        """Cached detections of the primary detector, and the backup's where the primary found none."""
        detected = detect_cached(self.build_detector(), [Path(p) for p in images], progress=progress)
        if not any(not d.error and not d.detections for d in detected):
            return detected, None  # every image has a face: the backup model is never even loaded
        return detected, backup_detections(self.build_backup(), detected, progress)

    def faces(self, images: Sequence[str | Path], progress: bool = True,
              ) -> tuple[list[Detected], list[tuple[Detection | None, str]]]:
        """(detections per image, the face chosen per image with its source: detected / backup / fallback /
        failed: why)."""
        detected, second = self.detect(images, progress)
        return detected, choose_faces(detected, self.policy, self.fallback, second)

    def crops(self, images: Sequence[str | Path], progress: bool = True, memmap: bool = False,
              ) -> tuple[np.ndarray, list[str]]:
        """Aligned uint8 crops (n, h, w, 3) and the source of each (a zero crop where it failed). ``memmap``
        keeps them in a ``.npy`` memory map under the cache, named by the path and the images' content: a
        second call reads it back without detecting or aligning anything."""
        images = [Path(p) for p in images]
        out = None
        if memmap:
            from facekit.store import file_sha1

            key = fingerprint(self.to_json(), [file_sha1(p) for p in images], length=16)
            out = paths.cache_dir() / "crops" / f"{self.key()}-{key}.npy"
            sources = out.with_suffix(".json")
            if out.exists() and sources.exists():
                return np.load(out, mmap_mode="r"), json.loads(sources.read_text())
        detected, chosen = self.faces(images, progress)
        crops, source = align_chosen(detected, chosen, self.aligned_with(), progress, out=out)
        if out is not None:
            from facekit.store import atomic_write_json

            atomic_write_json(out.with_suffix(".json"), source)
        return crops, source

    def embed(self, images: Sequence[str | Path], embedder: Embedder | None = None, cache: bool = True,
              progress: bool = True, batch_size: int = 32) -> EmbeddedSet:
        """Embeddings of every image, cached by image content and path. ``embedder`` passes a model that is
        not in the registry (one trained in a chapter); its name must be the path's."""
        if embedder is not None and self.embedder is not None and embedder.name != self.embedder:
            raise ValueError(f"embedder {embedder.name!r} given for a FacePath of {self.embedder!r}")
        emb = embedder or self.build_embedder()
        detected, chosen = self.faces(images, progress)
        root = None
        if cache:
            key = embedding_key(emb, self.build_detector(), self.policy)
            if self.aligner and self.aligner != emb.preprocessing.aligner:
                key += f"-{self.aligner}"
            root = paths.cache_dir() / "embeddings" / key
        return embed_chosen(detected, chosen, emb, root, self.aligned_with(emb), batch_size, progress)

    def every_face(self, image: str | Path, embedder: Embedder | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Every face the detector finds in one photo (a group photo searched 1:N): each box in the file's pixels
        and one vector per face, aligned as the path aligns; a face the aligner rejects is left out. ImageError
        names an unreadable photo; a photo without a face gives no boxes."""
        from facekit.align import align
        from facekit.io import load_image

        emb = embedder or self.build_embedder()
        loaded = load_image(image)
        boxes, crops = [], []
        for det in self.build_detector().detect(loaded.pixels):
            try:
                crops.append(align(self.aligned_with(emb), loaded.pixels, det))
            except ValueError:
                continue
            boxes.append(np.asarray(det.box, np.float64) / loaded.scale)
        return boxes, (emb.embed(crops) if crops else np.zeros((0, emb.dim), np.float32))
