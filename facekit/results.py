"""Results records: one JSON per result under ``results/<profile>/<study>/<name>.json``, plus a run manifest.

These files are the single source of every number in the book; notebooks write them and read them back to make
tables and plots, and ``facekit results`` prints them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from facekit import paths
from facekit.runtime import processor
from facekit.store import atomic_write, atomic_write_json

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@+-]*$")
_METRIC = re.compile(r"^[a-z][a-z0-9_.+-]*$")
PACKAGES = ("facekit", "torch", "torchvision", "numpy", "scikit-learn", "pandas", "pillow", "opencv-python",
            "facenet-pytorch", "dlib-bin", "mediapipe", "optuna", "pytorch-metric-learning", "faiss-cpu")


def git_commit() -> str:
    """The git commit, with ``+dirty`` when tracked files have uncommitted changes; ``unknown`` outside git."""
    root = paths.project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the numbers (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class Provenance:
    """What a result depended on besides the code and the pins: the seed, the data and weights checksums (passed
    in by ``facekit.studies.kit.Study``, so that this base module knows nothing of the datasets), the device."""

    seed: int = 0
    data_sha256: Mapping[str, str] = field(default_factory=dict)
    weights_sha256: Mapping[str, str] = field(default_factory=dict)
    device: str | None = None


def manifest(profile: str, provenance: Provenance) -> dict[str, Any]:
    """What a run depended on: git commit, versions, profile, seed, data and weight checksums, machine, device."""
    return {
        "git": git_commit(), "versions": versions(), "profile": profile, "seed": provenance.seed,
        "data_sha256": dict(provenance.data_sha256), "weights_sha256": dict(provenance.weights_sha256),
        "device": provenance.device,
        "machine": {"platform": platform.platform(), "processor": processor(), "cpus": os.cpu_count()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _check_metrics(metrics: Mapping[str, Any], what: str) -> dict[str, Any]:
    out = {}
    for key, value in metrics.items():
        if not _METRIC.match(key):
            raise ValueError(f"{what} name {key!r} is not lower_snake_case")
        if isinstance(value, bool) or value is None:
            out[key] = value
            continue
        if isinstance(value, int | float):
            value = float(value) if isinstance(value, float) else int(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{what} {key!r} is {value}: record a reason instead of a non-finite number")
            out[key] = value
        elif hasattr(value, "item"):  # numpy scalar
            out[key] = value.item()
        else:
            out[key] = value
    return out


#: a record's fields: the required ones, then the optional ones with their empty value
_REQUIRED = ("dataset", "protocol", "model", "metrics")
_OPTIONAL = {"substitute_for": None, "timings": None, "reported": None, "extra": None, "face_path": None}


def write_result(study: str, name: str, *, profile: str, provenance: Provenance | None = None,
                 **record: Any) -> Path:
    """Write one result (atomically) with its manifest; return the file path.

    ``record`` holds ``dataset``, ``protocol``, ``model`` and ``metrics``, and optionally ``substitute_for`` (the
    report's model this one stands in for), ``timings``, ``reported`` (a published figure with its ``source``,
    always shown apart from our numbers), ``extra`` and ``face_path`` (the ``FacePath.to_json()`` that produced
    the numbers: ``facekit verify`` rebuilds it). An unknown or missing field is an error.
    """
    unknown = set(record) - set(_REQUIRED) - set(_OPTIONAL)
    missing = [k for k in _REQUIRED if k not in record]
    if unknown or missing:
        raise TypeError(f"results record {name!r}: unknown field(s) {sorted(unknown)}, missing {missing}")
    r = {**_OPTIONAL, **record}
    for label, value in (("study", study), ("name", name), ("profile", profile)):
        if not _NAME.match(value):
            raise ValueError(f"{label} {value!r} must be lower-case letters, digits and _ . @ + -")
    if r["reported"] is not None and "source" not in r["reported"]:
        raise ValueError("a reported figure needs its 'source' (report and table)")
    out = {
        "study": study, "name": name, "profile": profile, "dataset": r["dataset"], "protocol": r["protocol"],
        "model": r["model"], "substitute_for": r["substitute_for"],
        "metrics": _check_metrics(r["metrics"], "metric"),
        "timings": _check_metrics(r["timings"] or {}, "timing"),
        "reported": dict(r["reported"]) if r["reported"] else None,
        "face_path": dict(r["face_path"]) if r["face_path"] else None,
        "extra": dict(r["extra"]) if r["extra"] else {},
        "manifest": manifest(profile, provenance or Provenance()),
    }
    return atomic_write_json(paths.results_dir() / profile / study / f"{name}.json", out, indent=1)


def read_results(profile: str | None = None, study: str | None = None) -> list[dict[str, Any]]:
    """Every record under the results root, optionally for one profile and/or study, sorted by path."""
    root = paths.results_dir()
    pattern = f"{profile or '*'}/{study or '*'}/*.json"
    return [json.loads(p.read_text()) for p in sorted(root.glob(pattern))]


def read_result(profile: str, study: str, name: str) -> dict[str, Any]:
    """One record; FileNotFoundError names the file and the notebook that writes it."""
    path = paths.results_dir() / profile / study / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run notebooks/{study}.py with profile {profile!r} first")
    return json.loads(path.read_text())


#: Profiles whose records a command uses unasked, best first. The smoke profile's subsets (60 LFW pairs) make
#: a threshold at a low false-accept rate meaningless, so a smoke record is used only when asked for by name.
TRUSTED_PROFILES = ("full", "cpu")


def find_record(study: str, match: Callable[[dict[str, Any]], bool], profile: str | None = None,
                ) -> dict[str, Any] | None:
    """The first record of ``study`` that ``match`` accepts: in ``profile`` when one is given, else in the
    ``TRUSTED_PROFILES`` in order (a command's calibration: full before cpu, never smoke unasked)."""
    for prof in ([profile] if profile else TRUSTED_PROFILES):
        for rec in read_results(prof, study):
            if match(rec):
                return rec
    return None


def table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records flattened to one row each: identifiers, then ``metrics.*``, ``timings.*``, ``reported.*``."""
    rows = []
    for r in records:
        row = {k: r.get(k) for k in ("profile", "study", "name", "dataset", "protocol", "model", "substitute_for")}
        row.update({k: v for k, v in r.get("metrics", {}).items() if not isinstance(v, list | dict)})
        row.update({f"time.{k}": v for k, v in r.get("timings", {}).items()})
        if r.get("reported"):
            row.update({f"reported.{k}": v for k, v in r["reported"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def study_tables(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], pd.DataFrame]:
    """``table`` per (profile, study, kind): a study's records grouped by what they measure (records whose metric
    names mostly overlap: a detection study's landmark, timing and reliability records are three kinds), each
    table with only the columns its records fill. The kind is named by its records' common name ending."""
    out = {}
    for (profile, study), recs in _by_study(records).items():
        for group in _kinds(recs):
            kind = _common_suffix([r["name"] for r in group]).strip("_-.") if len(group) > 1 else ""
            df = table(group).drop(columns=["profile", "study"]).dropna(axis=1, how="all")
            key = (profile, study, kind or group[0].get("protocol") or group[0]["name"])
            while key in out:
                key = (profile, study, key[2] + "'")
            out[key] = df
    return out


def _by_study(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["profile"], r["study"]), []).append(r)
    return groups


def _metric_names(r: dict[str, Any]) -> set[str]:
    return {k for k, v in (r.get("metrics") or {}).items() if not isinstance(v, list | dict)} | {
        f"time.{k}" for k in (r.get("timings") or {})}


def _kinds(records: list[dict[str, Any]], overlap: float = 0.5) -> list[list[dict[str, Any]]]:
    """Records grouped greedily: one joins the first group whose metric names overlap its own by at least
    ``overlap`` (Jaccard), else starts a group."""
    groups: list[tuple[set[str], list[dict[str, Any]]]] = []
    for r in records:
        names = _metric_names(r)
        for keys, members in groups:
            if names and len(names & keys) / len(names | keys) >= overlap:
                keys |= names
                members.append(r)
                break
        else:
            groups.append((set(names), [r]))
    return [members for _, members in groups]


def _common_suffix(names: list[str]) -> str:
    rev = [n[::-1] for n in names]
    out = []
    for chars in zip(*rev, strict=False):
        if len(set(chars)) > 1:
            break
        out.append(chars[0])
    return "".join(out)[::-1]


def long_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per scalar metric or timing: profile, study, name, metric, value."""
    rows = []
    for r in records:
        for kind, values in (("", r.get("metrics") or {}), ("time.", r.get("timings") or {})):
            for k, v in values.items():
                if not isinstance(v, list | dict):
                    rows.append({"profile": r["profile"], "study": r["study"], "name": r["name"],
                                 "metric": kind + k, "value": v})
    return pd.DataFrame(rows, columns=["profile", "study", "name", "metric", "value"])


def write_table(study: str, name: str, df: pd.DataFrame, *, profile: str) -> Path:
    """A per-item table beside the results (``<name>.csv``), e.g. per-face errors behind a CDF plot."""
    if not _NAME.match(name):
        raise ValueError(f"table name {name!r} must be lower-case letters, digits and _ . @ + -")
    return atomic_write(paths.results_dir() / profile / study / f"{name}.csv",
                        lambda f: df.to_csv(f, index=False), binary=False)


def read_table(study: str, name: str, *, profile: str) -> pd.DataFrame:
    """A table written by ``write_table``."""
    path = paths.results_dir() / profile / study / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run notebooks/{study}.py with profile {profile!r} first")
    return pd.read_csv(path)
