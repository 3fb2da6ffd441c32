"""The book pipeline: jupytext ``.py`` -> papermill (with a profile) -> ``book/*.ipynb`` -> Jupyter Book HTML."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from facekit import paths
from facekit.profiles import check_profile


class BookError(Exception):
    """A notebook failed (the message names the notebook, the cell and the error) or the HTML build failed."""


def chapters() -> list[Path]:
    """The chapter sources, ``notebooks/NN_*.py``, in order."""
    return sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.py"))


def _to_ipynb(src: Path, dst: Path) -> None:
    import jupytext

    nb = jupytext.read(src)
    nb.metadata.pop("jupytext", None)  # the executed copy is an output, not a pair of the source
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, dst)


def execute(src: Path, profile: str, out_dir: Path | None = None, extra: dict | None = None) -> Path:
    """Execute one chapter with papermill into ``book/<name>.ipynb``; BookError shows the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir = out_dir or paths.book_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f".{src.stem}.input.ipynb"
    out = out_dir / f"{src.stem}.ipynb"
    _to_ipynb(src, raw)
    params = {"profile": profile, **(extra or {})}
    # the kernel inherits this environment: a non-interactive backend there would silently drop every figure
    backend = os.environ.pop("MPLBACKEND", None)
    try:
        papermill.execute_notebook(str(raw), str(out), parameters=params, kernel_name="python3",
                                   progress_bar=False, cwd=str(paths.project_root()))
    except PapermillExecutionError as exc:
        source = "\n".join("    " + line for line in (exc.source or "").splitlines()[-15:])
        raise BookError(f"{src.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}):\n"
                        f"{source}\n  {exc.ename}: {exc.evalue}\n  (the partial notebook is {out})") from None
    finally:
        raw.unlink(missing_ok=True)
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
    return out


def build_html() -> Path:
    """Run ``jupyter-book build`` on the project root (``execute_notebooks: off``) into ``book/_build/html``."""
    root = paths.project_root()
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--path-output", str(paths.book_dir())]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookError("jupyter-book build failed:\n" + (proc.stdout[-4000:] + proc.stderr[-4000:]))
    index = paths.book_dir() / "_build" / "html" / "index.html"
    if not index.exists():
        raise BookError(f"jupyter-book build finished but {index} is missing:\n{proc.stdout[-2000:]}")
    warnings = [ln for ln in proc.stderr.splitlines() if "WARNING" in ln]
    for line in warnings[:20]:
        print("  " + line, file=sys.stderr)
    return index


def build(profile: str, only: list[str] | None = None, html: bool = True) -> Path | None:
    """Execute every chapter (or those named in ``only``) with ``profile`` and build the HTML book."""
    check_profile(profile)  # fail fast on a typo
    os.environ.setdefault("FACEKIT_PROFILE", profile)
    todo = [c for c in chapters() if not only or c.stem in only or c.name in only]
    if only and len(todo) != len(set(only)):
        known = ", ".join(c.stem for c in chapters())
        raise BookError(f"unknown chapter in {only}; known: {known}")
    for k, src in enumerate(todo, 1):
        print(f"[{k}/{len(todo)}] {src.name} (profile {profile}) ...", flush=True)
        t0 = time.perf_counter()
        execute(src, profile)
        print(f"[{k}/{len(todo)}] {src.name} ok in {time.perf_counter() - t0:.1f} s", flush=True)
    if not html:
        return None
    t0 = time.perf_counter()
    index = build_html()
    print(f"book built in {time.perf_counter() - t0:.1f} s: {index}", flush=True)
    return index


def check(profile: str, only: list[str] | None = None) -> list[dict[str, str]]:
    """Every dataset and weights file each chapter needs under ``profile``: verified / missing / corrupt, with
    where it is or how to get it. Runs nothing; loads only the chapters' parameters (an unknown or missing
    parameter fails here, naming the chapter)."""
    from facekit import studies
    from facekit.studies.kit import check as check_need

    check_profile(profile)
    rows = []
    for src in chapters():
        if only and src.stem not in only:
            continue
        mod = studies.module(src.stem)
        for need in mod.needs(profile):
            st = check_need(need)
            rows.append({"chapter": src.stem, "kind": need.kind, "name": need.name, "state": st.state,
                         "detail": st.detail})
    return rows
