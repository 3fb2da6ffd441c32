"""The book pipeline: jupytext ``.py`` -> papermill (with a profile) -> ``book/*.ipynb`` -> status page ->
Jupyter Book HTML -> HTML check (-> a zip archive)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from facekit import console, paths, runlog, tally
from facekit.profiles import check_profile

#: native-library log lines that reach a kernel's stderr (glog/absl from mediapipe, TFLite's delegate notice): not
#: part of a chapter's story, dropped from the executed notebook
NOISE = re.compile(r"^(?:[IWEF]\d{4} \d+:\d+:\d+\.\d+ +\d+ [\w.]+:\d+\] .*"
                   r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                   r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)$")


#: exit code of a chapter's own process (``python -m facekit.book``) when the chapter failed and logged its error
CHAPTER_FAILED = 3


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


def tidy(notebook: Path) -> int:
    """Make an executed notebook read as a report: remove native-library log lines (``NOISE``) from its stderr
    outputs (and outputs left empty), and fold the parameter cells behind Jupyter Book's ``hide-input`` toggle.
    Returns how many log lines went."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    dropped = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = out["text"].splitlines(keepends=True)
                clean = [ln for ln in lines if not NOISE.match(ln.rstrip("\n"))]
                dropped += len(lines) - len(clean)
                out["text"] = "".join(clean)
                if not out["text"].strip():
                    continue
            kept.append(out)
        if cell.cell_type == "code":
            cell.outputs = kept
    nbformat.write(nb, notebook)
    return dropped


def chapter_log(profile: str, chapter: str) -> Path:
    """The file a chapter's native log lines and kernel output go to while it runs (``results/<profile>/logs``)."""
    return paths.results_dir() / profile / "logs" / f"{chapter}.log"


def execute(src: Path, profile: str, out_dir: Path | None = None, extra: dict | None = None,
            verbose: bool = False) -> Path:
    """Execute one chapter with papermill into ``book/<name>.ipynb``; BookError shows the failing cell. The console
    shows which cell runs (``facekit.console.Progress``) while native log lines go to ``chapter_log``; ``verbose``
    streams the cells' output to the console instead."""
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
    log = chapter_log(profile, src.stem)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {src.name}, profile {profile}, {datetime.now(UTC).isoformat(timespec='seconds')}\n")
    try:
        run = dict(parameters=params, kernel_name="python3", progress_bar=False, cwd=str(paths.project_root()),
                   engine_name=console.engine_name())
        if verbose:
            papermill.execute_notebook(str(raw), str(out), log_output=True, stdout_file=sys.stdout,
                                       stderr_file=sys.stderr, **run)
        else:
            with console.native_output_to(log) as term, \
                    console.Progress(src.stem, term, runlog.last_ok_seconds(profile, src.stem)):
                papermill.execute_notebook(str(raw), str(out), **run)
    except PapermillExecutionError as exc:
        source = "\n".join("    " + line for line in (exc.source or "").splitlines()[-15:])
        raise BookError(f"{src.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}):\n"
                        f"{source}\n  {exc.ename}: {exc.evalue}\n  (the partial notebook is {out}; the kernel's "
                        f"log is {log})") from None
    finally:
        raw.unlink(missing_ok=True)
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
        if out.exists():
            tidy(out)
    return out


def print_summary(rows: list[dict[str, str]]) -> None:
    """The build's closing table: chapter, time, outcome, executed or reused, and the detections / crops /
    embeddings the chapter computed vs read from the caches (``facekit.tally``)."""
    if not rows:
        return
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in rows[0]}
    print("  ".join(c.ljust(w) for c, w in widths.items()), flush=True)
    for r in rows:
        print("  ".join(r[c].ljust(w) for c, w in widths.items()), flush=True)


def write_toc(names: list[str]) -> Path:
    """``_toc.yml``, Jupyter Book's table of contents, written from the chapters in book order with the status page
    last (every build writes it; it is not edited by hand, so a new chapter needs nothing but its notebook and
    study module)."""
    from facekit.store import atomic_write_text

    lines = ["# Written by `facekit book` from the chapters in notebooks/, in book order; do not edit.",
             "format: jb-book", "root: book/intro", "chapters:",
             *(f"  - file: book/{n}" for n in names), "  - file: book/status"]
    return atomic_write_text(paths.project_root() / "_toc.yml", "\n".join(lines) + "\n")


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
    _drop_stale_pages(root, index.parent)
    warnings = [ln for ln in proc.stderr.splitlines() if "WARNING" in ln]
    for line in warnings[:20]:
        print("  " + line, file=sys.stderr)
    return index


@contextmanager
def chapter_usage(interval: float = 0.5) -> Iterator[dict[str, float]]:
    """Sample this process's children (the chapter's kernel and its worker pools) while the block runs, every
    ``interval`` seconds (every 0.05 s in the first two, so a short chapter is seen too): ``out["peak_mb"]``, the
    largest sum of resident memory seen, and ``out["cpu_seconds"]``, the CPU time (user + system) of every
    descendant at its last sample (a process's last ``interval`` before it exits is not seen)."""
    import psutil

    out = {"peak_mb": 0.0, "cpu_seconds": 0.0}
    cpu: dict[tuple[int, float], float] = {}  # (pid, start time) -> CPU seconds at the last sample
    stop = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        total = 0
        for child in me.children(recursive=True):
            try:
                with child.oneshot():
                    total += child.memory_info().rss
                    t = child.cpu_times()
                    cpu[(child.pid, child.create_time())] = t.user + t.system
            except psutil.Error:
                continue
        out["peak_mb"] = max(out["peak_mb"], total / 2**20)
        out["cpu_seconds"] = sum(cpu.values())

    def loop() -> None:
        while not stop.is_set():
            sample()
            stop.wait(interval if time.perf_counter() - t0 > 2 else 0.05)

    t0 = time.perf_counter()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        sample()  # the children still alive at the end, once more


def mark_failed(chapter: str, profile: str, message: str) -> Path:
    """Put an error admonition holding ``message`` at the top of the chapter's executed notebook (the partial one
    papermill left, or a page of its own), so the book shows the failure where the chapter would be."""
    import nbformat

    out = paths.book_dir() / f"{chapter}.ipynb"
    if out.exists():
        nb = nbformat.read(out, as_version=4)
    else:
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell(f"# {chapter}"))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    fence = "`" * 6  # longer than any fence inside the message
    text = (f"{fence}{{error}} This chapter failed in this build (profile `{profile}`)\n"
            f"The other chapters were built with `--keep-going`; the cells below are the partial run.\n\n"
            f"```text\n{message}\n```\n{fence}")
    first_heading = next((i for i, c in enumerate(nb.cells)
                          if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), None)
    if first_heading is None:  # a page needs a title to appear in the table of contents
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {chapter}"))
        first_heading = 0
    nb.cells.insert(first_heading + 1, nbformat.v4.new_markdown_cell(text))
    paths.book_dir().mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def _drop_stale_pages(root: Path, html: Path) -> None:
    """Remove pages of chapters no longer in ``_toc.yml`` (a renamed chapter's old page), which Sphinx leaves."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    wanted = {toc["root"], *(c["file"] for c in toc.get("chapters", []))}
    for page in html.glob("book/*.html"):
        if f"book/{page.stem}" not in wanted:
            page.unlink()


def chapter_key(src: Path, profile: str) -> str:
    """What a chapter's outputs depend on: the facekit package's code, this chapter's notebook and every earlier
    one (later chapters read earlier chapters' records), the pins, the profile, the device and engine, and which of the
    chapter's datasets and weights are on this machine (a chapter skips what is missing, so adding a file must run
    it again). Their contents are pinned by the checksums in the code."""
    import hashlib

    from facekit import engines, studies
    from facekit.runtime import device
    from facekit.studies.kit import check

    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    for f in chapters():
        if f.name <= src.name:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        f = paths.project_root() / name
        if f.exists():
            h.update(f.read_bytes())
    h.update(f"{profile}\0{device()}\0{engines.choose(None, device())}".encode())
    try:
        needs = studies.chapter(src.stem).needs(profile)
    except KeyError:  # a notebook without a study module (tests)
        needs = []
    h.update(json.dumps([(n.kind, n.name, check(n).state) for n in needs]).encode())
    return h.hexdigest()[:16]


def reusable(src: Path, profile: str, key: str) -> dict | None:
    """The logged run of this chapter to reuse instead of executing it again: the latest one, if it succeeded
    with the same ``chapter_key`` and its executed notebook is still there."""
    mine = [r for r in runlog.read(profile) if r["chapter"] == src.stem]
    last = mine[-1] if mine else None
    if last and last.get("ok") and last.get("key") == key and (paths.book_dir() / f"{src.stem}.ipynb").exists():
        return last
    return None


def fetch_missing(profile: str, names: list[str]) -> list[str]:
    """Before any chapter runs, make every dataset the chapters need present and verified: from the mirror, or,
    without one, downloaded (official URLs, or the pinned repositories a subset came from). One that cannot be
    obtained is reported and left to the chapters, which say what they skip; returns those reports."""
    from facekit import studies
    from facekit.data import sources

    wanted: dict[str, None] = {}
    for name in names:
        try:
            mod = studies.chapter(name)
        except KeyError:
            continue
        wanted.update({n.name: None for n in mod.needs(profile) if n.kind == "dataset"})
    problems = []
    for ds in wanted:
        try:
            sources.ensure(ds)
        except sources.DataError as exc:
            problems.append(f"{ds}: {exc}")
            print(f"dataset {ds} not available: {exc}", flush=True)
    return problems


def run_chapter(src: Path, profile: str, key: str, verbose: bool = False) -> dict:
    """Execute one chapter and append its entry to the run log (when, how long, outcome, peak memory, CPU time,
    the processor and the cores it was given, the detections / crops / embeddings it computed vs read); returns
    the entry."""
    from facekit.results import git_commit
    from facekit.runtime import cores, device, processor

    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    error = None
    with chapter_usage() as mem, tally.collecting() as work:
        try:
            execute(src, profile, verbose=verbose)
        except BookError as exc:
            error = str(exc)
    entry = {"chapter": src.stem, "profile": profile, "started": started,
             "seconds": round(time.perf_counter() - t0, 1), "ok": error is None, "error": error,
             "peak_mb": round(mem["peak_mb"]), "cpu_seconds": round(mem["cpu_seconds"], 1),
             "device": device(), "processor": processor(), "cpus": cores(), "git": git_commit(), "key": key,
             "work": work}
    runlog.append(profile, entry)
    return entry


def console_log(profile: str, chapter: str) -> Path:
    """Where a chapter run side by side with others writes what it would print (``results/<profile>/logs``)."""
    return chapter_log(profile, chapter).with_suffix(".console.log")


def waits(names: list[str]) -> tuple[dict[str, set[str]], set[str]]:
    """For chapters run side by side: chapter -> the earlier chapters it must wait for (``Chapter.after``), and
    the chapters that time themselves and so run with nothing beside them (``Chapter.alone``)."""
    from facekit import studies
    from facekit.studies.kit import EVERY_EARLIER

    out, alone = {}, set()
    for k, name in enumerate(names):
        try:
            declared = studies.chapter(name)
        except KeyError:  # a notebook without a study module (tests) waits for nothing
            out[name] = set()
            continue
        out[name] = set(names[:k]) if tuple(declared.after) == EVERY_EARLIER else set(declared.after)
        if declared.alone:
            alone.add(name)
    return out, alone


def run_side_by_side(todo: list[tuple[Path, str]], profile: str, jobs: int,
                     keep_going: bool = False) -> dict[str, dict]:
    """Execute the chapters ``todo`` ((source, key) in book order), up to ``jobs`` at once, each in a process of its
    own with ``cores // jobs`` cores (``runtime.share_env``), each after the chapters it waits for (``waits``),
    the longest chain first; a chapter that runs alone (it times itself, or it is the last) has every core. Returns
    each executed chapter's run-log entry. Their output goes to ``console_log``; without ``keep_going`` no chapter
    starts after one has failed."""
    from facekit import side_by_side
    from facekit.runtime import cores, share_env

    srcs = {src.stem: (src, key) for src, key in todo}
    started: dict[str, float] = {}
    entries: dict[str, dict] = {}

    def start(name: str, alone: bool) -> subprocess.Popen:
        src, key = srcs[name]
        share = cores() if alone else max(1, cores() // jobs)
        out = console_log(profile, name)
        out.parent.mkdir(parents=True, exist_ok=True)
        beside = "alone" if alone else "beside " + (", ".join(n for n in started if n not in entries) or "nothing yet")
        print(f"[{len(started) + 1}/{len(srcs)}] {src.name} (profile {profile}, {share} of {cores()} cores, "
              f"{beside}) ... output in {out}", flush=True)
        started[name] = time.perf_counter()
        with out.open("w") as f:
            return subprocess.Popen([sys.executable, "-m", "facekit.book", profile, name, key], stdout=f,
                                    stderr=subprocess.STDOUT, env={**os.environ, **share_env(share)},
                                    cwd=str(paths.project_root()))

    def ended(name: str, code: int) -> None:
        mine = [r for r in runlog.read(profile) if r["chapter"] == name and r.get("key") == srcs[name][1]]
        entry = mine[-1] if mine and code in (0, CHAPTER_FAILED) else None
        if entry is None:  # the process died before it could log (killed, out of memory)
            entry = {"chapter": name, "seconds": round(time.perf_counter() - started[name], 1), "ok": False,
                     "error": f"{srcs[name][0].name}: its process exited with code {code} before logging its run; "
                              f"its output is in {console_log(profile, name)}", "work": {}}
        entries[name] = entry
        word = "ok" if entry["ok"] else "FAILED"
        print(f"[{len(entries)}/{len(srcs)}] {srcs[name][0].name} {word} in {console.clock(entry['seconds'])}",
              flush=True)

    names = [src.stem for src, _ in todo]
    expected = {n: runlog.last_ok_seconds(profile, n) or 0.0 for n in names}
    after, alone = waits(names)
    side_by_side.run(names, after, jobs, start, expected, alone, stop_on_failure=not keep_going, ended=ended)
    return entries


def build(profile: str, only: list[str] | None = None, html: bool = True, keep_going: bool = False,
          archive: bool = False, rerun: bool = False, verbose: bool = False, jobs: int = 1) -> Path | None:
    """Execute every chapter (or those named in ``only``) with ``profile``, write the status page and build the
    HTML book, then check it. A chapter whose code, notebooks, pins, profile and device are unchanged since its
    last successful run is reused, not executed (``rerun`` or naming it in ``only`` executes it anyway).
    ``keep_going``: a failing chapter is rendered with its error and the others still build; BookError at the
    end names every failure. ``archive``: also zip the HTML, results and status page. ``verbose``: stream the
    cells' output instead of showing progress. ``jobs`` > 1: chapters run side by side (``run_side_by_side``).
    Ends with a table: chapter, time, outcome, executed or reused."""
    from facekit import engines
    from facekit.runtime import cores, device, workers
    from facekit.studies import migrate_renamed

    check_profile(profile)  # fail fast on a typo
    engines.choose(None, device())  # and on a wrong FACEKIT_ENGINE, before any data is fetched
    cores(), workers("cpu")  # and on a FACEKIT_CORES or FACEKIT_WORKERS that is not a number
    if jobs < 1 or (jobs > 1 and verbose):
        raise BookError("--jobs takes a number from 1 up" if jobs < 1 else
                        "--verbose streams one chapter's cells to the console: drop --jobs, or follow each "
                        "chapter's output in results/<profile>/logs/")
    todo = [c for c in chapters() if not only or c.stem in only or c.name in only]
    if only and len(todo) != len(set(only)):
        known = ", ".join(c.stem for c in chapters())
        raise BookError(f"unknown chapter in {only}; known: {known}")
    for moved in migrate_renamed():
        print(f"renamed chapter: old results and checkpoints now under {moved}", flush=True)
    fetch_missing(profile, [c.stem for c in todo])
    rows: dict[str, dict[str, str]] = {}
    reused: dict[str, dict] = {}
    to_run: list[tuple[Path, str]] = []
    for k, src in enumerate(todo, 1):
        key = chapter_key(src, profile)
        prior = None if (rerun or only) else reusable(src, profile, key)
        if prior is None:
            to_run.append((src, key))
            continue
        reused[src.stem] = prior
        rows[src.stem] = {"chapter": src.stem, "time": console.clock(prior["seconds"]), "outcome": "ok",
                          "this build": f"reused (run of {prior['started']})", "computed/read": "-"}
        print(f"[{k}/{len(todo)}] {src.name} unchanged since its run of {prior['started']} "
              f"({prior['seconds']:.0f} s): reused (--rerun executes it)", flush=True)

    def row(entry: dict, how: str) -> dict[str, str]:
        return {"chapter": entry["chapter"], "time": console.clock(entry["seconds"]),
                "outcome": "ok" if entry["ok"] else "FAILED", "this build": how,
                "computed/read": tally.describe(entry["work"]) if entry.get("work") else "-"}

    def summary() -> None:
        print_summary([rows[c.stem] for c in todo if c.stem in rows])

    failed: dict[str, str] = {}
    if jobs > 1 and len(to_run) > 1:
        t0 = time.perf_counter()
        entries = run_side_by_side(to_run, profile, jobs, keep_going)
        wall = time.perf_counter() - t0
        for name, entry in entries.items():  # a chapter that had every core ran with nothing beside it
            rows[name] = row(entry, "executed alone" if entry.get("cpus") == cores() else
                             f"executed, {jobs} side by side")
            if not entry["ok"]:
                failed[name] = entry["error"]
        cpu = sum(e.get("cpu_seconds") or 0.0 for e in entries.values())
        print(f"{len(entries)} chapters side by side in {console.clock(wall)} (their times add up to "
              f"{console.clock(sum(e['seconds'] for e in entries.values()))}); core utilisation "
              f"{cpu / wall / cores():.0%} of {cores()} cores", flush=True)
        if failed and not keep_going:
            summary()
            raise BookError("\n".join(failed.values()))
    else:
        for src, key in to_run:
            k = todo.index(src) + 1
            print(f"[{k}/{len(todo)}] {src.name} (profile {profile}) ...", flush=True)
            entry = run_chapter(src, profile, key, verbose=verbose)
            rows[src.stem] = row(entry, "executed")
            if entry["ok"]:
                print(f"[{k}/{len(todo)}] {src.name} ok in {console.clock(entry['seconds'])}", flush=True)
                continue
            if not keep_going:
                summary()
                raise BookError(entry["error"])
            failed[src.stem] = entry["error"]
            print(f"[{k}/{len(todo)}] {src.name} FAILED in {console.clock(entry['seconds'])} (--keep-going: "
                  "rendered with its error)", flush=True)
    for name, error in failed.items():
        mark_failed(name, profile, error)
    summary()
    index = None
    if html:
        from facekit.status_page import write_status_page

        write_status_page(profile, [c.stem for c in chapters()], reused=set(reused))
        write_toc([c.stem for c in chapters()])
        t0 = time.perf_counter()
        index = build_html()
        print(f"book built in {time.perf_counter() - t0:.1f} s: {index}", flush=True)
        from facekit.htmlcheck import check_html, screenshots

        problems = check_html(index.parent, allow_tracebacks=set(failed))
        shots = screenshots(index.parent)
        problems += shots.problems
        print(f"HTML check: {shots.summary}", flush=True)
        if problems:
            raise BookError("the built HTML has problems:\n" + "\n".join(f"  {p}" for p in problems))
        if archive:
            print(f"archive: {write_archive(profile)}", flush=True)
    if failed:
        raise BookError(f"{len(failed)} chapter(s) failed (rendered with their error): " + ", ".join(failed)
                        + "\n" + "\n".join(failed.values()))
    return index


def write_archive(profile: str) -> Path:
    """``book/facekit-book-<profile>-<commit>.zip``: the HTML, the results records and tables and the status page,
    ready to host anywhere."""
    from facekit.results import git_commit

    html = paths.book_dir() / "_build" / "html"
    if not (html / "index.html").exists():
        raise BookError(f"no built book at {html}: run `facekit book` first")
    commit = git_commit().replace("+dirty", "-dirty")[:18]
    out = paths.book_dir() / f"facekit-book-{profile}-{commit}.zip"
    res = paths.results_dir() / profile
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(html.rglob("*")):
            if f.is_file():
                z.write(f, Path("html") / f.relative_to(html))
        for f in sorted(res.rglob("*")) if res.is_dir() else ():
            if f.is_file() and f.suffix in (".json", ".csv", ".jsonl"):
                z.write(f, Path("results") / profile / f.relative_to(res))
        status = paths.book_dir() / "status.md"
        if status.exists():
            z.write(status, "status.md")
    tmp.replace(out)
    return out


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
        mod = studies.chapter(src.stem)
        for need in mod.needs(profile):
            st = check_need(need)
            rows.append({"chapter": src.stem, "kind": need.kind, "name": need.name, "state": st.state,
                         "detail": st.detail})
    return rows


def publish(remote: str = "origin", branch: str = "gh-pages") -> str:
    """Push the built HTML book to ``branch`` of ``remote`` with ghp-import (the Jupyter Book way: a ``.nojekyll``
    file so GitHub Pages serves Sphinx's ``_static`` folder); one commit per publication, named after the project's
    commit. Returns ghp-import's output; BookError when there is no built book or the push fails."""
    from facekit.results import git_commit

    html = paths.book_dir() / "_build" / "html"
    if not (html / "index.html").exists():
        raise BookError(f"no built book at {html}: run `make book` (or `facekit book`) first")
    exe = Path(sys.executable).with_name("ghp-import")
    cmd = [str(exe) if exe.exists() else "ghp-import", "--no-jekyll", "--push", "--remote", remote, "--branch",
           branch, "--message", f"facekit book of {git_commit()}", str(html)]
    proc = subprocess.run(cmd, cwd=paths.project_root(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BookError(f"publishing to {remote} {branch} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return (proc.stdout + proc.stderr).strip()


def _run_one(argv: list[str]) -> int:
    """``python -m facekit.book PROFILE CHAPTER KEY``: one chapter, in a process of its own (``run_side_by_side``
    starts these); exit 0 when it ran through, ``CHAPTER_FAILED`` when it failed and logged its error (any other
    code: the process died before it could log)."""
    profile, name, key = argv
    src = next(c for c in chapters() if c.stem == name)
    return 0 if run_chapter(src, profile, key)["ok"] else CHAPTER_FAILED


if __name__ == "__main__":
    sys.exit(_run_one(sys.argv[1:]))
