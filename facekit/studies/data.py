"""The data chapter's study (00_data): which datasets the profile needs, and their counts as results records."""

from __future__ import annotations

from dataclasses import dataclass

from facekit.data import sources
from facekit.data.summary import Summary
from facekit.profiles import resolve
from facekit.studies.kit import Need, Study

CHAPTER = "00_data"


@dataclass(frozen=True)
class Params:
    """The data chapter's parameters (defaults: the cpu profile)."""

    decode_check_images: int | None = None  # images decoded to prove they read (None: all of LFW)
    sample_grid: int = 16  # faces shown per sample grid


OVERRIDES = {"smoke": {"decode_check_images": 200, "sample_grid": 8}}


def params(profile: str) -> Params:
    return resolve(CHAPTER, Params, OVERRIDES, profile)


def datasets(profile: str) -> list[sources.Dataset]:
    """The registered datasets ``profile`` uses."""
    return [d for d in sources.all_datasets() if profile in d.profiles]


def needs(profile: str) -> list[Need]:
    """The datasets ``profile`` uses."""
    return [Need("dataset", d.name) for d in datasets(profile)]


def study(profile: str, seed: int = 0) -> Study:
    return Study(CHAPTER, profile, seed, params(profile), tuple(d.name for d in datasets(profile)))


def write_counts(st: Study, summaries: list[Summary]) -> None:
    """One record per dataset with its headline counts."""
    for s in summaries:
        st.write(s.name, dataset=s.name, protocol="counts", model=None,
                 metrics={k: v for k, v in s.counts.items() if isinstance(v, int | bool)})
