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


def test_a_single_threaded_embedder_over_many_images_is_spread_over_processes(isolated, mirror_data, monkeypatch):
    """dlib's ResNet runs on one core: over many images a pool of processes embeds them, and its vectors, sources
    and cache entries are those of the one-process path; a batched engine, a model built outside the registry or
    a small set stays in this process."""
    from facekit import embed as E
    from facekit.data import lfw
    from facekit.face_path import FacePath
    from facekit.models.embedders import DlibEmbedder, get_embedder

    monkeypatch.setenv("FACEKIT_WORKERS", "2")
    dlib = get_embedder("dlib-resnet")
    assert E.embed_processes(dlib, 2 * E.MIN_PER_PROCESS) == 2
    assert E.embed_processes(dlib, 2 * E.MIN_PER_PROCESS - 1) == 1  # too few to pay for the pool
    assert E.embed_processes(DlibEmbedder(), 10_000) == 1  # not from the registry: a worker could not rebuild it
    assert E.embed_processes(get_embedder("mobilefacenet-casia"), 10_000) == 1  # torch uses every core already

    paths = list(lfw.images().path[:6]) + [isolated / "missing.jpg"]
    fp = FacePath("retinaface", "dlib-resnet")
    detected, chosen = fp.faces(paths, progress=False)
    one = E.embed_chosen(detected, chosen, dlib, isolated / "one", fp.aligned_with(dlib), batch_size=2,
                         progress=False, processes=1)
    pooled = E.embed_chosen(detected, chosen, dlib, isolated / "pool", fp.aligned_with(dlib), batch_size=2,
                            progress=False, processes=2)
    assert pooled.source == one.source and one.source[6].startswith("failed")  # the missing file
    assert sum(one.ok) == 6 and np.array_equal(pooled.embeddings, one.embeddings)
    cached = sorted(p.relative_to(isolated / "one") for p in (isolated / "one").rglob("*.npy"))
    assert len(cached) == 6 and cached == sorted(p.relative_to(isolated / "pool")
                                                 for p in (isolated / "pool").rglob("*.npy"))
