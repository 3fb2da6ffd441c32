"""Files of a public GitHub repository at a pinned commit: its file listing (the git tree, with sizes) and raw
downloads with a progress bar. The datasets assembled from such files (the mirror's subsets) are rebuilt from
here on a machine with internet and no mirror.

``FACEKIT_GITHUB_API`` and ``FACEKIT_GITHUB_RAW`` replace ``https://api.github.com`` and
``https://raw.githubusercontent.com`` (a proxy, or the loopback server of the tests).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

API = "https://api.github.com"
RAW = "https://raw.githubusercontent.com"


class PinnedError(Exception):
    """A listing or file of a pinned repository that could not be fetched (the message names the URL)."""


def api_base() -> str:
    return os.environ.get("FACEKIT_GITHUB_API", API).rstrip("/")


def raw_base() -> str:
    return os.environ.get("FACEKIT_GITHUB_RAW", RAW).rstrip("/")


@dataclass(frozen=True)
class PinnedRepo:
    """``owner/name`` at a full commit sha."""

    repo: str
    commit: str

    def raw_url(self, path: str) -> str:
        return f"{raw_base()}/{self.repo}/{self.commit}/{path}"

    def tree_url(self) -> str:
        return f"{api_base()}/repos/{self.repo}/git/trees/{self.commit}?recursive=1"

    def listing(self, timeout: float = 30.0) -> dict[str, int]:
        """``{path: size in bytes}`` of every file (blob) in the commit's tree."""
        data = json.loads(_get(self.tree_url(), timeout))
        if data.get("truncated"):
            raise PinnedError(f"{self.tree_url()}: the listing is truncated; it cannot drive a selection rule")
        return {e["path"]: int(e.get("size", 0)) for e in data.get("tree", []) if e.get("type") == "blob"}

    def read(self, path: str, timeout: float = 30.0) -> bytes:
        return _get(self.raw_url(path), timeout)

    def download(self, files: dict[str, Path], desc: str, progress: bool = True, timeout: float = 30.0) -> None:
        """Write each repository ``path`` to its destination (``{path: dest}``), one request each, under one
        progress bar; a destination already present is kept (an interrupted fetch resumes)."""
        for path, dest in tqdm(files.items(), desc=desc, unit="file", disable=not progress, leave=False):
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.part")
            tmp.write_bytes(self.read(path, timeout))
            os.replace(tmp, dest)


def _get(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "facekit", "Accept": "application/vnd.github+json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PinnedError(f"download of {url} failed: {exc}") from None
