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
