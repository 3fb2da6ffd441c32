"""The steps behind ``FacePath``: choose one face per image, align it, embed it, with an on-disk cache.

Embeddings are cached per image (content sha1) under a key made of the embedder, the detector's cache key and
the face-selection policy, so a rerun with a warm cache only reads small files. Images where no face is found
can get a second detector's face ("backup"), then a fallback (the mean landmarks of the faces found in the same
call, for aligned sets such as LFW), or are marked as failed; the source of every embedding is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from facekit.align import align
from facekit.detect.base import Detection, Detector, Policy, select_face
from facekit.detect.cache import Detected, detect_cached, detector_key
from facekit.io import read_image
from facekit.models.embedders import Embedder
from facekit.runtime import in_batches
from facekit.store import atomic_save_npy


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

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.source:
            k = "failed" if s.startswith("failed") else s
            out[k] = out.get(k, 0) + 1
        return out


def embedding_key(embedder: Embedder, detector: Detector, policy: str) -> str:
    """Cache folder name: what makes two embeddings of the same image interchangeable."""
    import hashlib

    tag = f"{embedder.name}@{embedder.version}|{embedder.preprocessing}|{detector_key(detector)}|{policy}"
    return f"{embedder.name}@{embedder.version}-{hashlib.sha1(tag.encode()).hexdigest()[:10]}"


def _fallback_detection(found: list[tuple[Detection, tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean box and landmarks (relative to image size) of the faces found, or None when there are none."""
    rel_boxes, rel_lms = [], []
    for det, (w, h) in found:
        scale = np.array([w, h], np.float64)
        rel_boxes.append(det.box.reshape(2, 2) / scale)
        if det.landmarks is not None:
            rel_lms.append(det.landmarks / scale)
    if not rel_boxes or not rel_lms:
        return None
    return np.mean(rel_boxes, axis=0), np.mean(rel_lms, axis=0)


def choose_faces(detected: Sequence[Detected], policy: Policy, fallback: str | None,
                 backup: Sequence[Detected] | None = None) -> list[tuple[Detection | None, str]]:
    """One face per image: the detection picked by ``policy`` ("detected"); where none was found, the face picked
    from ``backup`` (a second detector's results for the same images, "backup"); then, with ``fallback="mean"``,
    the set's mean face ("fallback"); else (None, "failed: why")."""
    def pick(d):
        return None if d.error else select_face(d.detections, (d.image_size[1], d.image_size[0]), policy)[1]

    chosen = [pick(d) for d in detected]
    mean_face = _fallback_detection([(c, d.image_size) for c, d in zip(chosen, detected, strict=True)
                                     if c is not None]) if fallback == "mean" else None
    if backup is not None and len(backup) != len(detected):
        raise ValueError(f"backup detections cover {len(backup)} images, not {len(detected)}")
    out: list[tuple[Detection | None, str]] = []
    for i, (d, det) in enumerate(zip(detected, chosen, strict=True)):
        second = pick(backup[i]) if backup is not None and det is None and not d.error else None
        if d.error:
            out.append((None, f"failed: {d.error}"))
        elif det is not None:
            out.append((det, "detected"))
        elif second is not None:
            out.append((second, "backup"))
        elif mean_face is not None:
            box, lm = mean_face
            scale = np.array(d.image_size, np.float64)
            out.append((Detection((box * scale).reshape(4), 0.0, lm * scale), "fallback"))
        else:
            out.append((None, "failed: no face detected"))
    return out


def backup_detections(backup: Detector | None, detected: Sequence[Detected], progress: bool) -> list | None:
    """The backup detector's (cached) results, run only on the images the primary detector found no face in."""
    if backup is None:
        return None
    missing = [i for i, d in enumerate(detected) if not d.error and not d.detections]
    found = dict(zip(missing, detect_cached(backup, [Path(detected[i].path) for i in missing], progress=progress),
                     strict=True))
    return [found.get(i, d) for i, d in enumerate(detected)]


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


def embed_chosen(detected: Sequence[Detected], chosen: Sequence[tuple[Detection | None, str]], embedder: Embedder,
                 cache_root: Path | None, aligner: str | None = None, batch_size: int = 32,
                 progress: bool = True, workers: int | None = None) -> EmbeddedSet:
    """Align and embed the chosen face of every image; primary detections are read from / written to
    ``cache_root`` (None: no cache). Backups and fallbacks are never cached: they depend on the set. Images are
    read and aligned through a ``DataLoader`` (``workers`` processes; see ``torch_loader``)."""
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
    loader = torch_loader(_AlignedFaces([(detected[i].path, det) for i, det, _ in todo], aligner), batch_size,
                          workers)
    for chunk, aligned in zip(in_batches(todo, batch_size, f"embed ({embedder.name})", progress), loader,
                              strict=True):
        crops, keep = [], []
        for (i, _, kind), (crop, error) in zip(chunk, aligned, strict=True):
            if crop is None:
                source[i] = f"failed: {error}"
            else:
                crops.append(crop)
                keep.append((i, kind))
        if crops:
            vecs = embedder.embed(crops)
            for (i, kind), v in zip(keep, vecs, strict=True):
                emb[i], source[i] = v, kind
                if cache_root is not None and kind == "detected":
                    atomic_save_npy(cache_root / detected[i].sha1[:2] / f"{detected[i].sha1}.npy",
                                    v.astype(np.float32))
    return EmbeddedSet([Path(d.path) for d in detected], emb, source, getattr(embedder, "metric", "cosine"))


def align_chosen(detected: Sequence[Detected], chosen: Sequence[tuple[Detection | None, str]], aligner: str,
                 progress: bool = True, out: Path | None = None) -> tuple[np.ndarray, list[str]]:
    """Aligned uint8 crops of the chosen faces (a zero crop marked failed where there is none). With ``out``
    (a ``.npy`` path) the crops are written into a memory map there, moved into place when complete, and
    returned memory-mapped: a training set larger than memory (CASIA-WebFace, ~18 GB at 112 px) never sits in
    RAM."""
    arr: np.ndarray | None = None
    tmp = out.with_name(f".{out.name}.partial") if out is not None else None
    crops: list[np.ndarray | None] = []
    source: list[str] = []
    for k, (d, (det, kind)) in enumerate(tqdm(list(zip(detected, chosen, strict=True)), desc=f"align ({aligner})",
                                              unit="img", disable=not progress, leave=False)):
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
