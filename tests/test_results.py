"""Results records: schema, manifest, validation, and round trip through the table."""

from __future__ import annotations

import json
import math
import sys

import pytest

from facekit import results


def test_write_and_read_round_trip(isolated):
    from facekit.studies.kit import Study

    # a study's record: the manifest gets the dataset's annotation checksums (results itself knows no dataset)
    path = Study("03_metric_learning", "cpu", seed=3).write(
        "dlib-resnet_lfw-view2", dataset="lfw", protocol="view2-10fold",
        model="dlib-resnet", metrics={"accuracy": 0.99, "accuracy_std": 0.004, "n_pairs": 6000},
        timings={"seconds_per_image": 0.07}, reported={"source": "dlib docs", "accuracy": 0.9938})
    assert path == isolated / "results" / "cpu" / "03_metric_learning" / "dlib-resnet_lfw-view2.json"
    rec = json.loads(path.read_text())
    assert rec["metrics"] == {"accuracy": 0.99, "accuracy_std": 0.004, "n_pairs": 6000}
    assert rec["substitute_for"] is None and rec["reported"]["source"] == "dlib docs"
    m = rec["manifest"]
    assert m["profile"] == "cpu" and m["seed"] == 3 and m["versions"]["numpy"]
    assert m["data_sha256"]["lfw/pairs.txt"].startswith("ea42330c")
    assert m["git"]
    assert results.read_result("cpu", "03_metric_learning", "dlib-resnet_lfw-view2") == rec
    assert results.read_results("smoke") == []
    t = results.table(results.read_results("cpu"))
    assert t.loc[0, "accuracy"] == 0.99 and t.loc[0, "reported.accuracy"] == 0.9938
    assert t.loc[0, "time.seconds_per_image"] == 0.07


@pytest.mark.parametrize("metrics, match", [
    ({"Accuracy": 0.9}, "lower_snake_case"),
    ({"tpr at far": 0.9}, "lower_snake_case"),
    ({"accuracy": math.nan}, "non-finite"),
])
def test_bad_metrics_rejected(isolated, metrics, match):
    with pytest.raises(ValueError, match=match):
        results.write_result("s", "n", profile="cpu", dataset="lfw", protocol="p", model="m", metrics=metrics)


def test_reported_needs_source_and_names_are_checked(isolated):
    with pytest.raises(ValueError, match="source"):
        results.write_result("s", "n", profile="cpu", dataset="lfw", protocol="p", model="m",
                             metrics={"a": 1.0}, reported={"accuracy": 0.95})
    with pytest.raises(ValueError, match="name"):
        results.write_result("s", "Bad Name", profile="cpu", dataset="lfw", protocol="p", model="m", metrics={})


def test_missing_result_names_the_notebook(isolated):
    with pytest.raises(FileNotFoundError, match="notebooks/03_retrieval.py"):
        results.read_result("cpu", "03_retrieval", "x")


def test_facekit_results_groups_a_study_by_kind_of_record(isolated, capsys, monkeypatch):
    """A detection-like study with landmark, timing and reliability records prints three tables, each with only
    its own columns and wrapped to the terminal's width; --json gives the records themselves."""
    from facekit.cli import main

    def put(name: str, **metrics) -> None:
        results.write_result("01_detection", name, profile="cpu", dataset="lfw", protocol="p", model=name.split("_")[0],
                             metrics=metrics)

    for det in ("mtcnn", "retinaface", "dlib-hog"):
        put(f"{det}_300w", faces=180, recall=0.9, nme5_mean=0.05, auc_0_1=0.4)
        put(f"{det}_lfw_timing", images=60, single_median=0.03, single_mean=0.04, batched_mean=0.03)
        put(f"{det}_lfw_reliability", images=500, accepted=470, accepted_share=0.94,
            **({"rejected_no_face": 3} if det == "mtcnn" else {"rejected_head_turned": 20}))
    tables = results.study_tables(results.read_results("cpu"))
    assert [k[2] for k in tables] == ["300w", "lfw_reliability", "lfw_timing"]
    for df in tables.values():
        assert len(df) == 3 and not df.isna().all().any()
    assert "recall" not in tables[("cpu", "01_detection", "lfw_timing")]

    monkeypatch.setenv("COLUMNS", "60")
    assert main(["results", "--profile", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("== 01_detection, ") == 3
    assert max(len(line) for line in out.splitlines()) <= 62  # pandas wraps the columns to the terminal
    assert main(["results", "--profile", "cpu", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 9


def test_compare_results_prints_every_changed_metric(tmp_path, monkeypatch, capsys):
    """The refactoring check: two results folders, one metric changed, one record missing, a timing changed
    and a latency metric changed (not results): two differences are found and neither timing is one of them."""
    import importlib.util

    from facekit.paths import project_root

    spec = importlib.util.spec_from_file_location("compare_results",
                                                  project_root() / "benchmarks" / "compare_results.py")
    cmp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cmp)
    for side, acc, secs in (("old", 0.9912, 1.0), ("new", 0.9913, 2.0)):
        monkeypatch.setenv("FACEKIT_RESULTS", str(tmp_path / side))
        results.write_result("03_metric_learning", "a", profile="cpu", dataset="lfw", protocol="p", model="m",
                             metrics={"accuracy": acc, "pairs": 6000, "flat_100000_ms": secs},
                             timings={"seconds": secs})
        if side == "old":
            results.write_result("03_metric_learning", "b", profile="cpu", dataset="lfw", protocol="p", model="m",
                                 metrics={"accuracy": 0.5})
    lines = cmp.compare(tmp_path / "old", tmp_path / "new", "cpu")
    assert lines == [f"only in {tmp_path / 'old'}: 03_metric_learning/b",
                     "03_metric_learning/a: accuracy 0.9912 -> 0.9913"]
    assert cmp.compare(tmp_path / "old", tmp_path / "new", "cpu", rel=1e-3)[1:] == []
    assert cmp.compare(tmp_path / "old", tmp_path / "new", "cpu", only=("03_*/a",)) == lines[1:]
    assert cmp.compare(tmp_path / "old", tmp_path / "new", "cpu", only=("*/b", "04_*/*")) == lines[:1]
    # bad input: one line naming the file and exit 2, never a traceback, never "equal"
    (tmp_path / "new" / "cpu" / "03_metric_learning" / "c.json").write_text('{"study": "03_metric_learning", "na')
    monkeypatch.setattr(sys, "argv", ["compare_results.py", str(tmp_path / "old"), str(tmp_path / "new")])
    assert cmp.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "c.json: not a results record" in err
    monkeypatch.setattr(sys, "argv", ["compare_results.py", str(tmp_path / "old"), str(tmp_path / "new"),
                                      "--profile", "full"])
    assert cmp.main() == 2 and "no such results folder" in capsys.readouterr().err


def test_compare_results_tables_cell_for_cell(tmp_path, monkeypatch, capsys):
    """The tables' check: each side names images under its own checkout and took its own time, and is still equal;
    a changed cell, a lost row or a table on one side only is a difference; an unreadable table is exit 2."""
    import importlib.util

    from facekit.paths import project_root

    spec = importlib.util.spec_from_file_location("compare_results",
                                                  project_root() / "benchmarks" / "compare_results.py")
    cmp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cmp)
    roots = {side: tmp_path / side / "results" for side in ("old", "new")}
    for side, root in roots.items():
        folder = root / "cpu" / "01_detection"
        folder.mkdir(parents=True)
        speed = 7 if side == "old" else 9
        rows = [f"{tmp_path / side / 'data' / f'{i}.jpg'},{0.9 + i / 100},{i * speed},{speed / 3},{i + speed}"
                for i in range(3)]
        (folder / "dlib_lfw_extraction.csv").write_text("path,score,seconds,build s,note\n" + "\n".join(rows) + "\n")
    assert cmp.compare_tables(roots["old"], roots["new"], "cpu", ignore=("note",)) == []
    assert cmp.compare_tables(roots["old"], roots["new"], "cpu")[0].startswith(
        "01_detection/dlib_lfw_extraction.csv: 3 cell(s) differ, first row 0 column note")
    table = roots["new"] / "cpu" / "01_detection" / "dlib_lfw_extraction.csv"
    table.write_text(table.read_text().replace("0.92", "0.93"))
    assert cmp.compare_tables(roots["old"], roots["new"], "cpu", ignore=("note",)) == [
        "01_detection/dlib_lfw_extraction.csv: 1 cell(s) differ, first row 2 column score: '0.92' -> '0.93'"]
    table.write_text("\n".join(table.read_text().splitlines()[:-1]) + "\n")
    (roots["old"] / "cpu" / "01_detection" / "mtcnn_lfw_extraction.csv").write_text("path\nx\n")
    assert cmp.compare_tables(roots["old"], roots["new"], "cpu", ignore=("note",)) == [
        f"only in {roots['old']}: 01_detection/mtcnn_lfw_extraction.csv",
        "01_detection/dlib_lfw_extraction.csv: 3 rows -> 2"]
    assert cmp.compare_tables(roots["old"], roots["new"], "cpu", only=("*/dlib_*",)) == [
        "01_detection/dlib_lfw_extraction.csv: 3 rows -> 2"]
    table.write_text("")
    monkeypatch.setattr(sys, "argv", ["compare_results.py", str(roots["old"]), str(roots["new"]), "--tables"])
    assert cmp.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dlib_lfw_extraction.csv: not a readable CSV table" in err


def test_results_at_commits_builds_each_commit_in_its_own_clone(tmp_path, monkeypatch, capsys):
    """The two-commit check plans one clone per commit with its own root, caches and results (never the caller's)
    and the engine pinned on both sides; a commit git does not know is one line and exit 2, nothing built."""
    import importlib.util

    from facekit.paths import project_root

    spec = importlib.util.spec_from_file_location("results_at_commits",
                                                  project_root() / "benchmarks" / "results_at_commits.py")
    rac = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rac)
    monkeypatch.setenv("FACEKIT_RESULTS", str(tmp_path / "mine"))
    env = rac.environment(tmp_path / "abc", "torch")
    assert (env["FACEKIT_ROOT"], env["PYTHONPATH"], env["FACEKIT_ENGINE"]) == (str(tmp_path / "abc"),) * 2 + ("torch",)
    assert "FACEKIT_RESULTS" not in env and env["YOLO_CONFIG_DIR"].startswith(str(tmp_path / "abc"))
    assert rac.main(["HEAD", "HEAD", "--chapters", "06_arcface_resnet", "--workdir", str(tmp_path), "--dry-run"]) == 0
    head = rac.resolve("HEAD")
    assert capsys.readouterr().out.count(f"{head[:10]}: ") == 2
    assert rac.main(["no-such-commit", "HEAD", "--chapters", "06_arcface_resnet", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'no-such-commit' is not a commit" in err
    assert not list(tmp_path.glob("*/"))  # nothing cloned
    # only the built chapters are compared unless records are named: a kept clone holds other chapters' too
    assert rac.compared((), ["04_retrieval", "05_gender_keypoints"]) == ("04_retrieval/*", "05_gender_keypoints/*")
    assert rac.compared(["04_retrieval/grid*"], ["04_retrieval"]) == ("04_retrieval/grid*",)


def test_results_at_commits_fetches_a_commit_its_clone_predates(tmp_path, monkeypatch):
    """A clone kept from an earlier comparison resumes on its caches even when the commit came after it: the clone
    fetches it from the checkout (it stopped with 'remove that folder')."""
    import importlib.util
    import subprocess

    from facekit.paths import project_root

    spec = importlib.util.spec_from_file_location("results_at_commits",
                                                  project_root() / "benchmarks" / "results_at_commits.py")
    rac = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rac)
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".venv").mkdir()
    (repo / ".gitignore").write_text(".venv\n")

    def commit(text: str) -> str:
        (repo / "f.txt").write_text(text)
        subprocess.run([*git, "add", "f.txt"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", text], check=True)
        return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    real_run = subprocess.run
    books = []

    def run(cmd, *args, **kwargs):  # git for real, the book recorded
        if cmd[0].endswith("facekit"):
            books.append(kwargs["cwd"])
            return subprocess.CompletedProcess(cmd, 0)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(rac, "ROOT", repo)
    monkeypatch.setattr(rac.subprocess, "run", run)
    first = commit("one")
    clone = rac.build(first, tmp_path / "work", ["06_arcface_resnet"], "cpu", None)
    later = commit("two")
    (tmp_path / "work" / later[:10]).symlink_to(clone)  # the kept clone, linked under the later commit's name
    rac.build(later, tmp_path / "work", ["06_arcface_resnet"], "cpu", None)
    assert (clone / "f.txt").read_text() == "two" and len(books) == 2

