"""The papermill step: parameters reach the notebook, and a failing cell stops the build with its source."""

from __future__ import annotations

import json

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
    for chapter in ("00_data", "01_detection", "02_metric_learning", "03_cosine_heads"):
        assert f"{chapter} (profile full)" in out
    assert "dataset  casia_webface" in out and "weights  vgg-m-face-bn" in out
    assert "weights  dlib-resnet                      verified" in out  # shipped in a pip package
    assert "facekit data fetch lfw" in out  # how to get what is missing
    assert not list((isolated / "results").glob("**/*.json"))  # nothing ran
