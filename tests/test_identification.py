"""1:N identification: CMC and DIR@FAR on hand-made scores, faiss search against NumPy, identity-disjoint
protocols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facekit.data import protocols
from facekit.identification import cmc, dir_rate, false_alarm_rate, mate_ranks, open_set_scores, threshold_at_far
from facekit.search import SearchIndex, brute_force, recall_at_k


def test_mate_ranks_and_cmc_exact():
    ranked = np.array([["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["x", "y", "z"]])
    ranks = mate_ranks(ranked, ["a", "a", "a", "a"])
    assert ranks.tolist() == [1, 2, 3, 0]
    assert cmc(ranks, 3).tolist() == [0.25, 0.5, 0.75]


def test_threshold_at_far_and_dir_exact():
    nonmate = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    t = threshold_at_far(nonmate, 0.1)  # one false alarm of ten allowed: 0.9 alarms, 0.8 must not
    assert 0.8 < t <= 0.8 + 1e-12 and false_alarm_rate(nonmate, t) == 0.1
    assert threshold_at_far(nonmate, 0.0) > 0.9 and false_alarm_rate(nonmate, threshold_at_far(nonmate, 0.0)) == 0
    mate_top1, mate_rank = np.array([0.95, 0.85, 0.99, 0.5]), np.array([1, 1, 2, 1])
    # above threshold and right at rank 1: the first two only (the third is wrong, the fourth too weak)
    assert dir_rate(mate_top1, mate_rank, t) == 0.5
    rows = open_set_scores(np.r_[nonmate, nonmate, mate_top1], np.r_[np.zeros(20, int), mate_rank],
                           np.r_[np.zeros(20, bool), np.ones(4, bool)], np.r_[np.ones(10, bool), np.zeros(14, bool)],
                           fars=(0.1,))
    assert rows[0]["DIR (test)"] == 0.5 and rows[0]["FAR (test)"] == 0.1 and rows[0]["calibration non-mates"] == 10


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_flat_index_equals_numpy(metric):
    rng = np.random.default_rng(0)
    gallery, queries = rng.normal(size=(500, 32)), rng.normal(size=(20, 32))
    index = SearchIndex.build(gallery, metric)
    s, i = index.search(queries, 5)
    s_ref, i_ref = brute_force(gallery, queries, 5, metric)
    assert (i == i_ref).all() and np.allclose(s, s_ref, atol=1e-4)
    assert (np.diff(s, axis=1) <= 1e-6).all(), "best first"
    index.add(rng.normal(size=(100, 32)))  # one query at a time takes NumPy's path over faiss's (grown) rows
    batch_s, batch_i = index.search(queries, 5)  # several queries: faiss's own search
    one = [index.search(q[None], 5) for q in queries]
    assert index.size == 600 and all((o[1][0] == bi).all() for o, bi in zip(one, batch_i, strict=True))
    assert np.allclose(np.concatenate([o[0] for o in one]), batch_s, atol=1e-4)


def test_hnsw_recall_against_exact():
    rng = np.random.default_rng(0)
    gallery, queries = rng.normal(size=(5000, 32)), rng.normal(size=(50, 32))
    _, exact = SearchIndex.build(gallery).search(queries, 10)
    _, approx = SearchIndex.build(gallery, kind="hnsw").search(queries, 10)
    assert recall_at_k(approx, exact) > 0.9
    assert recall_at_k(exact, exact) == 1.0


def _table(counts: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"name": n, "path": Path(f"/lfw/{n}/{n}_{i:04d}.jpg")} for n, c in counts.items()
                         for i in range(1, c + 1)])


TABLE = _table({f"p{k:03d}": 1 + (k % 7) * (k % 3) for k in range(300)})


def test_closed_set_protocol():
    p = protocols.closed_set(TABLE, seed=1)
    assert p.gallery.name.is_unique and set(p.gallery.name) == set(TABLE.name)
    assert not set(p.gallery.path) & set(p.queries.path)
    assert len(p.gallery) + len(p.queries) == len(TABLE) and p.queries.mate.all()
    assert protocols.closed_set(TABLE, seed=1).gallery.equals(p.gallery)  # seeded


def test_open_set_protocol_is_identity_disjoint():
    p = protocols.open_set(TABLE, seed=2)
    q = p.queries
    nonmates = set(q.name[~q.mate])
    assert nonmates and not nonmates & set(p.gallery.name), "held-out people are never enrolled"
    assert set(q.name[q.mate]) <= set(p.gallery.name)
    calib, test = set(q.name[q.split == "calibration"]), set(q.name[q.split == "test"])
    assert calib and test and not calib & test, "calibration and test queries come from different people"
    assert not set(p.gallery.path) & set(q.path)


def test_report002_protocol_shape():
    p = protocols.report002(TABLE, gallery_size=200, n_queries=30, seed=0)
    assert len(p.queries) == 30 and p.queries.name.is_unique
    assert len(p.gallery) >= 200 and set(p.queries.name) <= set(p.gallery.name)
    assert not set(p.gallery.path) & set(p.queries.path)


def test_protocol_embeddings_are_shared_across_protocols(monkeypatch):
    """A path embeds each image once per run, and a second protocol with new images embeds only those."""
    from facekit.studies import retrieval as rs

    calls = []

    def fake_embed(fp, images, progress=True):
        calls.append(list(images))
        return np.ones((len(images), 4), np.float32), np.ones(len(images), bool)

    monkeypatch.setattr(rs, "embed", fake_embed)
    st = rs.CHAPTER.study("smoke")
    a, b = protocols.closed_set(TABLE.iloc[:200], seed=0), protocols.closed_set(TABLE, seed=0)
    cache: dict = {}
    fp = rs.LFW_PATHS["mobilefacenet-casia"]
    (g, _), (q, _) = rs._embedded(st, fp, a, cache, False)
    assert len(g) == len(a.gallery) and len(q) == len(a.queries)
    rs._embedded(st, fp, a, cache, False)
    (g, _), _ = rs._embedded(st, fp, b, cache, False)
    assert len(calls) == 2 and len(g) == len(b.gallery)
    assert not set(map(str, calls[1])) & set(map(str, calls[0])), "the second protocol embeds only new images"


def test_the_search_benchmarks_closed_set_check_scores_rank1_and_agreement_with_exact_search():
    """benchmarks/bench_search.py's closed set: first images enrolled among synthetic distractors, the rest as
    queries; on well separated people exact search is right every time, the half-precision scan always
    agrees with it and HNSW nearly always."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_search.py"
    spec = importlib.util.spec_from_file_location("bench_search", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 32))
    real = (np.repeat(centres, 3, 0) + 0.05 * rng.normal(size=(90, 32))).astype(np.float32)
    names = np.repeat([f"p{i}" for i in range(30)], 3)
    rows = mod.closed_set_rank1(real, names, 500, "cosine", 16, (64,))
    assert [r["index"] for r in rows] == ["flat", "fp16", "hnsw"] and rows[0]["queries"] == 60
    assert rows[0]["gallery"] == 500 and rows[0]["enrolled people"] == 30
    assert rows[0]["rank-1"] == 1.0 and rows[1]["top-1 as exact"] == 1.0 and rows[2]["top-1 as exact"] >= 0.95


def test_the_closed_set_table_names_each_row_by_its_label_not_its_model(isolated):
    """Two rows of one model (MobileFaceNet on its own path and on the alignment it was trained on) are told apart,
    and the best-rank-1 sentence names the winning row."""
    from facekit.studies import retrieval as rs

    st = rs.CHAPTER.study("smoke")
    for label, rank1 in (("mobilefacenet-casia", 0.92), ("mobilefacenet-casia+mtcnn", 0.93), ("fusion", 0.91)):
        st.write(f"closed-set_{label}", dataset="lfw", protocol="closed set", model="mobilefacenet-casia",
                 metrics={"rank1": rank1, "top5": 0.97, "top10": 0.98, "queries": 10, "gallery": 5,
                          "failed_queries": 0})
    table, sentence = rs.closed_summary(st)
    assert sorted(table.row) == ["fusion", "mobilefacenet-casia", "mobilefacenet-casia+mtcnn"]
    assert "**0.9300** (mobilefacenet-casia+mtcnn)" in sentence


def test_search_at_scale_shows_exact_search_hnsw_and_the_command_lines_index(isolated, monkeypatch):
    """The padded gallery is searched exactly, through HNSW at the chapter's width and through the index the
    command line's galleries use at that size (exact below ``APPROXIMATE_FROM``, the half-precision scan above,
    with exact search's answers); exact search's rank-1 is the hand-computed one; the record and the sentence name
    each."""
    from facekit import search
    from facekit.search import gallery_kind, synthetic_distractors
    from facekit.studies import retrieval as rs

    proto = protocols.closed_set(TABLE, seed=0)
    rng = np.random.default_rng(0)
    centre = {n: rng.normal(size=16) for n in TABLE.name.unique()}

    def vectors(frame):
        return np.stack([centre[n] + 0.3 * rng.normal(size=16) for n in frame.name]).astype(np.float32)

    g, q = vectors(proto.gallery), vectors(proto.queries)
    ones = np.ones(len(g), bool), np.ones(len(q), bool)
    monkeypatch.setattr(rs, "_embedded", lambda st, fp, p, cache, progress: ((g, ones[0]), (q, ones[1])))
    st = rs.CHAPTER.study("smoke")
    table = rs.run_search_at_scale(st, proto, rs.LFW_PATHS["insightface-mbf"], "insightface-mbf", progress=False)
    assert list(table["search"]) == ["exact", "hnsw", "command line"]
    assert list(table["index"]) == ["flat", "hnsw", gallery_kind(st.params.scale_gallery)]
    assert table["search width"].iloc[1] == st.params.ef_search
    padded = np.concatenate([g, synthetic_distractors(g, st.params.scale_gallery - len(g), st.seed)])
    names = np.concatenate([proto.gallery.name.to_numpy(), np.full(len(padded) - len(g), "", object)])
    exact = np.mean(names[brute_force(padded, q, 1)[1][:, 0]] == proto.queries.name.to_numpy())
    assert table["rank-1 (real queries)"].iloc[0] == pytest.approx(exact)
    metrics = st.read("search-at-scale_insightface-mbf")["metrics"]
    assert metrics["cli_rank1"] == table["rank-1 (real queries)"].iloc[2]
    assert table["same first answer as exact"].iloc[0] == 1.0
    assert "The command line's galleries at this size use exact search:" in rs.at_scale_sentence(table)
    monkeypatch.setattr(search, "APPROXIMATE_FROM", 100)  # the smoke-sized gallery as a large one
    table = rs.run_search_at_scale(st, proto, rs.LFW_PATHS["insightface-mbf"], "insightface-mbf", progress=False)
    assert table["index"].iloc[2] == "fp16" and table["rank-1 (real queries)"].iloc[2] == pytest.approx(exact)
    assert "use a half-precision scan with exact re-scoring: " in rs.at_scale_sentence(table)


def test_report002_grid_counts_a_face_from_the_reports_score_on_each_detector():
    """Report 002's 0.1 detection threshold reaches each grid detector under the argument that detector takes
    (MTCNN: its last stage; a renamed argument fails here), changes the face path (its cache key) and is said on
    the page with each detector's own default; None keeps the defaults and says the report's value."""
    import dataclasses
    import inspect

    from facekit.detect.mtcnn import MTCNNDetector
    from facekit.detect.retinaface import RetinaFaceDetector
    from facekit.detect.yolo_face import YoloV8FaceDetector
    from facekit.studies import retrieval as rs

    p = rs.CHAPTER.params("cpu")
    assert p.grid_min_score == rs.REPORT002_MIN_SCORE == 0.1
    assert rs.CHAPTER.params("full").grid_min_score == 0.1
    kwargs = {d: rs.grid_path(d, "sface", p.grid_min_score).detector_kwargs for d in p.grid_detectors}
    own = inspect.signature(MTCNNDetector).parameters["thresholds"].default
    assert kwargs == {"mtcnn": {"thresholds": (*own[:2], 0.1)}, "retinaface": {"threshold": 0.1},
                      "yolov8-face": {"threshold": 0.1}, "whole-image": {}}
    for cls, key in ((RetinaFaceDetector, "retinaface"), (YoloV8FaceDetector, "yolov8-face")):
        assert set(kwargs[key]) <= set(inspect.signature(cls).parameters)
    assert rs.grid_path("retinaface", "sface", 0.1) != rs.grid_path("retinaface", "sface")
    note = rs.grid_note(p)
    assert "score of 0.1" in note and "retinaface 0.5" in note and "yolov8-face 0.25" in note
    assert "mtcnn: the last of its stages" in note and "whole-image" not in note
    smoke = rs.grid_note(rs.CHAPTER.params("smoke"))
    assert "mtcnn" not in smoke and "retinaface 0.5" in smoke
    assert rs.grid_note(dataclasses.replace(p, grid_min_score=None)).startswith("Each detector keeps its own")
