"""A check of the built HTML book: internal links resolve, images exist and are not empty, no cell output holds a
traceback; and, where a Chromium is installed, a headless screenshot of every page that must not be blank."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: text that only an uncaught error leaves in a rendered cell output
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Error Traceback", "---------------------------------------"
                     "------------------------------------")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.output_text: list[str] = []
        self.traceback_blocks = 0  # elements myst-nb renders an error output as (class "traceback")
        self._in_output = 0  # depth inside a cell-output element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag in ("img", "image"):
            src = a.get("src") or a.get("href") or a.get("xlink:href")
            if src:
                self.images.append(src)
        classes = (a.get("class") or "").split()
        if "traceback" in classes:
            self.traceback_blocks += 1
        if self._in_output:
            self._in_output += 1
        elif "cell_output" in classes or "output" in classes:
            self._in_output = 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_output:
            self._in_output -= 1

    def handle_data(self, data: str) -> None:
        if self._in_output:
            self.output_text.append(data)


def _local(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not target.startswith(("mailto:", "javascript:", "data:"))


def check_html(root: str | Path, allow_tracebacks: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Problems in the HTML tree under ``root`` (empty when clean): a local link to a missing file or anchor, a
    missing or empty image, a traceback in a cell output (pages whose stem is in ``allow_tracebacks`` excepted)."""
    root = Path(root)
    if not (root / "index.html").exists():
        return [f"{root}/index.html is missing: the book was not built"]
    pages = {p: _parse(p) for p in sorted(root.rglob("*.html")) if "_static" not in p.parts}
    problems = []
    for page, parsed in pages.items():
        rel = page.relative_to(root)
        for href in parsed.links:
            if not _local(href):
                continue
            parts = urlsplit(href)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: link to {href} does not resolve ({target} is missing)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{rel}: link to {href}: no element with id {parts.fragment!r} in {target.name}")
        for src in parsed.images:
            if not _local(src):
                continue
            target = (page.parent / unquote(urlsplit(src).path)).resolve()
            if not target.exists():
                problems.append(f"{rel}: image {src} is missing")
            elif target.stat().st_size == 0:
                problems.append(f"{rel}: image {src} is empty")
        if page.stem not in allow_tracebacks:
            text = "".join(parsed.output_text)
            hit = next((m for m in TRACEBACK_MARKERS if m in text), None)
            if parsed.traceback_blocks and not hit:
                problems.append(f"{rel}: {parsed.traceback_blocks} cell output(s) rendered as an error")
            elif hit:
                at = text.index(hit)
                problems.append(f"{rel}: a cell output holds a traceback: {text[at:at + 160]!r}")
    return problems


def _parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text(errors="replace"))
    return p


def _redirect(page: Path) -> bool:
    """A page that only forwards to another (Jupyter Book's root ``index.html``): nothing of its own to render."""
    head = page.read_text(errors="replace")[:2000].lower()
    return 'http-equiv="refresh"' in head


def chromium() -> str | None:
    """A headless-capable Chromium on PATH (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def is_blank(png: str | Path, min_pixels: int = 50, contrast: int = 8) -> bool:
    """Whether a screenshot shows nothing: fewer than ``min_pixels`` pixels differ from the page's most common grey
    level by more than ``contrast`` (one short word is enough not to be blank)."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        grey = np.asarray(im.convert("L"), dtype=np.int16)
    background = np.bincount(grey.ravel(), minlength=256).argmax()
    return int((np.abs(grey - background) > contrast).sum()) < min_pixels


@dataclass
class Screenshots:
    """What the screenshot pass did: the files written, the blank pages, and a one-line summary."""

    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: str = ""


def screenshots(root: str | Path, out: str | Path | None = None, browser: str | None = None,
                timeout: float = 30.0) -> Screenshots:
    """A headless screenshot of every page into ``out`` (default ``book/_build/screenshots``); a blank page, or a
    page the browser fails on after it managed the first, is a problem. Without a Chromium, or with one that cannot
    run here (no screenshot of the first page), this is skipped and the summary says why."""
    root = Path(root)
    browser = browser or chromium()
    res = Screenshots()
    pages = [p for p in sorted(root.rglob("*.html")) if "_static" not in p.parts
             and p.name not in ("search.html", "genindex.html") and not _redirect(p)]
    if browser is None:
        res.summary = (f"links, images and outputs of {len(pages)} pages checked; screenshots skipped: no Chromium "
                       "on PATH (`apt install chromium` adds one)")
        return res
    out = Path(out) if out else root.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(out)}  # chromium writes a profile there, not into the user's home
    for k, page in enumerate(pages):
        png = out / (str(page.relative_to(root).with_suffix("")).replace(os.sep, "__") + ".png")
        png.unlink(missing_ok=True)
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600",
               f"--timeout={int(timeout * 1000 * 0.8)}",  # render what has loaded; never wait on a network
               f"--screenshot={png}", page.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
            why = f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:160]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"{type(exc).__name__}: {exc}"
        if not png.exists() or png.stat().st_size == 0:
            if k == 0 and not res.files:  # the browser cannot run here at all: a recorded skip, not a blank page
                res.summary = (f"links, images and outputs of {len(pages)} pages checked; screenshots skipped: "
                               f"{browser} wrote no screenshot of the first page ({why})")
                return res
            res.problems.append(f"{page.name}: the browser wrote no screenshot ({why})")
        elif is_blank(png):
            res.problems.append(f"{page.name}: renders blank ({png})")
        else:
            res.files.append(png)
    res.summary = f"{len(pages)} pages checked, {len(res.files)} screenshots in {out}"
    return res
