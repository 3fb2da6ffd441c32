"""One study module per chapter, named after it, over the kit in ``facekit.studies.kit``.

Each module has ``CHAPTER`` (the notebook's name and its results folder), ``Params`` with the cpu defaults and
``OVERRIDES`` per profile, ``params(profile)``, ``needs(profile)`` (datasets and weights, without running
anything) and ``study(profile, seed)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: chapter name -> study module, in book order
CHAPTERS = {
    "00_data": "facekit.studies.data",
    "01_detection": "facekit.studies.detection",
    "02_metric_learning": "facekit.studies.metric_learning",
    "03_cosine_heads": "facekit.studies.heads",
    "04_retrieval": "facekit.studies.retrieval",
    "05_gender_keypoints": "facekit.studies.gender_keypoints",
    "06_arcface_resnet": "facekit.studies.arcface_resnet",
}


def module(chapter: str) -> ModuleType:
    """The study module of ``chapter`` (KeyError lists the chapters)."""
    try:
        return importlib.import_module(CHAPTERS[chapter])
    except KeyError:
        raise KeyError(f"no study module for chapter {chapter!r}; known: {', '.join(CHAPTERS)}") from None
