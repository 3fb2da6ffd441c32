"""A gallery on disk for 1:N identification: enrol a folder of people (one sub-folder each), identify faces.

The gallery folder holds ``gallery.json`` (the ``FacePath``, the embedder's version, the open-set threshold and
where it came from, one entry per photo: file, person, sha1), ``vectors.npy`` and ``index.faiss``. Enrolling
again embeds only new or changed photos; photos that left the folder leave the gallery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facekit.face_path import FacePath
from facekit.search import SearchIndex
from facekit.store import atomic_save_npy, atomic_write_json, file_sha1

MANIFEST, VECTORS, INDEX = "gallery.json", "vectors.npy", "index.faiss"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class GalleryError(ValueError):
    """A gallery that cannot be used as asked (absent, built through another face path); the message says why."""


@dataclass
class EnrollReport:
    """What an enrolment did: photos embedded now, kept from before, removed, and skipped with the reason."""

    embedded: list[str] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    people: int = 0


@dataclass
class Gallery:
    """A loaded gallery: the path its vectors came through, one entry per photo, the vectors and their index."""

    root: Path
    face_path: FacePath
    embedder_version: str
    metric: str
    entries: list[dict]
    vectors: np.ndarray
    threshold: float | None = None
    threshold_source: str = ""
    _index: SearchIndex | None = None

    @classmethod
    def load(cls, root: str | Path) -> Gallery:
        root = Path(root)
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise GalleryError(f"{root}: no gallery here ({MANIFEST} missing); build one with "
                               f"`facekit enroll DIR --gallery {root}`")
        m = json.loads(manifest.read_text())
        vectors = np.load(root / VECTORS) if (root / VECTORS).exists() else np.zeros((0, 1), np.float32)
        if len(vectors) != len(m["entries"]):
            raise GalleryError(f"{root}: {len(vectors)} vectors for {len(m['entries'])} entries; enrol again")
        return cls(root, FacePath.from_json(m["face_path"]), m["embedder_version"], m["metric"], m["entries"],
                   vectors, m.get("threshold"), m.get("threshold_source", ""))

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(self.root / VECTORS, self.vectors.astype(np.float32))
        index = SearchIndex.build(self.vectors, self.metric) if len(self.vectors) else None
        if index is not None:
            tmp = self.root / f".{INDEX}.partial"
            index.save(tmp)
            tmp.replace(self.root / INDEX)
        atomic_write_json(self.root / MANIFEST, {
            "face_path": self.face_path.to_json(), "embedder_version": self.embedder_version,
            "metric": self.metric, "threshold": self.threshold, "threshold_source": self.threshold_source,
            "entries": self.entries})

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            stored = self.root / INDEX
            self._index = SearchIndex.load(stored, self.metric, "flat") if stored.exists() else \
                SearchIndex.build(self.vectors, self.metric)
        return self._index

    def people(self) -> list[str]:
        return sorted({e["name"] for e in self.entries})

    def search(self, vectors: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per query vector, the ``k`` best people (each person's best photo), best first."""
        if not len(self.entries):
            return [[] for _ in vectors]
        scores, idx = self.index.search(vectors, min(len(self.entries), max(k * 8, 32)))
        out = []
        for s_row, i_row in zip(scores, idx, strict=True):
            best: dict[str, float] = {}
            for s, i in zip(s_row, i_row, strict=True):
                if i >= 0:
                    name = self.entries[i]["name"]
                    best[name] = max(best.get(name, -np.inf), float(s))
            out.append(sorted(best.items(), key=lambda kv: -kv[1])[:k])
        return out


def photos(folder: str | Path) -> list[tuple[str, Path]]:
    """(person, photo) for every image file in the person sub-folders of ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GalleryError(f"{folder}: not a folder; enrol a folder with one sub-folder of photos per person")
    out = [(d.name, f) for d in sorted(folder.iterdir()) if d.is_dir()
           for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise GalleryError(f"{folder}: no photos in person sub-folders (e.g. {folder}/Ada_Lovelace/1.jpg)")
    return out


def enroll(folder: str | Path, root: str | Path, face_path: FacePath, threshold: float | None = None,
           threshold_source: str = "", progress: bool = True) -> EnrollReport:
    """Add the photos of ``folder`` to the gallery at ``root`` through ``face_path``: new or changed photos are
    embedded, unchanged ones kept, vanished ones removed. A gallery made through another path is refused."""
    root, folder = Path(root), Path(folder).resolve()
    embedder = face_path.build_embedder()
    if (root / MANIFEST).exists():
        gallery = Gallery.load(root)
        if gallery.face_path != face_path or gallery.embedder_version != embedder.version:
            raise GalleryError(f"{root} was built through {gallery.face_path.describe()} "
                               f"(version {gallery.embedder_version}); this enrolment uses "
                               f"{face_path.describe()}. Use another --gallery folder.")
    else:
        gallery = Gallery(root, face_path, embedder.version, embedder.metric, [], np.zeros((0, embedder.dim),
                                                                                            np.float32))
    if threshold is not None:
        gallery.threshold, gallery.threshold_source = float(threshold), threshold_source
    report = EnrollReport()
    old = {(e["file"], e["sha1"]): i for i, e in enumerate(gallery.entries)}
    listed = [(name, p, file_sha1(p)) for name, p in photos(folder)]
    keep_rows, entries, todo = [], [], []
    for name, p, sha in listed:
        key = (str(p), sha)
        if key in old and gallery.entries[old[key]]["name"] == name:
            keep_rows.append(old[key])
            entries.append(gallery.entries[old[key]])
        else:
            todo.append((name, p, sha))
    present = {str(p) for _, p, _ in listed}
    report.removed = [e["file"] for e in gallery.entries if e["file"] not in present]
    report.kept = len(keep_rows)
    vectors = [gallery.vectors[keep_rows]] if keep_rows else []
    if todo:
        out = face_path.embed([p for _, p, _ in todo], embedder=embedder, progress=progress)
        for (name, p, sha), vec, ok, src in zip(todo, out.embeddings, out.ok, out.source, strict=True):
            if not ok:
                report.skipped.append((str(p), src.removeprefix("failed: ")))
                continue
            entries.append({"file": str(p), "name": name, "sha1": sha})
            vectors.append(vec[None])
            report.embedded.append(str(p))
    gallery.entries = entries
    gallery.vectors = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    gallery.save()
    report.people = len(gallery.people())
    return report


@dataclass
class FaceMatch:
    """One face found in a query image: its box, the top-k (person, score), and the decision."""

    box: list[float]
    candidates: list[tuple[str, float]]
    known: bool


def identify(image: str | Path, gallery: Gallery, k: int = 5, threshold: float | None = None) -> list[FaceMatch]:
    """Every face in ``image``, searched in ``gallery``; a face is known when its best score reaches the
    threshold (``threshold`` or the gallery's). ValueError for an unreadable image or one with no face."""
    from facekit.align import align
    from facekit.io import read_image

    fp = gallery.face_path
    embedder = fp.build_embedder()
    if embedder.version != gallery.embedder_version:
        raise GalleryError(f"{gallery.root} was built with {embedder.name} version {gallery.embedder_version}; this "
                           f"facekit has version {embedder.version}. Enrol the photos again into a new gallery.")
    img = read_image(image)  # ImageError (a ValueError) names the file
    faces = fp.build_detector().detect(img)
    if not faces:
        raise ValueError(f"{image}: no face found")
    crops = [align(fp.aligned_with(embedder), img, d) for d in faces]
    found = gallery.search(embedder.embed(crops), k)
    t = threshold if threshold is not None else gallery.threshold
    return [FaceMatch([round(float(v), 1) for v in d.box], cands,
                      bool(cands) and (t is None or cands[0][1] >= t)) for d, cands in zip(faces, found, strict=True)]
