"""Shared fixtures: an isolated FACEKIT_DATA/CACHE/RESULTS per test, and the read-only shared mirror."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
SHARED_WEIGHTS = (ROOT.parent / "shared" / "weights").resolve()


@pytest.fixture()
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh data, cache and results folders under tmp_path (the mirror setting is left as the caller sets it)."""
    for var, sub in (("FACEKIT_DATA", "raw"), ("FACEKIT_CACHE", "cache"), ("FACEKIT_RESULTS", "results")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def _shared(monkeypatch: pytest.MonkeyPatch, var: str, folder: Path, what: str) -> Path:
    """Point ``var`` at a shared folder beside the project; a recorded skip where this checkout has none."""
    if not folder.is_dir():
        pytest.skip(f"no shared {what} at {folder}")
    monkeypatch.setenv(var, str(folder))
    return folder


@pytest.fixture()
def shared_mirror(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared data mirror (../shared/data)."""
    return _shared(monkeypatch, "FACEKIT_MIRROR", SHARED_DATA, "data mirror")


@pytest.fixture(scope="session")
def _session_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("facekit-data")


@pytest.fixture()
def mirror_data(isolated: Path, shared_mirror: Path, _session_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Datasets fetched from the shared mirror once per test session (read-only use)."""
    monkeypatch.setenv("FACEKIT_DATA", str(_session_data))
    return _session_data


@pytest.fixture()
def shared_weights(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared weights mirror (../shared/weights)."""
    return _shared(monkeypatch, "FACEKIT_WEIGHTS", SHARED_WEIGHTS, "weights mirror")
