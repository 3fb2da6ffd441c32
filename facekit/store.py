"""Hashing and atomic writes: the one place that names files by content and replaces them without a torn state.

Every cache entry, results record, checkpoint and stamp goes through ``atomic_write``: the data lands in a
temporary file beside the target and is moved over it with ``os.replace``, so an interrupted run leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (``sha1`` keys caches by image content, ``sha256`` checks downloads)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (datasets, weights)."""
    return file_digest(path, "sha256")


def file_sha1(path: str | Path) -> str:
    """sha1 of a file's bytes (the image part of every cache key)."""
    return file_digest(path, "sha1")


def fingerprint(*parts: Any, length: int = 10) -> str:
    """A short sha1 of ``parts`` (JSON with sorted keys, ``str`` for the rest): the content part of a cache key."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def atomic_write(path: str | Path, write: Callable[[IO], None], binary: bool = True, durable: bool = False) -> Path:
    """Create ``path``'s folder, let ``write(f)`` fill a temporary file beside it, then move it into place.
    ``durable`` also flushes the file and the folder to disk, so the new file survives a power cut, not only a
    killed process (a user's gallery; caches do without)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        sync_dir(path.parent)
    return path


def sync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename or an unlink in it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""
    return atomic_write(path, lambda f: f.write(text), binary=False)


def atomic_write_json(path: str | Path, data: Any, indent: int | None = None, durable: bool = False) -> Path:
    """Write ``data`` as JSON atomically (``default=str`` for paths and other plain objects)."""
    def write(f: IO) -> None:
        json.dump(data, f, indent=indent, default=str)
        f.write("\n")

    return atomic_write(path, write, binary=False, durable=durable)


def atomic_save_npy(path: str | Path, array: Any, durable: bool = False) -> Path:
    """Save a NumPy array atomically (``.npy``)."""
    import numpy as np

    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), durable=durable)


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically (checkpoints)."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
