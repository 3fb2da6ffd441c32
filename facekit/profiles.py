"""Profiles: the parameter sets shared by every notebook and the CLI (smoke, cpu, full)."""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    # seconds to a few minutes per notebook on 2 CPU cores; tiny subsets; proves the pipeline (CI)
    "smoke": {"decode_check_images": 200, "sample_grid": 8, "seed": 0},
    # real subsets and real numbers on a 2-core laptop (the default of `make book`)
    "cpu": {"decode_check_images": None, "sample_grid": 16, "seed": 0},
    # the reports' scale on a GPU box with the full datasets downloaded
    "full": {"decode_check_images": None, "sample_grid": 16, "seed": 0},
}
DEFAULT = "cpu"


def get_profile(name: str) -> dict[str, Any]:
    """A copy of profile ``name``'s parameters (``None`` means "all")."""
    try:
        return dict(PROFILES[name])
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
