"""Profiles: ``smoke``, ``cpu`` and ``full`` parameter sets, one dataclass per chapter.

Each chapter's study module declares a frozen dataclass of its parameters whose defaults are the ``cpu`` profile,
and a mapping ``profile -> overrides`` that names only what differs. ``resolve`` builds the parameters of one
profile and refuses an unknown key or a missing value at load, naming the chapter, never halfway through a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

PROFILES: tuple[str, ...] = ("smoke", "cpu", "full")
DEFAULT = "cpu"
DESCRIPTIONS = {
    "smoke": "proves the pipeline on tiny subsets, seconds to a few minutes per notebook (CI)",
    "cpu": "real subsets and real numbers on a 2-core machine (the default)",
    "full": "the reports' scale on a GPU box, with the full datasets and weights downloaded",
}

P = TypeVar("P")


class ProfileError(ValueError):
    """A profile that names an unknown chapter parameter, lacks a required one, or does not exist."""


def check_profile(name: str) -> str:
    """``name`` if it is a profile, else ProfileError listing them."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return name


def _apply(chapter: str, cls: type[P], overrides: Mapping[str, Any], where: str) -> P:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ProfileError(f"chapter {chapter}: profile {where} sets unknown parameter(s) {unknown}; "
                           f"known: {sorted(names)}")
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        f = names[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if isinstance(value, Mapping) and dataclasses.is_dataclass(default):
            value = _apply(chapter, type(default), {**dataclasses.asdict(default), **value}, f"{where}.{key}")
        values[key] = value
    missing = [f.name for f in names.values() if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ProfileError(f"chapter {chapter}: profile {where} lacks required parameter(s) {missing}")
    return cls(**values)


def resolve(chapter: str, cls: type[P], overrides: Mapping[str, Mapping[str, Any]], profile: str) -> P:
    """The parameters of ``chapter`` under ``profile``: ``cls``'s defaults with ``overrides[profile]`` applied."""
    check_profile(profile)
    return _apply(chapter, cls, overrides.get(profile, {}), profile)
