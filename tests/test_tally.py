"""Work counters: each cached pass says how much it computed and how much it read, and the book sums them."""

from __future__ import annotations

import numpy as np
import pytest

from facekit import tally


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(tally.ENV, raising=False)
    tally.record("detections", 3, 4)  # no file named: a no-op, not an error
    target = tmp_path / "t.jsonl"
    monkeypatch.setenv(tally.ENV, str(target))
    tally.record("detections", 3, 4)
    tally.record("detections", 1, 0)
    tally.record("embeddings", 0, 0)  # nothing done: no line
    with target.open("a") as f:
        f.write('{"kind": "crops", "comp')  # a torn last line (a killed kernel) counts as nothing
    assert tally.total(target) == {"detections": {"computed": 4, "read": 4}, "crops": {"computed": 0, "read": 0},
                                   "embeddings": {"computed": 0, "read": 0}}
    with pytest.raises(ValueError, match="unknown kind"):
        tally.record("faces", 1, 1)


def test_collecting_restores_the_variable_and_describes_the_sums(monkeypatch):
    monkeypatch.setenv(tally.ENV, "/elsewhere")
    with tally.collecting() as work:
        tally.record("crops", 2, 0)
        tally.record("embeddings", 5, 1200)
    assert work["crops"] == {"computed": 2, "read": 0} and work["embeddings"] == {"computed": 5, "read": 1200}
    assert tally.describe(work) == "crops 2/0 · embeddings 5/1,200"
    assert tally.describe(tally.total("/no/such/file")) == "-"
    import os

    assert os.environ[tally.ENV] == "/elsewhere"


def test_face_path_counts_what_it_computed_then_what_it_read(isolated, mirror_data):
    """One pass over six LFW photos computes six detections, crops and embeddings; the second reads all of them
    from the caches and computes nothing; memory-mapped crops count as read the second time."""
    from facekit.data import lfw
    from facekit.face_path import FacePath

    paths = list(lfw.images().path[:6])
    fp = FacePath("retinaface", "mobilefacenet-casia")
    with tally.collecting() as first:
        fp.embed(paths, progress=False)
        fp.crops(paths, progress=False, memmap=True)
    assert first["detections"] == {"computed": 6, "read": 6}  # embed detected; crops read those detections
    assert first["crops"] == {"computed": 12, "read": 0} and first["embeddings"] == {"computed": 6, "read": 0}
    with tally.collecting() as second:
        again = fp.embed(paths, progress=False)
        fp.crops(paths, progress=False, memmap=True)
    assert second["detections"] == {"computed": 0, "read": 6}
    assert second["crops"] == {"computed": 0, "read": 6} and second["embeddings"] == {"computed": 0, "read": 6}
    assert again.ok.all() and np.isfinite(again.embeddings).all()
