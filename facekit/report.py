"""Rendering helpers for chapters: conditional admonitions and compact result tables (MyST markdown output)."""

from __future__ import annotations

from IPython.display import Markdown


def admonition(title: str, body: str, kind: str = "warning") -> Markdown:
    """A MyST admonition as a cell output (the book renders output markdown as MyST), e.g. for absent weights."""
    return Markdown(f"```{{admonition}} {title}\n:class: {kind}\n{body}\n```")
