"""One registry shape for every pluggable part (detectors, aligners, embedders, backbones, losses).

A part is registered under a name with a one-line description and the weights files it loads, and built by name
with keyword arguments. Notebooks and profiles name parts; only registries import the modules behind them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Weights = tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]]


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered part: its factory, description and weights (a tuple, or a function of the kwargs)."""

    name: str
    factory: Callable[..., T]
    description: str
    weights: Weights = ()


class Registry(Generic[T]):
    """Parts of one kind by name. ``load`` (optional) imports the modules that register themselves."""

    def __init__(self, kind: str, load: Callable[[], None] | None = None) -> None:
        self.kind, self._load, self._entries = kind, load, {}

    def register(self, name: str, description: str, weights: Weights = ()) -> Callable[[Callable[..., T]],
                                                                                       Callable[..., T]]:
        """Decorator: register ``factory`` under ``name`` (a second registration of a name is an error)."""
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name].factory is not factory:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, factory, description, weights)
            return factory

        return deco

    def _all(self) -> dict[str, Entry[T]]:
        if self._load is not None:
            self._load()
        return self._entries

    def entry(self, name: str) -> Entry[T]:
        """The entry ``name``; KeyError lists the known names."""
        entries = self._all()
        try:
            return entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(entries))}") from None

    def get(self, name: str, **kwargs: Any) -> T:
        """Build the part ``name`` with ``kwargs``; the part remembers them as ``registry_spec`` so that another
        process can build the same part (a worker pool)."""
        part = self.entry(name).factory(**kwargs)
        with contextlib.suppress(AttributeError):  # a part without attributes cannot be rebuilt elsewhere
            part.registry_spec = (name, dict(kwargs))  # type: ignore[attr-defined]
        return part

    def weights_of(self, name: str, kwargs: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """The registry names of the weights files part ``name`` loads with ``kwargs`` (without loading them)."""
        w = self.entry(name).weights
        return tuple(w(dict(kwargs or {}))) if callable(w) else tuple(w)

    def available(self) -> dict[str, str]:
        """Registered names with their one-line descriptions."""
        return {k: e.description for k, e in self._all().items()}

    def __contains__(self, name: object) -> bool:
        return name in self._all()
