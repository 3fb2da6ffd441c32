"""``FacePath``: the whole way from a photo to a face vector as one frozen, serialisable value that also owns every
step of that way.

Detector (name + kwargs), backup detector, face policy, fallback, aligner and embedder (name + kwargs): every
chapter, cache key, results record and command uses one, so that ``facekit verify`` can rebuild exactly the path a
chapter calibrated, and two runs that differ in any of these never share a cache entry. Each step is a public
method, and every rule that picks a face lives here, the way facenet-pytorch's ``MTCNN`` exposes ``detect``,
``select_boxes`` and ``extract``:

>>> fp = FacePath("retinaface", "mobilefacenet-casia", backup="mtcnn", policy="central", aligner="arcface112x96")
>>> fp.describe()
'retinaface (backup mtcnn) -> central face -> mean fallback -> arcface112x96 -> mobilefacenet-casia'
>>> FacePath.from_json(fp.to_json()) == fp
True
>>> import numpy as np
>>> from facekit.detect.base import Detection
>>> faces = [Detection([0, 0, 40, 40], 0.9), Detection([80, 80, 100, 100], 0.99)]
>>> pick_face(faces, (120, 120), "largest")[0], pick_face(faces, (120, 120), "score")[0]
(0, 1)

``detect`` (cached detections, the backup detector's where the first finds nothing) -> ``choose`` (one face per
image: the policy's pick, else the backup's, else the set's mean face, else failed) -> ``align`` -> ``embed``
(cached, ``facekit.embed``). ``faces``, ``crops`` and ``embed`` chain them; ``every_face`` keeps every face of
one photo (a group photo searched 1:N).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from facekit import paths
from facekit.detect.base import DETECTORS, Detection, Detector, get_detector
from facekit.detect.cache import CacheStats, Detected, detect_cached
from facekit.embed import EmbeddedSet, embed_chosen, embedding_key
from facekit.models.embedders import Embedder, get_embedder
from facekit.store import fingerprint
from facekit.tally import record

POLICIES = ("largest", "central", "score")
FALLBACKS = (None, "mean")
#: One chosen face per image: the detection (None when there is none) and where it came from: "detected",
#: "backup", "fallback" or "failed: why".
Chosen = tuple[Detection | None, str]


def pick_face(detections: Sequence[Detection], image_shape: tuple[int, ...], policy: str = "largest",
              ) -> tuple[int, Detection] | tuple[None, None]:
    """The face a policy picks: ``largest`` box area, ``central`` (box centre nearest the image centre) or top
    ``score``; ties go to the higher score, then the earlier detection. (index, detection), or (None, None)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; use {', '.join(POLICIES)}")
    if not detections:
        return None, None
    h, w = image_shape[:2]

    def key(item: tuple[int, Detection]) -> tuple[float, float, int]:
        i, d = item
        if policy == "largest":
            primary = d.area
        elif policy == "central":
            cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
            primary = -float(np.hypot(cx - w / 2, cy - h / 2))
        else:
            primary = d.score
        return (primary, d.score, -i)

    return max(enumerate(detections), key=key)


def mean_face(found: Sequence[tuple[Detection, tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean box and landmarks, relative to image size, of faces found (with their (width, height)); None when
    none has landmarks. The fallback of an aligned set such as LFW, where the face sits in the same place."""
    rel_boxes, rel_lms = [], []
    for det, (w, h) in found:
        scale = np.array([w, h], np.float64)
        rel_boxes.append(det.box.reshape(2, 2) / scale)
        if det.landmarks is not None:
            rel_lms.append(det.landmarks / scale)
    if not rel_boxes or not rel_lms:
        return None
    return np.mean(rel_boxes, axis=0), np.mean(rel_lms, axis=0)


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
        if self.policy not in POLICIES:
            raise ValueError(f"FacePath policy {self.policy!r}: use one of {', '.join(POLICIES)}")
        if self.fallback not in FALLBACKS:
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
        """One line for tables: ``retinaface (backup mtcnn) -> central face -> ... -> mobilefacenet-casia``."""
        det = self.detector + (f" {self.detector_kwargs}" if self.detector_kwargs else "")
        det += f" (backup {self.backup})" if self.backup else ""
        emb = (self.embedder or "crops") + (f" {self.embedder_kwargs}" if self.embedder_kwargs else "")
        return f"{det} -> {self.policy} face -> {self.fallback or 'no'} fallback -> {self.aligned_with()} -> {emb}"

    def weights(self) -> tuple[str, ...]:
        """The registry names of every weights file the path loads, read from the registries (nothing built)."""
        from facekit.align import ALIGNERS
        from facekit.models.embedders import EMBEDDERS

        out = [*DETECTORS.weights_of(self.detector, self.detector_kwargs)]
        if self.backup:
            out += DETECTORS.weights_of(self.backup, self.backup_kwargs)
        if self.embedder and self.embedder in EMBEDDERS:
            out += EMBEDDERS.weights_of(self.embedder, self.embedder_kwargs)
        if self.aligner:  # the embedder's own aligner is part of the embedder's weights
            out += ALIGNERS.weights_of(self.aligner)
        return tuple(dict.fromkeys(out))

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

    # ---------------------------------------------------------------------------------------------- steps
    def detect(self, images: Sequence[str | Path], progress: bool = True, stats: CacheStats | None = None,
               ) -> tuple[list[Detected], list[Detected] | None]:
        """Cached detections of the primary detector, and the backup's (cached) for the images where the primary
        found no face; None when there is no backup or every image has a face (the backup is never loaded)."""
        detected = detect_cached(self.build_detector(), [Path(p) for p in images], progress=progress, stats=stats)
        missing = [i for i, d in enumerate(detected) if not d.error and not d.detections]
        if self.backup is None or not missing:
            return detected, None
        found = dict(zip(missing, detect_cached(self.build_backup(), [detected[i].path for i in missing],
                                                progress=progress), strict=True))
        return detected, [found.get(i, d) for i, d in enumerate(detected)]

    def pick(self, d: Detected) -> Detection | None:
        """The face the path's policy picks among one image's detections (None: unreadable or no face)."""
        if d.error:
            return None
        return pick_face(d.detections, (d.image_size[1], d.image_size[0]), self.policy)[1]

    def choose(self, detected: Sequence[Detected], backup: Sequence[Detected] | None = None) -> list[Chosen]:
        """One face per image: the policy's pick ("detected"); where the primary detector found none, the pick
        among ``backup`` (the backup detector's results for the same images, "backup"); then, with the "mean"
        fallback, the set's mean face ("fallback"); else (None, "failed: why")."""
        if backup is not None and len(backup) != len(detected):
            raise ValueError(f"backup detections cover {len(backup)} images, not {len(detected)}")
        chosen = [self.pick(d) for d in detected]
        mean = mean_face([(c, d.image_size) for c, d in zip(chosen, detected, strict=True) if c is not None]
                         ) if self.fallback == "mean" else None
        out: list[Chosen] = []
        for i, (d, det) in enumerate(zip(detected, chosen, strict=True)):
            second = self.pick(backup[i]) if backup is not None and det is None and not d.error else None
            if d.error:
                out.append((None, f"failed: {d.error}"))
            elif det is not None:
                out.append((det, "detected"))
            elif second is not None:
                out.append((second, "backup"))
            elif mean is not None:
                box, lm = mean
                scale = np.array(d.image_size, np.float64)
                out.append((Detection((box * scale).reshape(4), 0.0, lm * scale), "fallback"))
            else:
                out.append((None, "failed: no face detected"))
        return out

    def faces(self, images: Sequence[str | Path], progress: bool = True, stats: CacheStats | None = None,
              ) -> tuple[list[Detected], list[Chosen]]:
        """``detect`` then ``choose``: the detections per image and the face chosen per image with its source."""
        detected, second = self.detect(images, progress, stats)
        return detected, self.choose(detected, second)

    def align(self, detected: Sequence[Detected], chosen: Sequence[Chosen], progress: bool = True,
              out: Path | None = None) -> tuple[np.ndarray, list[str]]:
        """Aligned uint8 crops of the chosen faces (a zero crop marked failed where there is none). With ``out``
        (a ``.npy`` path) the crops are written into a memory map there, moved into place when complete, and
        returned memory-mapped: a training set larger than memory (CASIA-WebFace, ~18 GB at 112 px) never sits
        in RAM."""
        from tqdm.auto import tqdm

        from facekit.align import align
        from facekit.io import read_image

        aligner = self.aligned_with()
        arr: np.ndarray | None = None
        # one partial file per process: two chapters run side by side may align the same set at once
        tmp = out.with_name(f".{out.name}.{os.getpid()}.partial") if out is not None else None
        crops: list[np.ndarray | None] = []
        source: list[str] = []
        for k, (d, (det, kind)) in enumerate(tqdm(list(zip(detected, chosen, strict=True)),
                                                  desc=f"align ({aligner})", unit="img", disable=not progress,
                                                  leave=False)):
            try:
                if det is None:
                    raise ValueError(kind.removeprefix("failed: "))
                crop = align(aligner, read_image(d.path), det)
                source.append(kind)
            except ValueError as exc:
                crop = None
                source.append(f"failed: {exc}")
            if tmp is not None and crop is not None and arr is None:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(detected), *crop.shape))
            if arr is not None:
                if crop is not None:
                    arr[k] = crop
                crops.append(None)
            else:
                crops.append(crop)
        record("crops", sum(not s.startswith("failed") for s in source), 0)
        if tmp is not None:
            if arr is None:  # no face at all: an empty set of 112 px crops
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(detected), 112, 112, 3))
            for k, c in enumerate(crops):  # crops aligned before the first success (failures) stay zero
                if c is not None:
                    arr[k] = c
            arr.flush()
            del arr
            os.replace(tmp, out)
            return np.load(out, mmap_mode="r"), source
        shape = next((c.shape for c in crops if c is not None), (112, 112, 3))
        return np.stack([c if c is not None else np.zeros(shape, np.uint8) for c in crops]), source

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
                source = json.loads(sources.read_text())
                record("crops", 0, sum(not s.startswith("failed") for s in source))
                return np.load(out, mmap_mode="r"), source
        detected, chosen = self.faces(images, progress)
        crops, source = self.align(detected, chosen, progress, out=out)
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
