"""A gallery on disk for 1:N identification: enrol folders of people (one sub-folder each), identify faces.

The gallery folder holds ``gallery.json`` (the manifest: the ``FacePath``, the embedder's version, the open-set
threshold and where it came from, one entry per photo: file, person, sha1, and the names of the two data files)
and two content-named files beside it, ``vectors-<digest>.npy`` and ``index-<digest>.faiss``.

- Enrolling adds: new or changed photos are embedded, everything else is kept. ``sync`` makes the gallery mirror
  one folder (what it removes is listed in the plan before anything is written); ``remove`` drops people.
- One writer at a time: a writer holds ``.gallery.lock`` (``filelock``, released by the OS if the process dies)
  from reading the manifest to saving it; a second writer is told the gallery is busy, or waits.
- A save writes the data files under new names first and replaces the manifest last, then deletes the files no
  manifest names: a process killed at any instant leaves the old gallery or the new one, never a mix, and a
  reader that loses a race with the clean-up reads the new manifest again.
- Damage is named, file by file, with the fix. The index is derived from the vectors: a missing or damaged one
  is rebuilt. Damaged vectors are repaired by the next enrolment, which embeds the enrolled photos again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facekit.face_path import FacePath
from facekit.io import IMAGE_SUFFIXES
from facekit.search import SearchIndex
from facekit.store import atomic_save_npy, atomic_write, atomic_write_json, file_sha1, sync_dir

MANIFEST, LOCK = "gallery.json", ".gallery.lock"
FORMAT = 2
#: the data files of a format-1 gallery (named without a digest); read, then replaced by the first save
LEGACY_VECTORS, LEGACY_INDEX = "vectors.npy", "index.faiss"
_DATA_FILE = re.compile(r"^(?:vectors-[0-9a-f]{16}\.npy|index-[0-9a-f]{16}\.faiss|vectors\.npy|index\.faiss"
                        r"|\..+\.tmp)$")


class GalleryError(ValueError):
    """A gallery that cannot be used as asked; the message names the file and the fix."""


class GalleryBusy(GalleryError):
    """Another process is writing to the gallery."""


@dataclass(frozen=True)
class Threshold:
    """The open-set threshold a gallery decides "unknown" with, where it came from and from which build."""

    value: float
    source: str
    profile: str | None = None  # the build whose records calibrated it; None when a user gave the number


@dataclass
class EnrollReport:
    """What an enrolment did (or, for a plan, will do): photos embedded (new, changed, or re-embedded to repair
    the gallery), kept, removed, skipped with the reason, and what was repaired."""

    embedded: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    people: int = 0
    photos: int = 0


@dataclass
class Gallery:
    """A loaded gallery: the path its vectors came through, one entry per photo, the vectors and their index.

    ``vectors`` is None when the file is damaged (a writer's load for repair; ``damage`` says what is wrong)."""

    root: Path
    face_path: FacePath
    embedder_version: str
    metric: str
    entries: list[dict]
    vectors: np.ndarray | None
    threshold: Threshold | None = None
    damage: list[str] = field(default_factory=list)
    _index: SearchIndex | None = None
    _index_file: Path | None = None

    # ------------------------------------------------------------------------------------------------ reading
    @classmethod
    def load(cls, root: str | Path, repair: bool = False) -> Gallery:
        """The gallery at ``root``. GalleryError names a missing or damaged file and the fix; with ``repair``
        (a writer under the lock) damaged vectors load as None instead, for the enrolment to embed again."""
        root = Path(root)
        for _ in range(5):  # a writer's clean-up may delete the files of the manifest just read: read it again
            m, text = _read_manifest(root)
            try:
                return cls._from_manifest(root, m, repair)
            except FileNotFoundError:
                if (root / MANIFEST).read_text() == text:
                    return cls._from_manifest(root, m, repair, missing_ok=True)
        raise GalleryError(f"{root}: the gallery kept changing while it was read; try again")

    @classmethod
    def _from_manifest(cls, root: Path, m: dict, repair: bool, missing_ok: bool = False) -> Gallery:
        vec_file, index_file = root / m.get("vectors", LEGACY_VECTORS), root / m.get("index", LEGACY_INDEX)
        vectors, problem = _read_vectors(vec_file, len(m["entries"]), missing_ok)
        damage, index = [], None
        if problem:
            if not repair:
                raise GalleryError(f"{vec_file}: {problem}; `facekit enroll FOLDER --gallery {root}` repairs the "
                                   f"gallery (it embeds the {len(m['entries'])} enrolled photos again)")
            damage.append(f"{vec_file.name} {problem}")
        elif vectors is None:  # a gallery whose every photo was removed before any was saved
            vectors = np.zeros((0, int(m.get("dim", 1))), np.float32)
        else:
            index = _read_index(index_file, m["metric"], vectors.shape)
            if index is None and not index_file.exists() and not missing_ok and len(vectors):
                raise FileNotFoundError(index_file)
        threshold = None
        if m.get("threshold") is not None:
            threshold = Threshold(float(m["threshold"]), m.get("threshold_source", ""), m.get("threshold_profile"))
        return cls(root, FacePath.from_json(m["face_path"]), m["embedder_version"], m["metric"], m["entries"],
                   vectors, threshold, damage, index, index_file)

    @property
    def index(self) -> SearchIndex:
        """The search index: the stored one when it matches the vectors, else rebuilt from them (noted in
        ``damage``)."""
        if self._index is None:
            if self.vectors is None:
                raise GalleryError(f"{self.root}: the vectors are damaged ({'; '.join(self.damage)})")
            self._index = SearchIndex.for_gallery(np.asarray(self.vectors), self.metric)
            name = self._index_file.name if self._index_file else "the index"
            self.damage.append(f"{name} is missing or damaged: searched the vectors directly (the next enrolment "
                               "writes it again)")
        return self._index

    def people(self) -> list[str]:
        return sorted({e["name"] for e in self.entries})

    def counts(self) -> dict[str, int]:
        """Photos per person, by name."""
        out: dict[str, int] = {}
        for e in self.entries:
            out[e["name"]] = out.get(e["name"], 0) + 1
        return dict(sorted(out.items()))

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

    # ------------------------------------------------------------------------------------------------ writing
    def save(self) -> None:
        """Write the data files under content names, then the manifest, then delete what no manifest names. Call
        it holding the lock (``GalleryWriter``)."""
        if self.vectors is None or len(self.vectors) != len(self.entries):
            raise GalleryError(f"{self.root}: refusing to save {0 if self.vectors is None else len(self.vectors)} "
                               f"vectors for {len(self.entries)} photos")
        self.root.mkdir(parents=True, exist_ok=True)
        vectors = np.ascontiguousarray(self.vectors, np.float32)
        digest = hashlib.sha256(f"{vectors.shape}".encode() + vectors.tobytes()).hexdigest()
        vec_name, index_name = f"vectors-{digest[:16]}.npy", f"index-{digest[:16]}.faiss"
        # always written, even under a name that exists: that file may be the damaged one being repaired
        atomic_save_npy(self.root / vec_name, vectors, durable=True)
        index = SearchIndex.for_gallery(vectors, self.metric)
        atomic_write(self.root / index_name, lambda f: f.write(index.to_bytes()), durable=True)
        threshold = self.threshold
        atomic_write_json(self.root / MANIFEST, {
            "format": FORMAT, "face_path": self.face_path.to_json(), "embedder_version": self.embedder_version,
            "metric": self.metric, "threshold": threshold.value if threshold else None,
            "threshold_source": threshold.source if threshold else "",
            "threshold_profile": threshold.profile if threshold else None,
            "vectors": vec_name, "vectors_sha256": digest, "index": index_name, "dim": int(vectors.shape[1]),
            "entries": self.entries}, indent=1, durable=True)
        self.vectors, self._index, self._index_file, self.damage = vectors, index, self.root / index_name, []
        for f in self.root.iterdir():
            if f.name not in (vec_name, index_name) and _DATA_FILE.match(f.name):
                f.unlink(missing_ok=True)
        sync_dir(self.root)


def _read_manifest(root: Path) -> tuple[dict, str]:
    """The manifest's content and text; GalleryError for a missing or damaged one."""
    path = root / MANIFEST
    if not path.is_file():
        raise GalleryError(f"{path}: no gallery here (no such file); build one with "
                           f"`facekit enroll FOLDER --gallery {root}`")
    fix = (f"the list of enrolled photos is lost: move {root} aside and enrol the photos again into a new gallery "
           f"(`facekit enroll FOLDER --gallery NEW`)")
    try:
        text = path.read_text()
        m = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GalleryError(f"{path}: damaged, not readable JSON ({exc}); {fix}") from None
    problem = _manifest_problem(m)
    if problem:
        raise GalleryError(f"{path}: damaged ({problem}); {fix}")
    return m, text


def _manifest_problem(m: object) -> str:
    """What is wrong with a manifest's content ('' when nothing)."""
    if not isinstance(m, dict):
        return "not a JSON object"
    missing = [k for k in ("face_path", "embedder_version", "metric", "entries") if k not in m]
    if missing:
        return f"no {', '.join(missing)}"
    if m["metric"] not in ("cosine", "euclidean"):
        return f"unknown metric {m['metric']!r}"
    if not isinstance(m["entries"], list) or not all(
            isinstance(e, dict) and {"file", "name", "sha1"} <= set(e) for e in m["entries"]):
        return "entries are not a list of {file, name, sha1}"
    try:
        FacePath.from_json(m["face_path"])
    except (TypeError, ValueError) as exc:
        return f"face path: {exc}"
    return ""


def _read_vectors(path: Path, rows: int, missing_ok: bool) -> tuple[np.ndarray | None, str]:
    """The vectors, memory-mapped, or None and what is wrong with the file. FileNotFoundError for a missing file
    unless ``missing_ok`` (the caller reads the manifest again first: a writer may have just replaced it)."""
    if not path.is_file():
        if rows == 0:
            return None, ""  # a new gallery's empty manifest names no data yet
        if not missing_ok:
            raise FileNotFoundError(path)
        return None, "is missing"
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return None, f"is damaged ({str(exc).splitlines()[0][:120]})"
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        return None, f"is damaged (holds a {vectors.dtype} array of shape {vectors.shape})"
    if len(vectors) != rows:
        return None, f"is damaged (holds {len(vectors)} vectors for {rows} photos)"
    return vectors, ""


def _read_index(path: Path, metric: str, shape: tuple[int, ...]) -> SearchIndex | None:
    """The stored index, or None when it is missing, unreadable or does not match the vectors."""
    if not path.is_file():
        return None
    try:
        index = SearchIndex.load(path, metric)
    except (RuntimeError, OSError):
        return None
    return index if index.size == shape[0] and index.dim == shape[1] else None


@contextmanager
def writing(root: str | Path, wait: float | None = None, create: bool = False) -> Iterator[None]:
    """Hold the gallery's writer lock while the block runs. ``wait``: None = fail at once with GalleryBusy when
    another process writes, a number = wait that many seconds, a negative number = wait as long as it takes.
    ``create`` makes the folder of a new gallery; otherwise a gallery that is not there is an error."""
    from filelock import FileLock, Timeout

    root = Path(root)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    elif not (root / MANIFEST).is_file():
        _read_manifest(root)  # raises, naming what is missing
    lock = FileLock(root / LOCK, timeout=0 if wait is None else wait)
    try:
        lock.acquire()
    except Timeout:
        raise GalleryBusy(f"{root}: gallery busy, another process is writing to it; try again when it is done, "
                          "or pass --wait to queue behind it") from None
    try:
        yield
    finally:
        lock.release()


# ------------------------------------------------------------------------------------------------------ enrolling
def photos(folder: str | Path) -> list[tuple[str, Path]]:
    """(person, photo) for every image file in the person sub-folders of ``folder`` (hidden files left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GalleryError(f"{folder}: not a folder; enrol a folder with one sub-folder of photos per person")
    out = [(d.name, f) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
           for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    if not out:
        raise GalleryError(f"{folder}: no photos in person sub-folders (e.g. {folder}/Ada_Lovelace/1.jpg)")
    return out


@dataclass
class Plan:
    """What an enrolment will do, decided before anything is embedded or written: the entries kept (with their
    row in the old vectors), the photos to embed (person, file, sha1, why) and the entries to drop."""

    gallery: Gallery
    keep: list[tuple[dict, int]]
    embed: list[tuple[str, Path, str, str]]
    remove: list[dict]
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def plan(gallery: Gallery, folder: str | Path, sync: bool = False) -> Plan:
    """Compare ``folder`` with ``gallery``: a photo whose file, content and person are enrolled is kept; a new or
    changed one is embedded; with ``sync`` entries outside the folder are removed. Entries whose vectors are
    damaged are embedded again from their file when it is unchanged, else removed. A file that cannot even be
    read (a broken link, no permission) is listed in ``unreadable`` and, under ``sync``, its entry is kept."""
    folder = Path(folder).resolve()
    listed: dict[str, tuple[str, Path, str]] = {}
    unreadable = []
    for name, path in photos(folder):
        try:
            listed[str(path)] = (name, path, file_sha1(path))
        except OSError as exc:
            unreadable.append((str(path), f"cannot read the file ({exc.strerror or exc})"))
    gone = {f for f, _ in unreadable}
    keep: list[tuple[dict, int]] = []
    embed: list[tuple[str, Path, str, str]] = []
    remove: list[dict] = []
    enrolled = set()
    for row, e in enumerate(gallery.entries):
        mine = listed.get(e["file"])
        if mine is not None:
            enrolled.add(e["file"])
            if mine[0] == e["name"] and mine[2] == e["sha1"] and gallery.vectors is not None:
                keep.append((e, row))
            else:
                why = "repair" if mine[0] == e["name"] and mine[2] == e["sha1"] else "changed"
                embed.append((mine[0], mine[1], mine[2], why))
        elif sync and e["file"] not in gone:
            remove.append(e)
        elif gallery.vectors is not None:
            keep.append((e, row))
        elif Path(e["file"]).is_file() and file_sha1(e["file"]) == e["sha1"]:
            embed.append((e["name"], Path(e["file"]), e["sha1"], "repair"))
        else:
            remove.append({**e, "why": "its vectors were damaged and the photo is gone or changed"})
    embed += [(name, p, sha, "new") for f, (name, p, sha) in listed.items() if f not in enrolled]
    return Plan(gallery, keep, embed, remove, unreadable)


def apply(p: Plan, threshold: Threshold | None = None, progress: bool = True) -> EnrollReport:
    """Embed the plan's photos, then save the gallery with the kept and new entries (under the writer lock)."""
    g = p.gallery
    embedder = g.face_path.build_embedder()
    report = EnrollReport(kept=len(p.keep), removed=[e["file"] for e in p.remove], repaired=list(g.damage),
                          skipped=list(p.unreadable))
    entries = [e for e, _ in p.keep]
    old = np.asarray(g.vectors) if g.vectors is not None else np.zeros((0, embedder.dim), np.float32)
    vectors = [old[[row for _, row in p.keep]]] if p.keep else []
    again = 0
    if p.embed:
        out = g.face_path.embed([path for _, path, _, _ in p.embed], embedder=embedder, progress=progress)
        for (name, path, sha, why), vec, ok, src in zip(p.embed, out.embeddings, out.ok, out.source, strict=True):
            if not ok:
                report.skipped.append((str(path), src.removeprefix("failed: ")))
                continue
            entries.append({"file": str(path), "name": name, "sha1": sha})
            vectors.append(vec[None])
            if why == "new":
                report.embedded.append(str(path))
            elif why == "changed":
                report.changed.append(str(path))
            else:
                again += 1
    if again:
        report.repaired.append(f"{again} enrolled photos embedded again")
    g.entries = entries
    g.vectors = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    if threshold is not None:
        g.threshold = threshold
    g.save()
    report.people, report.photos = len(g.people()), len(g.entries)
    return report


def embedder_of(root: str | Path) -> str | None:
    """The embedder named in the manifest of the gallery at ``root``; None where there is no readable one (a new
    gallery, or a damaged manifest, which opening the gallery then reports)."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text())["face_path"]["embedder"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def open_for_writing(root: str | Path, face_path: FacePath) -> Gallery:
    """The gallery at ``root`` loaded for repair, or a new empty one; one made through another face path is
    refused. Call it holding the lock."""
    root = Path(root)
    embedder = face_path.build_embedder()
    if not (root / MANIFEST).exists():
        orphans = sorted(f.name for f in root.iterdir() if _DATA_FILE.match(f.name) and not f.name.endswith(
            ".tmp")) if root.is_dir() else []
        if orphans:
            raise GalleryError(f"{root / MANIFEST}: missing, but {root} holds a gallery's data ({orphans[0]}): the "
                               f"list of enrolled photos is lost; move {root} aside and enrol the photos again into "
                               "a new gallery (`facekit enroll FOLDER --gallery NEW`)")
        return Gallery(root, face_path, embedder.version, embedder.metric, [], None)
    gallery = Gallery.load(root, repair=True)
    if gallery.face_path != face_path or gallery.embedder_version != embedder.version:
        raise GalleryError(f"{root} was built through {gallery.face_path.describe()} "
                           f"(version {gallery.embedder_version}); this enrolment uses "
                           f"{face_path.describe()}. Use another --gallery folder.")
    if gallery.vectors is not None:
        _ = gallery.index  # a missing or damaged index is noted in ``damage``; the save writes it again
    return gallery


def enroll(folder: str | Path, root: str | Path, face_path: FacePath, threshold: Threshold | None = None,
           sync: bool = False, wait: float | None = None, progress: bool = True) -> EnrollReport:
    """Add the photos of ``folder`` to the gallery at ``root`` through ``face_path`` (``sync``: and remove the
    photos that are not in it), holding the writer lock throughout."""
    with writing(root, wait, create=True):
        gallery = open_for_writing(root, face_path)
        return apply(plan(gallery, folder, sync), threshold, progress)


def remove(root: str | Path, people: Sequence[str], wait: float | None = None) -> list[str]:
    """Remove every photo of ``people`` from the gallery; returns the files removed. GalleryError names a person
    who is not enrolled (nothing is removed then)."""
    with writing(root, wait):
        gallery = Gallery.load(root)
        unknown = sorted(set(people) - set(gallery.people()))
        if unknown:
            raise GalleryError(f"{root}: not enrolled: {', '.join(unknown)} (`facekit gallery list --gallery "
                               f"{root}` shows who is)")
        drop = [i for i, e in enumerate(gallery.entries) if e["name"] in set(people)]
        keep = [i for i in range(len(gallery.entries)) if i not in set(drop)]
        removed = [gallery.entries[i]["file"] for i in drop]
        gallery.entries = [gallery.entries[i] for i in keep]
        gallery.vectors = np.asarray(gallery.vectors)[keep]
        gallery.save()
        return removed


# ------------------------------------------------------------------------------------------------------ identifying
@dataclass
class FaceMatch:
    """One face found in a query image: its box (in the file's pixels), the top-k (person, score), the decision."""

    box: list[float]
    candidates: list[tuple[str, float]]
    known: bool


def identify(image: str | Path, gallery: Gallery, k: int = 5, threshold: float | None = None) -> list[FaceMatch]:
    """Every face in ``image``, searched in ``gallery``; a face is known when its best score reaches the
    threshold (``threshold`` or the gallery's). ImageError for an unreadable image; an empty list when the
    detector finds no face."""
    fp = gallery.face_path
    embedder = fp.build_embedder()
    if embedder.version != gallery.embedder_version:
        raise GalleryError(f"{gallery.root} was built with {embedder.name} version {gallery.embedder_version}; this "
                           f"facekit has version {embedder.version}. Enrol the photos again into a new gallery.")
    boxes, vectors = fp.every_face(image, embedder)
    found = gallery.search(vectors, k) if len(vectors) else []
    t = threshold if threshold is not None else (gallery.threshold.value if gallery.threshold else None)
    return [FaceMatch([round(float(v), 1) for v in box], cands, bool(cands) and (t is None or cands[0][1] >= t))
            for box, cands in zip(boxes, found, strict=True)]
