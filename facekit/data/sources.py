"""Dataset registry: which files each dataset has, their checksums, counts, terms and official URLs.

A dataset is resolved into ``FACEKIT_DATA/<name>`` from a mirror directory (``FACEKIT_MIRROR``, laid out like
``../shared/data``) or, failing that, from its official URL. Every file is checked against its sha256 (a folder
against a digest of its files) before it is used, and a file that does not match is refused, never copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from facekit import paths
from facekit.store import atomic_write_text, file_sha256

_STAMP = ".facekit-verified.json"


class DataError(Exception):
    """A dataset that is missing, corrupt or cannot be fetched; the message says which file and what to do."""


@dataclass(frozen=True)
class Item:
    """One file or folder of a dataset, relative to the dataset root, with what it must hash to."""

    path: str
    kind: Literal["file", "dir"] = "file"
    sha256: str | None = None  # file: its sha256; dir: tree digest (see ``tree_digest``)
    count: int | None = None  # dir: number of files in it
    annotation: bool = False  # an annotation file: its sha256 goes into every run manifest that uses it


@dataclass(frozen=True)
class Remote:
    """Where (part of) a dataset is downloaded from, and the checksum the download must have."""

    url: str
    provides: tuple[str, ...]  # Item paths this download yields
    checksum: str | None = None  # "sha256:<hex>" or "md5:<hex>" (the official md5 where only that is published)
    archive: bool = False  # a .tgz/.tar/.zip to extract
    archive_root: str = ""  # folder inside the archive that corresponds to the dataset root
    builder: str | None = None  # a ``facekit.data.selections`` builder: pinned files + the mirror's selection rule


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: files, checksums, official download path, terms and citation."""

    name: str
    title: str
    items: tuple[Item, ...]
    remotes: tuple[Remote, ...] = ()
    homepage: str = ""
    terms: str = ""
    citation: str = ""
    profiles: tuple[str, ...] = ("smoke", "cpu", "full")  # profiles that need it
    mirror_name: str | None = None  # folder name in the mirror when it differs from ``name``
    notes: str = ""
    expected: dict[str, int] = field(default_factory=dict)  # headline counts the data chapter checks

    @property
    def mirror_folder(self) -> str:
        return self.mirror_name or self.name


REGISTRY: dict[str, Dataset] = {}


def register(ds: Dataset) -> Dataset:
    """Add ``ds`` to the registry (names are unique)."""
    if ds.name in REGISTRY:
        raise ValueError(f"dataset {ds.name!r} registered twice")
    REGISTRY[ds.name] = ds
    return ds


def get(name: str) -> Dataset:
    """The registered dataset ``name``, or a DataError listing the known names."""
    from facekit.data import catalog  # noqa: F401  (fills the registry)

    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def all_datasets() -> list[Dataset]:
    """Every registered dataset, in registration order."""
    from facekit.data import catalog  # noqa: F401

    return list(REGISTRY.values())


# ---------------------------------------------------------------------------------------------------- hashing
def _walk_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.rglob("*") if p.is_file() and p.name != _STAMP),
                  key=lambda p: p.relative_to(folder).as_posix())


def tree_digest(folder: Path, progress: bool = False) -> tuple[str, int]:
    """(sha256 over ``"<relative path>\\t<file sha256>\\n"`` of every file in path order, number of files)."""
    files = _walk_files(folder)
    h = hashlib.sha256()
    for p in tqdm(files, desc=f"hashing {folder.name}", unit="file", disable=not progress, leave=False):
        h.update(f"{p.relative_to(folder).as_posix()}\t{file_sha256(p)}\n".encode())
    return h.hexdigest(), len(files)


def _signature(path: Path) -> list[int]:
    """Cheap change detector (file count, total size, newest mtime) used to skip re-hashing verified data."""
    if path.is_file():
        st = path.stat()
        return [1, st.st_size, st.st_mtime_ns]
    count = size = newest = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name == _STAMP:
                continue
            st = os.stat(os.path.join(root, name))
            count, size, newest = count + 1, size + st.st_size, max(newest, st.st_mtime_ns)
    return [count, size, newest]


@dataclass(frozen=True)
class ItemCheck:
    """The state of one item at one location: ``verified``, ``missing`` or ``corrupt`` with a detail."""

    item: Item
    location: Path
    state: Literal["verified", "missing", "corrupt"]
    detail: str = ""


def check_item(item: Item, root: Path, progress: bool = False, use_stamp: bool = True) -> ItemCheck:
    """Check ``root/item.path`` against the registry (count and digest for folders, sha256 for files)."""
    target = root / item.path
    if item.kind == "file":
        if not target.is_file():
            return ItemCheck(item, target, "missing", "file not found")
    elif not target.is_dir():
        return ItemCheck(item, target, "missing", "folder not found")
    stamp_file = root / _STAMP
    stamps: dict[str, list[int]] = {}
    if use_stamp and stamp_file.is_file():
        try:
            stamps = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            stamps = {}
    signature = _signature(target)
    key = f"{item.path}:{item.sha256}"
    if stamps.get(key) == signature:
        return ItemCheck(item, target, "verified", "unchanged since last verification")
    if item.kind == "file":
        got = file_sha256(target)
        if item.sha256 and got != item.sha256:
            return ItemCheck(item, target, "corrupt", f"sha256 mismatch: expected {item.sha256}, got {got}")
    else:
        got, n = tree_digest(target, progress=progress)
        if item.count is not None and n != item.count:
            return ItemCheck(item, target, "corrupt", f"{n} files, expected {item.count}")
        if item.sha256 and got != item.sha256:
            return ItemCheck(item, target, "corrupt", f"folder digest mismatch: expected {item.sha256}, got {got}")
    if use_stamp and os.access(root, os.W_OK):
        stamps[key] = signature
        atomic_write_text(stamp_file, json.dumps(stamps, indent=1))
    return ItemCheck(item, target, "verified")


# ---------------------------------------------------------------------------------------------------- status
@dataclass(frozen=True)
class DatasetStatus:
    """Where a dataset stands: overall ``state``, where it was found, and each item's check."""

    dataset: Dataset
    state: Literal["verified", "missing", "corrupt"]
    source: str  # "local", "mirror" or "" when neither has it
    checks: tuple[ItemCheck, ...]

    @property
    def problems(self) -> list[ItemCheck]:
        return [c for c in self.checks if c.state != "verified"]


def local_root(ds: Dataset) -> Path:
    """Where ``ds`` is (or will be) fetched to."""
    return paths.data_dir() / ds.name


def mirror_root(ds: Dataset) -> Path | None:
    """Where ``ds`` lies in the mirror, or None without a mirror."""
    mirror = paths.mirror_dir()
    return mirror / ds.mirror_folder if mirror else None


def status(ds: Dataset, progress: bool = False) -> DatasetStatus:
    """Check the local copy, then the mirror: verified at either, else corrupt (named files) or missing."""
    local = [check_item(i, local_root(ds), progress) for i in ds.items]
    if all(c.state == "verified" for c in local):
        return DatasetStatus(ds, "verified", "local", tuple(local))
    mroot = mirror_root(ds)
    if mroot is not None and mroot.is_dir():
        mirror = [check_item(i, mroot, progress, use_stamp=False) for i in ds.items]
        # an item is fine if either location has it verified
        merged = [lc if lc.state == "verified" else mc for lc, mc in zip(local, mirror, strict=True)]
        state = _worst(merged)
        return DatasetStatus(ds, state, "mirror" if state == "verified" else "", tuple(merged))
    return DatasetStatus(ds, _worst(local), "", tuple(local))


def _worst(checks: list[ItemCheck]) -> Literal["verified", "missing", "corrupt"]:
    states = {c.state for c in checks}
    return "corrupt" if "corrupt" in states else "missing" if "missing" in states else "verified"


def how_to_get(ds: Dataset) -> str:
    """A one-paragraph instruction naming the variable to set and the official URLs."""
    urls = ", ".join(r.url for r in ds.remotes) or (ds.homepage or "no public URL")
    return (f"Set FACEKIT_MIRROR to a directory holding {ds.mirror_folder}/ (laid out like ../shared/data), "
            f"or run `facekit data fetch {ds.name}` with internet access (URL: {urls}). "
            f"Data goes to FACEKIT_DATA={paths.data_dir()}.")


# ---------------------------------------------------------------------------------------------------- fetch
def fetch(name: str, *, progress: bool = True, allow_download: bool = True, timeout: float = 30.0) -> Path:
    """Make ``FACEKIT_DATA/<name>`` hold a verified copy (mirror first, then the official URLs); return its root.

    A mirror file that fails its checksum is refused (DataError naming it), as is a download that fails its own.
    """
    ds = get(name)
    root = local_root(ds)
    todo = [i for i in ds.items if check_item(i, root, progress).state != "verified"]
    if not todo:
        return root
    mroot = mirror_root(ds)
    errors: list[str] = []
    if mroot is not None and mroot.is_dir():
        still: list[Item] = []
        for item in todo:
            check = check_item(item, mroot, progress, use_stamp=False)
            if check.state == "corrupt":
                raise DataError(f"refusing {check.location}: {check.detail}. The mirror copy is damaged; "
                                f"replace it (official source: {ds.homepage or 'see the registry'}) and retry.")
            if check.state == "missing":
                still.append(item)
                continue
            _copy_item(item, mroot, root, progress)
        todo = still
        if todo:
            errors.append(f"mirror {mroot} lacks {', '.join(i.path for i in todo)}")
    else:
        errors.append("no mirror (FACEKIT_MIRROR unset or not a directory)"
                      if mroot is None else f"mirror folder {mroot} not found")
    if todo and allow_download:
        for remote in ds.remotes:
            wanted = [i for i in todo if i.path in remote.provides]
            if not wanted:
                continue
            try:
                _download_remote(ds, remote, root, progress, timeout)
            except DataError as exc:
                errors.append(str(exc))
                continue
            for item in wanted:
                check = check_item(item, root, progress)
                if check.state != "verified":
                    raise DataError(f"{remote.url} gave {item.path} that is {check.state}: {check.detail}")
            todo = [i for i in todo if i not in wanted]
    if todo:
        raise DataError(f"dataset {name!r} incomplete: {', '.join(i.path for i in todo)} not obtained "
                        f"({'; '.join(errors)}). {how_to_get(ds)}")
    return root


def ensure(name: str, progress: bool = True) -> Path:
    """The verified local root of ``name``, fetching it first if needed (what every loader calls)."""
    return fetch(name, progress=progress)


def _copy_item(item: Item, src_root: Path, dst_root: Path, progress: bool) -> None:
    src, dst = src_root / item.path, dst_root / item.path
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    if item.kind == "file":
        shutil.copyfile(src, tmp)
    else:
        files = _walk_files(src)
        for p in tqdm(files, desc=f"copying {item.path}", unit="file", disable=not progress, leave=False):
            out = tmp / p.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, out)
    if dst.exists():
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    os.replace(tmp, dst)
    check = check_item(item, dst_root, progress=False)
    if check.state != "verified":  # the copy itself went wrong (disk full, ...): leave nothing half-valid
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        raise DataError(f"copy of {src} to {dst} failed verification: {check.detail}")


def _verify_checksum(path: Path, checksum: str) -> tuple[bool, str]:
    algo, _, expected = checksum.partition(":")
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    got = h.hexdigest()
    return got == expected.lower(), got


def download(url: str, dest: Path, *, checksum: str | None = None, progress: bool = True,
             timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (atomically, with a progress bar) and check it; DataError on any failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                      disable=not progress, leave=False) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"download of {url} failed: {exc}") from None
    if checksum:
        ok, got = _verify_checksum(tmp, checksum)
        if not ok:
            tmp.unlink(missing_ok=True)
            raise DataError(f"download of {url} has {checksum.split(':')[0]} {got}, expected "
                            f"{checksum.split(':', 1)[1]}: refused (a changed or damaged file)")
    os.replace(tmp, dest)
    return dest


def _build_remote(ds: Dataset, remote: Remote, root: Path, progress: bool, timeout: float) -> None:
    """Assemble the items a builder remote provides in a staging folder (kept, so an interrupted fetch resumes),
    then move them into the dataset root; ``fetch`` checks them against the registry afterwards."""
    from facekit.data.pinned import PinnedError
    from facekit.data.selections import BUILDERS

    stage = paths.cache_dir() / "downloads" / ds.name / f"build-{remote.builder}"
    stage.mkdir(parents=True, exist_ok=True)
    try:
        BUILDERS[remote.builder](stage, progress, timeout)
    except (PinnedError, OSError, ValueError, KeyError) as exc:
        raise DataError(f"{remote.url}: {exc}") from None
    _place(remote, stage, root, "the builder made no", keep=True)


def _place(remote: Remote, base: Path, root: Path, missing: str, keep: bool) -> None:
    """Put each item ``remote`` provides from ``base`` into the dataset root, replacing what is there; ``keep``
    copies (a staging folder that lets a later fetch resume) instead of moving."""
    for rel in remote.provides:
        src, dst = base / rel, root / rel
        if not src.exists():
            raise DataError(f"{remote.url}: {missing} {rel}")
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not keep:
            shutil.move(str(src), dst)
        elif src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


def _download_remote(ds: Dataset, remote: Remote, root: Path, progress: bool, timeout: float) -> None:
    if remote.builder:
        return _build_remote(ds, remote, root, progress, timeout)
    fname = remote.url.rstrip("/").rsplit("/", 1)[-1] or "download"
    cached = paths.cache_dir() / "downloads" / ds.name / fname
    if not (cached.is_file() and (remote.checksum is None or _verify_checksum(cached, remote.checksum)[0])):
        download(remote.url, cached, checksum=remote.checksum, progress=progress, timeout=timeout)
    root.mkdir(parents=True, exist_ok=True)
    if not remote.archive:
        (target,) = remote.provides
        dst = root / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dst)
        return
    with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as tmpdir:
        _extract(cached, Path(tmpdir))
        _place(remote, Path(tmpdir) / remote.archive_root, root, f"archive has no {remote.archive_root}", keep=False)


def _extract(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if Path(member).is_absolute() or ".." in Path(member).parts:
                    raise DataError(f"{archive}: unsafe member path {member!r}")
            z.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
    else:
        raise DataError(f"{archive}: neither a zip nor a tar archive")


def annotation_sha256(name: str) -> dict[str, str]:
    """``{"<dataset>/<file>": sha256}`` of a dataset's annotation files, for run manifests."""
    ds = get(name)
    return {f"{ds.name}/{i.path}": i.sha256 for i in ds.items if i.annotation and i.sha256}


def iter_status(progress: bool = False) -> Iterator[DatasetStatus]:
    """Status of every registered dataset."""
    for ds in all_datasets():
        yield status(ds, progress)
