"""The data chapter's study (00_data): where each dataset comes from and its state, what each contains (counts,
tables, decoding), the terms of use, what only the full profile has, and the counts as results records."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from facekit import paths
from facekit.data import sources, summary, w300
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


def locations() -> str:
    """The mirror and the data folder this build reads."""
    return f"mirror={paths.mirror_dir()} data={paths.data_dir()}"


def status_table(st: Study) -> pd.DataFrame:
    """Every registered dataset: what it is, its state in this build (fetched and verified when the profile needs
    it), where it was checked from, and the profiles that use it."""
    rows = []
    for ds in sources.all_datasets():
        needed = st.profile in ds.profiles
        ds_state = sources.status(ds) if needed else None
        if needed:
            sources.ensure(ds.name, progress=False)
        rows.append({"dataset": ds.name, "what": ds.title,
                     "state": ds_state.state if ds_state else "not needed by this profile",
                     "checked from": ds_state.source if ds_state else "", "profiles": ", ".join(ds.profiles)})
    return pd.DataFrame(rows)


def summaries() -> dict[str, Summary]:
    """Counts and tables of LFW, the CelebA subset, the 300-W subset and WIDER FACE's validation boxes, read from
    the files."""
    return {"lfw": summary.lfw_summary(), "celeba": summary.celeba_subset_summary(), "w300": summary.w300_summary(),
            "wider": summary.wider_summary()}


def decode_check(st: Study, images: pd.DataFrame) -> str:
    """Read the images (a seeded sample of ``decode_check_images``, or all) through ``facekit.io``; one sentence
    saying how many decoded and the first one that did not."""
    n_ok, skipped = summary.decode_check(list(images.path), st.params.decode_check_images, st.seed)
    first = f" (first: {skipped[0].path.name}: {skipped[0].reason})" if skipped else ""
    return f"LFW: {n_ok:,} images decoded, {len(skipped)} skipped{first}."


def five_points(landmarks68) -> object:
    """The five points facekit uses everywhere, derived from 300-W's 68 (for the overlays)."""
    return w300.five_points(landmarks68)


def terms_table() -> pd.DataFrame:
    """Each dataset's homepage and terms of use, as its publisher states them."""
    return pd.DataFrame([{"dataset": d.name, "homepage": d.homepage, "terms": d.terms, "notes": d.notes}
                         for d in sources.all_datasets()])


def full_only_table(st: Study) -> pd.DataFrame:
    """The datasets only the full profile uses, with how to get each (``facekit data status``'s instruction)."""
    return pd.DataFrame([{"dataset": d.name, "how to get it": sources.how_to_get(d)}
                         for d in sources.all_datasets() if st.profile not in d.profiles])


def results_folder(st: Study) -> str:
    return str(paths.results_dir() / st.profile / st.name)
