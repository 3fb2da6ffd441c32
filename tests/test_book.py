"""The papermill step: parameters reach the notebook, and a failing cell stops the build with its source."""

from __future__ import annotations

import json
import os

import pytest

from facekit import book

NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "cpu"

# %%
print("running with", profile)

# %%
if profile == "smoke":
    raise RuntimeError("deliberate failure for " + profile)
'''


@pytest.fixture()
def project(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_demo.py").write_text(NOTEBOOK)
    monkeypatch.setenv("FACEKIT_ROOT", str(tmp_path))
    return tmp_path


def test_execute_injects_profile(project):
    out = book.execute(project / "notebooks" / "00_demo.py", "cpu")
    nb = json.loads(out.read_text())
    texts = [o.get("text", "") for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("running with cpu" in "".join(t) for t in texts)
    assert not list((project / "book").glob(".*.input.ipynb"))


def test_failing_cell_is_shown(project):
    with pytest.raises(book.BookError) as exc:
        book.build("smoke", html=False)
    msg = str(exc.value)
    assert "00_demo.py failed in cell" in msg and "RuntimeError: deliberate failure for smoke" in msg
    assert 'raise RuntimeError("deliberate failure for " + profile)' in msg


def test_unknown_profile_and_chapter(project):
    with pytest.raises(ValueError, match="unknown profile"):
        book.build("fast")
    with pytest.raises(book.BookError, match="unknown chapter"):
        book.build("cpu", only=["99_nope"], html=False)


def test_full_profile_check_lists_needs_without_running(isolated, tmp_path, monkeypatch, capsys):
    """`facekit book --profile full --check` names every dataset and weights file per chapter and exits 1 when
    one is missing; it loads every chapter's full-profile parameters and runs nothing."""
    from facekit import cli

    monkeypatch.setenv("FACEKIT_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("FACEKIT_WEIGHTS", str(tmp_path / "empty-weights"))
    assert cli.main(["book", "--profile", "full", "--check"]) == 1
    out = capsys.readouterr().out
    for chapter in ("00_data", "01_detection", "02_cosine_heads", "03_metric_learning"):
        assert f"{chapter} (profile full)" in out
    assert "dataset  casia_webface" in out and "weights  vgg-m-face-bn" in out
    assert "weights  dlib-resnet                      verified" in out  # shipped in a pip package
    assert "facekit data fetch lfw" in out  # how to get what is missing
    assert not list((isolated / "results").glob("**/*.json"))  # nothing ran


OK_NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A chapter that works
# See [the other chapter](00_demo.ipynb).

# %% tags=["parameters"]
profile = "cpu"

# %%
print("fine with", profile)

# %%
from facekit import tally
tally.record("embeddings", 3, 40)  # what a cached pass in a chapter's kernel reports
'''


def _book_project(root):
    (root / "notebooks" / "01_ok.py").write_text(OK_NOTEBOOK)
    (root / "book").mkdir(exist_ok=True)
    (root / "book" / "intro.md").write_text("# Demo book\n\n```{tableofcontents}\n```\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/00_demo\n"
                                   "  - file: book/01_ok\n  - file: book/status\n")
    (root / "_config.yml").write_text('title: demo\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n'
                                      'exclude_patterns: ["notebooks", "book/_build", "book/.*.ipynb"]\n')


def test_keep_going_renders_the_failure_and_builds_the_rest(project):
    """A chapter that raises: without --keep-going the build stops there; with it the next chapter still runs,
    the failed one carries an error admonition, the book and its status page are built, the archive holds the HTML
    and the results, and the build still fails at the end naming the chapter."""
    _book_project(project)
    with pytest.raises(book.BookError, match="00_demo.py failed"):
        book.build("smoke", html=False)
    assert not (project / "book" / "01_ok.ipynb").exists()  # stopped at the first failure

    with pytest.raises(book.BookError) as exc:
        book.build("smoke", keep_going=True, archive=True)
    assert "1 chapter(s) failed" in str(exc.value) and "00_demo" in str(exc.value)
    assert (project / "book" / "01_ok.ipynb").exists()
    failed = json.loads((project / "book" / "00_demo.ipynb").read_text())
    admonition = [c for c in failed["cells"] if c["cell_type"] == "markdown" and "{error}" in "".join(c["source"])]
    assert admonition and "RuntimeError: deliberate failure for smoke" in "".join(admonition[0]["source"])
    html = project / "book" / "_build" / "html"
    page = (html / "book" / "00_demo.html").read_text()
    assert "This chapter failed in this build" in page and "deliberate failure for smoke" in page
    assert "fine with smoke" in (html / "book" / "01_ok.html").read_text()

    runs = [json.loads(line) for line in (project / "results" / "smoke" / "book-runs.jsonl").read_text().splitlines()]
    assert [(r["chapter"], r["ok"]) for r in runs] == [("00_demo", False), ("00_demo", False), ("01_ok", True)]
    assert all(r["seconds"] > 0 and r["peak_mb"] > 10 for r in runs)  # a kernel was running and was sampled
    assert all(r["cpu_seconds"] > 0 for r in runs)  # and its CPU time (a kernel start costs CPU)
    from facekit.runtime import processor

    assert all(r["processor"] == processor() for r in runs)  # and the CPU it ran on
    assert "core utilisation" in (project / "book" / "status.md").read_text()
    # the kernel's own counts reach the run log and the status page
    assert runs[-1]["work"]["embeddings"] == {"computed": 3, "read": 40}
    assert "embeddings 3/40" in (project / "book" / "status.md").read_text()
    status = (project / "book" / "status.md").read_text()
    assert "| 00_demo |" in status and "FAILED" in status and "| 01_ok |" in status and "latest run (UTC)" in status
    assert "Build status" in (html / "book" / "status.html").read_text()

    archive = next((project / "book").glob("facekit-book-smoke-*.zip"))
    import zipfile

    names = zipfile.ZipFile(archive).namelist()
    assert "html/index.html" in names and "status.md" in names and "results/smoke/book-runs.jsonl" in names


def test_migrate_renamed_moves_results_and_checkpoints(isolated):
    """Records and checkpoints written under a chapter's old name move to its new name (the record's study field
    too); a folder already under the new name is left as it is."""
    from facekit import results, studies

    old, new = "02_metric_learning", studies.renamed()["02_metric_learning"]
    results.write_result(old, "r1", profile="cpu", dataset="lfw", protocol="p", model=None, metrics={"a": 1})
    ckpt = isolated / "cache" / "checkpoints" / "cpu" / old / "m-123"
    ckpt.mkdir(parents=True)
    (ckpt / "last.ckpt").write_text("x")
    results.write_result(new, "r2", profile="smoke", dataset="lfw", protocol="p", model=None, metrics={"a": 2})
    results.write_result(old, "r3", profile="smoke", dataset="lfw", protocol="p", model=None, metrics={"a": 3})

    moved = studies.migrate_renamed()
    assert results.read_result("cpu", new, "r1")["study"] == new
    assert (isolated / "cache" / "checkpoints" / "cpu" / new / "m-123" / "last.ckpt").exists()
    assert not (isolated / "results" / "cpu" / old).exists()
    # smoke already had the new folder: nothing is merged over it, the old one stays readable where it was
    assert (isolated / "results" / "smoke" / old / "r3.json").exists()
    assert len(moved) == 2 and studies.migrate_renamed() == []


def test_executed_notebook_is_tidied(project):
    """Native-library log lines leave the executed notebook, a real warning stays, the parameter cells fold."""
    (project / "notebooks" / "00_demo.py").write_text(OK_NOTEBOOK + '''
# %%
import sys
print("W0000 00:00:1795668963.241776   16273 inference_feedback_manager.cc:114] Feedback manager", file=sys.stderr)
print("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", file=sys.stderr)
print("a real warning", file=sys.stderr)
''')
    nb = json.loads(book.execute(project / "notebooks" / "00_demo.py", "cpu").read_text())
    stderr = "".join("".join(o["text"]) for c in nb["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert stderr.strip() == "a real warning"
    params = [c for c in nb["cells"] if {"parameters", "injected-parameters"} & set(c["metadata"].get("tags", []))]
    assert len(params) == 2 and all("hide-input" in c["metadata"]["tags"] for c in params)


def test_unchanged_chapter_is_reused_changed_one_executes(project, capsys):
    """A second build reuses a chapter whose notebooks, code, pins, profile and device did not change; an edit to
    it (or to an earlier chapter) executes it again, as do --rerun and --only."""
    (project / "notebooks" / "00_demo.py").write_text(OK_NOTEBOOK)
    (project / "notebooks" / "01_ok.py").write_text(OK_NOTEBOOK)
    log = project / "results" / "smoke" / "book-runs.jsonl"

    def runs():
        return [json.loads(line)["chapter"] for line in log.read_text().splitlines()]

    book.build("smoke", html=False)
    assert runs() == ["00_demo", "01_ok"]
    book.build("smoke", html=False)
    assert runs() == ["00_demo", "01_ok"] and "unchanged since its run" in capsys.readouterr().out
    (project / "notebooks" / "01_ok.py").write_text(OK_NOTEBOOK + "\n# %%\nprint('edited')\n")
    book.build("smoke", html=False)
    assert runs() == ["00_demo", "01_ok", "01_ok"]
    (project / "notebooks" / "00_demo.py").write_text(OK_NOTEBOOK + "\n# %%\nprint('edited')\n")
    book.build("smoke", html=False)  # an earlier chapter changed: both run (later chapters read its records)
    assert runs()[3:] == ["00_demo", "01_ok"]
    book.build("smoke", html=False, rerun=True)
    book.build("smoke", html=False, only=["01_ok"])
    assert runs()[5:] == ["00_demo", "01_ok", "01_ok"]
    (project / "book" / "01_ok.ipynb").unlink()  # the executed notebook is gone: nothing to reuse
    book.build("smoke", html=False)
    assert runs()[-1] == "01_ok" and len(runs()) == 9


def test_chapter_key_follows_what_is_on_the_machine(isolated, monkeypatch, tmp_path):
    """A weights file appearing (or a dataset going missing) changes the chapter's key, so a build runs it again
    instead of reusing a run that skipped it."""
    from facekit.studies import detection

    src = book.paths.notebooks_dir() / "01_detection.py"
    monkeypatch.setenv("FACEKIT_WEIGHTS", str(tmp_path / "no-weights"))
    without = book.chapter_key(src, "cpu")
    assert book.chapter_key(src, "cpu") == without  # stable
    assert any(n.kind == "weights" for n in detection.CHAPTER.needs("cpu"))
    shared = book.paths.project_root().parent / "shared" / "weights"
    if not shared.is_dir():
        pytest.skip("no shared weights to make appear")
    monkeypatch.setenv("FACEKIT_WEIGHTS", str(shared))
    assert book.chapter_key(src, "cpu") != without


def test_the_console_shows_cell_progress_and_no_native_log_lines(project):
    """A chapter run from the command line: the console names the cell being executed and ends with the summary
    table; a native library's log line (written to the kernel's file descriptor 2, as glog does) lands in the
    chapter's log file, not on the console."""
    import os
    import subprocess
    import sys

    glog = "W0000 00:00:1795668963.241776   16273 inference_feedback_manager.cc:114] Feedback manager"
    (project / "notebooks" / "00_demo.py").write_text(OK_NOTEBOOK + f'''
# %%
import os
os.write(2, b"{glog}\\n")
''')
    env = {**os.environ, "FACEKIT_ROOT": str(project), "FACEKIT_RESULTS": str(project / "results")}
    proc = subprocess.run([sys.executable, "-m", "facekit.cli", "book", "--profile", "smoke", "--no-html"],
                          capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "  00_demo: cell 1/" in proc.stdout and "[1/1] 00_demo.py ok in" in proc.stdout
    summary = proc.stdout[proc.stdout.index("chapter  time"):]
    assert "00_demo" in summary and "executed" in summary
    assert "inference_feedback_manager" not in proc.stdout + proc.stderr
    assert "Kernel is running over TCP" not in proc.stdout + proc.stderr
    assert glog in (project / "results" / "smoke" / "logs" / "00_demo.log").read_text()


def test_chapter_usage_counts_the_cpu_time_of_a_worker_process_and_utilisation_divides_by_cores():
    import subprocess
    import sys

    from facekit import book, runlog

    with book.chapter_usage(interval=0.05) as usage:  # a child that burns about one CPU second
        subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                        "while time.process_time() - t < 1.0: pass\ntime.sleep(0.3)"], check=True)
    assert 0.7 < usage["cpu_seconds"] < 1.6 and usage["peak_mb"] > 1
    entries = [{"seconds": 10.0, "cpu_seconds": 15.0, "cpus": 2}, {"seconds": 10.0, "cpu_seconds": 5.0, "cpus": 2},
               {"seconds": 5.0, "cpus": 2}]  # the last one logged before CPU time was sampled: left out
    assert runlog.utilisation(entries) == pytest.approx(0.5) and runlog.utilisation(entries[2:]) is None


CORES_NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "cpu"

# %%
import os
from facekit import runtime
print("cores", runtime.cores(), "omp", os.environ.get("OMP_NUM_THREADS"))
'''


def test_chapters_side_by_side_each_get_a_share_of_the_cores(project):
    """``jobs=2``: both chapters run, each in its own process with half the cores (its pools, ONNX Runtime and
    torch threads), logged with that share; a failure with keep_going is rendered and named at the end."""
    import os

    (project / "notebooks" / "01_cores.py").write_text(CORES_NOTEBOOK)
    share = max(1, (os.cpu_count() or 1) // 2)
    book.build("cpu", html=False, jobs=2)
    runs = [json.loads(line) for line in (project / "results" / "cpu" / "book-runs.jsonl").read_text().splitlines()]
    assert sorted(r["chapter"] for r in runs) == ["00_demo", "01_cores"]
    assert all(r["ok"] and r["cpus"] == share and r["cpu_seconds"] > 0 for r in runs)
    nb = (project / "book" / "01_cores.ipynb").read_text()
    assert f"cores {share} omp {share}" in nb
    assert (project / "results" / "cpu" / "logs" / "01_cores.console.log").exists()

    with pytest.raises(book.BookError, match="1 chapter\\(s\\) failed"):
        book.build("smoke", html=False, jobs=2, keep_going=True)
    failed = (project / "book" / "00_demo.ipynb").read_text()
    assert "This chapter failed in this build" in failed and "deliberate failure for smoke" in failed
    with pytest.raises(book.BookError, match="--verbose"):
        book.build("cpu", html=False, jobs=2, verbose=True)


@pytest.mark.parametrize("var", ["FACEKIT_CORES", "FACEKIT_WORKERS"])
def test_a_core_count_that_is_not_a_number_is_one_line_naming_the_variable(monkeypatch, capsys, var):
    """``FACEKIT_CORES=two`` stops the build with one line naming the variable and the fix, exit 2 (it was a
    ValueError from ``int``); a number below 1 counts as 1; unset, every core."""
    from facekit import cli, runtime

    monkeypatch.delenv("FACEKIT_CORES", raising=False)
    monkeypatch.delenv("FACEKIT_WORKERS", raising=False)
    assert runtime.cores() == max(1, os.cpu_count() or 1)
    monkeypatch.setenv(var, "0")
    assert (runtime.cores() if var == "FACEKIT_CORES" else runtime.workers("cpu")) == 1
    monkeypatch.setenv(var, "two")
    with pytest.raises(runtime.SettingError, match=f"{var}='two' is not a whole number"):
        runtime.cores() if var == "FACEKIT_CORES" else runtime.workers("cpu")
    fetched = []
    monkeypatch.setattr(book, "fetch_missing", lambda *a: fetched.append(a))
    assert cli.main(["book", "--profile", "smoke", "--only", book.chapters()[0].stem, "--no-html"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {var}='two' is not a whole number: set it to a count such as 2, or unset it to use every core"]
    assert not fetched  # refused before any data is copied


def test_runs_name_their_processor_and_the_status_page_says_when_minutes_come_from_different_machines(
        project, tmp_path):
    """A minute measured on one 2-core machine is not one on another (this project's two kinds train about 1.6x
    apart): the run log and the status page name the CPU, and a sum over runs from two kinds says so."""
    from facekit import runlog, runtime, status_page

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert runtime.processor(str(cpuinfo)) == "AMD EPYC 7B13"
    assert runtime.processor(str(tmp_path / "absent")) not in ("", None)  # platform's answer, never empty

    def entry(chapter: str, cpu: str) -> dict:
        return {"chapter": chapter, "profile": "smoke", "started": "2026-12-07T21:00:00+00:00", "seconds": 60.0,
                "ok": True, "error": None, "peak_mb": 100, "cpu_seconds": 100.0, "device": "cpu",
                "processor": cpu, "cpus": 2, "git": "abc", "key": "k", "work": {}}

    runlog.append("smoke", entry("00_demo", "AMD EPYC 7B13"))
    page = status_page.write_status_page("smoke", ["00_demo"], out=tmp_path / "one.md").read_text()
    assert "| AMD EPYC 7B13 |" in page and "over them, on AMD EPYC 7B13." in page
    runlog.append("smoke", entry("01_other", "Intel Xeon"))
    page = status_page.write_status_page("smoke", ["00_demo", "01_other"], out=tmp_path / "two.md").read_text()
    assert "on 2 kinds of processor (AMD EPYC 7B13; Intel Xeon)" in page and "do not add up" in page
