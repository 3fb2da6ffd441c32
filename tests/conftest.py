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


@pytest.fixture()
def shared_mirror(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared data mirror (../shared/data); a recorded skip where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data mirror at {SHARED_DATA}")
    monkeypatch.setenv("FACEKIT_MIRROR", str(SHARED_DATA))
    return SHARED_DATA


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
    """The shared weights mirror (../shared/weights); a recorded skip where this checkout has none."""
    if not SHARED_WEIGHTS.is_dir():
        pytest.skip(f"no shared weights mirror at {SHARED_WEIGHTS}")
    monkeypatch.setenv("FACEKIT_WEIGHTS", str(SHARED_WEIGHTS))
    return SHARED_WEIGHTS
