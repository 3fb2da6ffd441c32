"""The fit loop resumes from its last checkpoint, keeps the best epoch, and the embedding cache spares work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facekit.train import fit


def _toy():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95, 0.1])

    def batches(epoch):
        yield x, y

    return model, opt, torch.nn.functional.cross_entropy, batches, lambda: next(scores)


def test_fit_resumes_and_keeps_best(tmp_path):
    model, opt, loss, batches, val = _toy()
    r1 = fit(model, loss, batches, val, opt, epochs=3, checkpoint_dir=tmp_path, progress=False)
    assert [h["epoch"] for h in r1.history] == [0, 1, 2] and r1.best_epoch == 1
    # "interrupted" after 3 of 5 epochs: a new process continues at epoch 3 with the same history
    model2, opt2, loss2, batches2, _ = _toy()
    rest = iter([0.6, 0.95])
    r2 = fit(model2, loss2, batches2, lambda: next(rest), opt2, epochs=5, checkpoint_dir=tmp_path, progress=False)
    assert r2.resumed_from == 3 and [h["epoch"] for h in r2.history] == [0, 1, 2, 3, 4]
    assert r2.best_epoch == 4 and r2.best_score == 0.95
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert all(torch.equal(best[k], v) for k, v in model2.state_dict().items())


def test_fit_early_stop(tmp_path):
    model, opt, loss, batches, _ = _toy()
    vals = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    r = fit(model, loss, batches, lambda: next(vals), opt, epochs=6, patience=2, progress=False)
    assert r.stopped_early and len(r.history) == 3


def test_embedding_cache_spares_the_embedder(isolated, mirror_data):
    from facekit.data import lfw
    from facekit.detect import get_detector
    from facekit.embed import embed_images
    from facekit.models.embedders import get_embedder

    paths = list(lfw.images().path[:6])
    emb = get_embedder("mobilefacenet-casia")
    calls = []
    real = emb.embed
    emb.embed = lambda crops: (calls.append(len(crops)), real(crops))[1]
    first = embed_images(paths, emb, get_detector("retinaface"), progress=False)
    assert sum(calls) == 6 and first.ok.all()
    calls.clear()
    second = embed_images(paths, emb, get_detector("retinaface"), progress=False)
    assert calls == [] and np.allclose(first.embeddings, second.embeddings)


def test_folder_training_path_runs_and_tests_all_folds(isolated, mirror_data, tmp_path):
    """The full profile trains on an identity-per-folder set (CASIA-WebFace there): the same code path on a tiny
    folder made from LFW people of fold 1, tested on all ten folds."""
    import shutil

    from facekit import verification_study as vs
    from facekit.data import lfw
    from facekit.metric_learning import REPORT_001
    from facekit.results import read_result

    imgs = lfw.images()
    multi = imgs.groupby("name").size()
    people = list(multi[multi >= 3].index[:10])
    for name in people:
        (tmp_path / "ds" / name).mkdir(parents=True)
        for p in imgs[imgs.name == name].path[:3]:
            shutil.copy(p, tmp_path / "ds" / name / p.name)
    params = {"epochs": 1, "batch_size": 8, "input_size": 32, "pairs_per_fold": 2, "val_pairs": 8,
              "train_folder": str(tmp_path / "ds")}
    out = vs.run_trained(REPORT_001[1], "smoke", params, seed=0)
    rec = read_result("smoke", vs.STUDY, "inception-triplet_lfw-view2")
    assert rec["protocol"] == "view2-10fold" and rec["metrics"]["pairs"] == 20
    assert rec["metrics"]["train_people"] <= 10 and 0.0 <= out["metrics"]["accuracy"] <= 1.0
    assert rec["reported"]["source"].startswith("report 001")


def test_choose_faces_policy_and_mean_fallback():
    from facekit.detect import Detection
    from facekit.detect.cache import Detected
    from facekit.embed import choose_faces

    lm = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)
    small, big = Detection([0, 0, 20, 20], 0.99, lm / 4), Detection([10, 10, 90, 100], 0.5, lm)
    detected = [Detected("a", "1", [small, big], 0.0, (100, 100)), Detected("b", "2", [], 0.0, (200, 200)),
                Detected("c", "3", error="empty file")]
    out = choose_faces(detected, "largest", "mean")
    assert out[0] == (big, "detected")
    assert out[1][1] == "fallback" and np.allclose(out[1][0].landmarks, lm * 2)  # mean face scaled to 200 px
    assert out[2] == (None, "failed: empty file")
    assert choose_faces(detected, "score", None)[0][0] is small
    assert choose_faces(detected, "largest", None)[1] == (None, "failed: no face detected")


def test_choose_faces_backup_detector_before_mean_face():
    from facekit.detect import Detection
    from facekit.detect.cache import Detected
    from facekit.embed import choose_faces

    lm = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)
    face, other = Detection([10, 10, 90, 100], 0.9, lm), Detection([5, 5, 60, 60], 0.8, lm / 2)
    detected = [Detected("a", "1", [face], 0.0, (100, 100)), Detected("b", "2", [], 0.0, (100, 100)),
                Detected("c", "3", [], 0.0, (100, 100))]
    backup = [Detected("a", "1", [other], 0.0, (100, 100)), Detected("b", "2", [other], 0.0, (100, 100)),
              Detected("c", "3", [], 0.0, (100, 100))]
    out = choose_faces(detected, "central", "mean", backup)
    assert out[0] == (face, "detected")  # the primary detector wins where it found a face
    assert out[1] == (other, "backup")
    assert out[2][1] == "fallback"  # neither found one: the mean face of the primary detections
    with pytest.raises(ValueError, match="backup detections cover 1 images"):
        choose_faces(detected, "central", "mean", backup[:1])
