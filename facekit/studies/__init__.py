"""One study module per chapter, named after it, over the kit in ``facekit.studies.kit``.

Each chapter's module declares ``CHAPTER = Chapter(...)`` once (name, title, report, parameters with the cpu
defaults and per-profile overrides, needs, published figures, former names). The chapters are found by reading
this package: adding a chapter is a study module and its notebook, nothing else.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from functools import lru_cache

from facekit import paths
from facekit.studies.kit import Chapter

#: modules of this package that hold no chapter
_NOT_CHAPTERS = frozenset({"kit", "calibration"})


@lru_cache(maxsize=1)
def chapters() -> dict[str, Chapter]:
    """Every declared chapter by name, in book order (the names' numeric prefixes)."""
    found: dict[str, Chapter] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_CHAPTERS or info.name.startswith("_"):
            continue
        declared = getattr(importlib.import_module(f"{__name__}.{info.name}"), "CHAPTER", None)
        if isinstance(declared, Chapter):
            if declared.name in found:
                raise ValueError(f"chapter {declared.name} declared twice (in {info.name} and another module)")
            found[declared.name] = declared
    return dict(sorted(found.items()))


def chapter(name: str) -> Chapter:
    """The declaration of chapter ``name`` (KeyError lists the chapters)."""
    try:
        return chapters()[name]
    except KeyError:
        raise KeyError(f"no chapter {name!r} is declared; known: {', '.join(chapters())}") from None


def renamed() -> dict[str, str]:
    """Old chapter name -> current name, from the declarations' ``renamed_from``."""
    return {old: c.name for c in chapters().values() for old in c.renamed_from}


def migrate_renamed() -> list[str]:
    """Move results and checkpoints written under a chapter's old name to its new one (each record's ``study``
    field too), so a rename neither loses old results nor retrains; returns what moved. A folder already under
    the new name is never overwritten."""
    moved = []
    for root in (paths.results_dir(), paths.cache_dir() / "checkpoints"):
        for profile_dir in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else ():
            for old, new in renamed().items():
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
