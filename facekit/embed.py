"""Cached embedding of chosen faces: the last step of a ``FacePath``, kept here with its on-disk cache.

Embeddings are cached per image (content sha1) under a key made of the embedder, the detector's cache key and
the face-selection policy, so a rerun with a warm cache only reads small files. Only faces the primary detector
found are cached: a backup detector's or a fallback face depends on the set it was chosen in. The source of every
embedding ("detected", "backup", "fallback", "failed: why") is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.align import align
from facekit.detect.base import Detection, Detector
from facekit.detect.cache import Detected, detector_key
from facekit.io import read_image
from facekit.models.embedders import Embedder
from facekit.runtime import device_kind, in_batches
from facekit.store import atomic_save_npy
from facekit.tally import record


@dataclass
class EmbeddedSet:
    """Embeddings (n, dim) in the order of ``paths``; ``source`` is "detected", "backup", "fallback" or
    "failed: why"."""

    paths: list[Path]
    embeddings: np.ndarray
    source: list[str]
    metric: str = "cosine"

    @property
    def ok(self) -> np.ndarray:
        return np.array([not s.startswith("failed") for s in self.source])

    def rows(self, paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
        """The embeddings and success mask of ``paths`` (a gallery or query list drawn from this set)."""
        where = {str(p): i for i, p in enumerate(self.paths)}
        idx = [where[str(p)] for p in paths]
        return self.embeddings[idx], self.ok[idx]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.source:
            k = "failed" if s.startswith("failed") else s
            out[k] = out.get(k, 0) + 1
        return out


def embedding_key(embedder: Embedder, detector: Detector, policy: str) -> str:
    """Cache folder name: what makes two embeddings of the same image interchangeable (a torch network run by
    ONNX Runtime agrees to a cosine of 0.9999, yet has its own cache: a comparison of engines reads no mixture; so
    has a network on a GPU)."""
    import hashlib

    tag = f"{embedder.name}@{embedder.version}|{embedder.preprocessing}|{detector_key(detector)}|{policy}"
    if getattr(embedder, "engine", "torch") != "torch":
        tag += f"|{embedder.engine}"
    if (kind := device_kind(getattr(embedder, "device", None))) != "cpu":
        tag += f"|{kind}"
    return f"{embedder.name}@{embedder.version}-{hashlib.sha1(tag.encode()).hexdigest()[:10]}"


class _AlignedFaces:
    """(image path, detection) -> (aligned crop, None) or (None, why): a map-style dataset for a DataLoader, so
    that reading and warping images runs in worker processes while the main process embeds."""

    def __init__(self, items: list[tuple[str | Path, Detection]], aligner: str) -> None:
        self.items, self.aligner = items, aligner

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> tuple[np.ndarray | None, str | None]:
        path, det = self.items[k]
        try:
            return align(self.aligner, read_image(path), det), None
        except ValueError as exc:
            return None, str(exc)


def torch_loader(dataset, batch_size: int, workers: int | None = None):
    """Batches (lists) of ``dataset`` in order: a torch ``DataLoader`` with ``workers`` processes (None: up to four
    on a GPU box, none on a CPU-only machine, whose cores are busy embedding); with no workers, a plain loop that
    needs no torch (dlib's path runs without importing it)."""
    import sys

    if workers is None:
        torch = sys.modules.get("torch")  # only a process that already uses torch can have a GPU to feed
        workers = min(4, os.cpu_count() or 1) if torch is not None and torch.cuda.is_available() else 0
    if workers == 0:
        return ([dataset[k] for k in range(i, min(i + batch_size, len(dataset)))]
                for i in range(0, len(dataset), batch_size))
    import torch

    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                                       collate_fn=list, persistent_workers=False)


#: below this many images to embed per process, starting a pool costs more than it saves: dlib's ResNet embeds
#: ~14 faces/s per core and the pool's start cost ~4.5 s (bench_embed_pool.py, 2 cores: break-even ~125 images)
MIN_PER_PROCESS = 100

_WORKER: dict[str, object] = {}


def _worker_init(spec: tuple[str, dict], aligner: str) -> None:
    from facekit.models.embedders import EMBEDDERS
    from facekit.runtime import cap_threads

    cap_threads(1)
    _WORKER["embedder"], _WORKER["aligner"] = EMBEDDERS.get(spec[0], **spec[1]), aligner


def _align_and_embed(embedder: Embedder, aligner: str, chunk: Sequence[tuple[int, Path, Detection]],
                     aligned: Sequence[tuple[np.ndarray | None, str | None]] | None = None,
                     ) -> list[tuple[int, np.ndarray | None, str | None]]:
    """Per item of ``chunk``: (index, vector, None) or (index, None, why the alignment failed); ``aligned`` passes
    crops a loader already made."""
    if aligned is None:
        aligned = _AlignedFaces([(p, det) for _, p, det in chunk], aligner)
        aligned = [aligned[k] for k in range(len(chunk))]
    out: list[tuple[int, np.ndarray | None, str | None]] = []
    crops, keep = [], []
    for (i, _, _), (crop, error) in zip(chunk, aligned, strict=True):
        if crop is None:
            out.append((i, None, error))
        else:
            crops.append(crop)
            keep.append(i)
    if crops:
        out += [(i, v, None) for i, v in zip(keep, embedder.embed(crops), strict=True)]
    return out


def _worker_chunk(chunk: list[tuple[int, Path, Detection]]) -> list[tuple[int, np.ndarray | None, str | None]]:
    return _align_and_embed(_WORKER["embedder"], _WORKER["aligner"], chunk)  # type: ignore[arg-type]


def embed_processes(embedder: Embedder, n_images: int, processes: int | None = None) -> int:
    """How many processes embed ``n_images``: ``processes`` when given; else one per core (``runtime.workers``)
    for an embedder whose engine runs on one thread (``single_threaded``, dlib's ResNet) and was built from the
    registry, when there are at least ``MIN_PER_PROCESS`` images per process; else 1 (a batched engine already
    uses every core's threads)."""
    from facekit.runtime import workers

    if processes is not None:
        return max(1, processes) if hasattr(embedder, "registry_spec") else 1
    if not getattr(embedder, "single_threaded", False) or not hasattr(embedder, "registry_spec"):
        return 1
    n = workers(getattr(embedder, "device", None))
    return n if n > 1 and n_images >= MIN_PER_PROCESS * n else 1


def _embedded(embedder: Embedder, items: list[tuple[int, Path, Detection]], aligner: str, batch_size: int,
              progress: bool, processes: int):
    """Batches of (index, vector or None, error) for ``items``: in this process (images read and aligned by a
    loader, see ``torch_loader``), or spread over ``processes`` spawned processes that each align and embed
    whole batches, in completion order under one progress bar."""
    if processes <= 1:
        loader = torch_loader(_AlignedFaces([(p, det) for _, p, det in items], aligner), batch_size)
        for chunk, aligned in zip(in_batches(items, batch_size, f"embed ({embedder.name})", progress), loader,
                                  strict=True):
            yield _align_and_embed(embedder, aligner, chunk, aligned)
        return
    from facekit.runtime import pooled

    yield from pooled(_worker_chunk, items, batch_size, processes, _worker_init, (embedder.registry_spec, aligner),
                      f"embed ({embedder.name}, {processes} processes)", progress)


def embed_chosen(detected: Sequence[Detected], chosen: Sequence[tuple[Detection | None, str]], embedder: Embedder,
                 cache_root: Path | None, aligner: str | None = None, batch_size: int = 32,
                 progress: bool = True, processes: int | None = None) -> EmbeddedSet:
    """Align and embed the chosen face of every image; primary detections are read from / written to
    ``cache_root`` (None: no cache). Backups and fallbacks are never cached: they depend on the set. Images are
    read and aligned through a ``DataLoader`` (see ``torch_loader``), or, for a single-threaded engine over many
    images, aligned and embedded by a pool of ``processes`` (default: see ``embed_processes``): the vectors are
    the same."""
    aligner = aligner or embedder.preprocessing.aligner
    n = len(detected)
    emb = np.zeros((n, embedder.dim), np.float32)
    source = [""] * n
    todo: list[tuple[int, Detection, str]] = []
    for i, (d, (det, kind)) in enumerate(zip(detected, chosen, strict=True)):
        if det is None:
            source[i] = kind
            continue
        entry = cache_root / d.sha1[:2] / f"{d.sha1}.npy" if cache_root is not None else None
        if kind == "detected" and entry is not None and entry.exists():
            emb[i], source[i] = np.load(entry), "detected"
        else:
            todo.append((i, det, kind))
    kinds = {i: kind for i, _, kind in todo}
    items = [(i, Path(detected[i].path), det) for i, det, _ in todo]
    computed = 0
    for done in _embedded(embedder, items, aligner, batch_size, progress,
                          embed_processes(embedder, len(items), processes)):
        for i, v, error in done:
            if v is None:
                source[i] = f"failed: {error}"
                continue
            emb[i], source[i] = v, kinds[i]
            computed += 1
            if cache_root is not None and kinds[i] == "detected":
                atomic_save_npy(cache_root / detected[i].sha1[:2] / f"{detected[i].sha1}.npy",
                                np.asarray(v, np.float32))
    record("crops", computed, 0)
    record("embeddings", computed, n - len(todo) - sum(det is None for det, _ in chosen))
    return EmbeddedSet([Path(d.path) for d in detected], emb, source, getattr(embedder, "metric", "cosine"))
