"""The data chapter's study (00_data): which datasets the profile needs, and their counts as results records."""

from __future__ import annotations

from dataclasses import dataclass

from facekit.data import sources
from facekit.data.summary import Summary
from facekit.studies.kit import Chapter, Study


@dataclass(frozen=True)
class Params:
    """The data chapter's parameters (defaults: the cpu profile)."""

    decode_check_images: int | None = None  # images decoded to prove they read (None: all of LFW)
    sample_grid: int = 16  # faces shown per sample grid


OVERRIDES = {"smoke": {"decode_check_images": 200, "sample_grid": 8}}


def datasets(profile: str) -> list[sources.Dataset]:
    """The registered datasets ``profile`` uses."""
    return [d for d in sources.all_datasets() if profile in d.profiles]


CHAPTER = Chapter("00_data", "The data", Params, OVERRIDES,
                  datasets=lambda profile: [d.name for d in datasets(profile)])


def write_counts(st: Study, summaries: list[Summary]) -> None:
    """One record per dataset with its headline counts."""
    for s in summaries:
        st.write(s.name, dataset=s.name, protocol="counts", model=None,
                 metrics={k: v for k, v in s.counts.items() if isinstance(v, int | bool)})
