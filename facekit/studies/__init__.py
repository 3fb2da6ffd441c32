"""One study module per chapter, named after it, over the kit in ``facekit.studies.kit``.

Each module has ``CHAPTER`` (the notebook's name and its results folder), ``Params`` with the cpu defaults and
``OVERRIDES`` per profile, ``params(profile)``, ``needs(profile)`` (datasets and weights, without running
anything) and ``study(profile, seed)``.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType

from facekit import paths

#: chapter name -> study module, in book order
CHAPTERS = {
    "00_data": "facekit.studies.data",
    "01_detection": "facekit.studies.detection",
    "02_cosine_heads": "facekit.studies.heads",
    "03_metric_learning": "facekit.studies.metric_learning",
    "04_retrieval": "facekit.studies.retrieval",
    "05_gender_keypoints": "facekit.studies.gender_keypoints",
    "06_arcface_resnet": "facekit.studies.arcface_resnet",
    "90_synthesis": "facekit.studies.synthesis",
}


#: chapters renamed when the book was put in report order (old name -> new name)
RENAMED = {"02_metric_learning": "03_metric_learning", "03_cosine_heads": "02_cosine_heads"}


def migrate_renamed() -> list[str]:
    """Move results and checkpoints written under a chapter's old name to its new one (each record's ``study``
    field too), so a rename neither loses old results nor retrains; returns what moved. A folder already under
    the new name is never overwritten."""
    moved = []
    for root in (paths.results_dir(), paths.cache_dir() / "checkpoints"):
        for profile_dir in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else ():
            for old, new in RENAMED.items():
                src, dst = profile_dir / old, profile_dir / new
                if not src.is_dir() or dst.exists():
                    continue
                src.rename(dst)
                moved.append(str(dst))
                if root == paths.results_dir():
                    for rec in dst.glob("*.json"):
                        data = json.loads(rec.read_text())
                        if data.get("study") != dst.name:
                            data["study"] = dst.name
                            rec.write_text(json.dumps(data, indent=1))
    return moved


def module(chapter: str) -> ModuleType:
    """The study module of ``chapter`` (KeyError lists the chapters)."""
    try:
        return importlib.import_module(CHAPTERS[chapter])
    except KeyError:
        raise KeyError(f"no study module for chapter {chapter!r}; known: {', '.join(CHAPTERS)}") from None
