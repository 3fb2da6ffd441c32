"""Where data, the mirror, weights, caches and results live.

Every location can be overridden by an environment variable so that a lab share, a download cache or a GPU box's
scratch disk can be used without touching code. Nothing here creates a folder: callers create what they write.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: the folder that holds ``pyproject.toml`` beside the ``facekit`` package.
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The project root (``FACEKIT_ROOT``, else the folder above the installed package, else the cwd)."""
    env = os.environ.get("FACEKIT_ROOT")
    if env:
        return Path(env).resolve()
    if (_PACKAGE_PARENT / "pyproject.toml").exists():
        return _PACKAGE_PARENT
    return Path.cwd()


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Fetched datasets (``FACEKIT_DATA``, default ``data/raw``); one sub-folder per dataset."""
    return _env_path("FACEKIT_DATA", project_root() / "data" / "raw")


def mirror_dir() -> Path | None:
    """A read-only directory laid out like ``../shared/data`` (``FACEKIT_MIRROR``).

    Unset: ``../shared/data`` beside the project when it exists. Set to an empty string: no mirror at all.
    """
    value = os.environ.get("FACEKIT_MIRROR")
    if value is not None:
        return Path(value).expanduser().resolve() if value.strip() else None
    shared = project_root().parent / "shared" / "data"
    return shared.resolve() if shared.is_dir() else None


def weights_mirror_dir() -> Path | None:
    """A directory of model weights laid out like ``../shared/weights`` (``FACEKIT_WEIGHTS``; empty = none)."""
    value = os.environ.get("FACEKIT_WEIGHTS")
    if value is not None:
        return Path(value).expanduser().resolve() if value.strip() else None
    shared = project_root().parent / "shared" / "weights"
    return shared.resolve() if shared.is_dir() else None


def cache_dir() -> Path:
    """Content-keyed caches: crops, embeddings, downloads (``FACEKIT_CACHE``, default ``data/cache``)."""
    return _env_path("FACEKIT_CACHE", project_root() / "data" / "cache")


def results_dir() -> Path:
    """Results JSON root (``FACEKIT_RESULTS``, default ``results``); laid out as ``<profile>/<study>/<name>.json``."""
    return _env_path("FACEKIT_RESULTS", project_root() / "results")


def book_dir() -> Path:
    """Where executed notebooks and ``_build/`` land (``book/``)."""
    return project_root() / "book"


def notebooks_dir() -> Path:
    """The jupytext percent ``.py`` notebooks, the source of truth of every chapter."""
    return project_root() / "notebooks"
