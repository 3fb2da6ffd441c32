"""Verification metrics on hand-made scores, the k-fold protocol's independence, and `facekit verify`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_curve

import facekit.metrics as M
from facekit import cli
from facekit.metrics import best_threshold, kfold_verification, roc_metrics


def test_best_threshold_exact():
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1], bool)
    thr, acc = best_threshold(s, y)
    assert thr == pytest.approx(0.25) and acc == pytest.approx(5 / 6)
    thr, acc = best_threshold(np.array([0.1, 0.9]), np.array([False, True]))
    assert 0.1 < thr <= 0.9 and acc == 1.0


def test_kfold_accuracy_known_value():
    # two folds; each fold alone is separable at 0.5, except one mismatched pair in fold 2 scoring 0.8
    s = np.array([0.9, 0.8, 0.2, 0.1, 0.9, 0.7, 0.8, 0.1])
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    out = kfold_verification(s, y, folds)
    # fold 1 tested with fold 2's threshold (0.75 or lower range that maximises fold 2 -> 0.75): fold 1 all right
    # fold 2 tested with fold 1's threshold (midpoint 0.5): the 0.8 impostor is accepted -> 3/4
    assert out["fold_accuracy"] == [1.0, 0.75]
    assert out["accuracy"] == pytest.approx(0.875) and out["accuracy_std"] == pytest.approx(0.125)


def test_fold_threshold_never_sees_its_fold(monkeypatch):
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(1, 11), 60)
    s = rng.random(600) + folds * 10.0  # every fold's scores live in their own numeric range
    y = rng.random(600) < 0.5
    seen = []
    real = M.best_threshold

    def spy(scores, same):
        seen.append(set(np.floor(np.asarray(scores) / 10).astype(int)))
        return real(scores, same)

    monkeypatch.setattr(M, "best_threshold", spy)
    kfold_verification(s, y, folds)
    assert len(seen) == 10
    for k, ranges in enumerate(seen, start=1):
        assert k not in ranges and len(ranges) == 9


def test_roc_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.5
    s = rng.normal(loc=y * 1.5, scale=1.0)
    out = roc_metrics(s, y, fars=(1e-1, 1e-2))
    fpr, tpr, _ = roc_curve(y, s)
    assert out["tpr_at_far_1e-1"] == pytest.approx(tpr[fpr <= 0.1].max())
    assert out["tpr_at_far_1e-2"] == pytest.approx(tpr[fpr <= 0.01].max())
    # the stored threshold really gives that FAR on these pairs
    t = out["threshold_at_far_1e-1"]
    assert np.mean(s[~y] >= t) <= 0.1
    perfect = roc_metrics(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool), fars=(1e-3,))
    assert perfect["roc_auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["tpr_at_far_1e-3"] == 1.0


def _calibrate(threshold: float, face_path=None) -> None:
    """A calibration record written by hand (the chapter's run is not needed): dlib's documented rule, same
    person below a euclidean distance of 0.6, as the threshold on minus the distance."""
    from facekit.face_path import FacePath
    from facekit.results import write_result

    face_path = face_path or FacePath("dlib-hog", "dlib-resnet", policy="central")
    write_result("03_metric_learning", "dlib-resnet_lfw-view2", profile="cpu", dataset="lfw",
                 protocol="view2-10fold", model="dlib-resnet", metrics={"threshold_at_far_1e-3": threshold},
                 face_path=face_path.to_json())


def test_verify_cli_exit_codes(isolated, mirror_data, tmp_path, capsys):
    from facekit.data import lfw

    root = lfw.root() / "lfw-deepfunneled"
    a, b = root / "Colin_Powell" / "Colin_Powell_0001.jpg", root / "Colin_Powell" / "Colin_Powell_0002.jpg"
    other = root / "Serena_Williams" / "Serena_Williams_0001.jpg"
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert cli.main(["verify", str(a), str(b), "--embedder", "dlib-resnet"]) == 2  # no calibration yet
    assert "no LFW calibration" in capsys.readouterr().err
    _calibrate(-0.6)
    assert cli.main(["verify", str(a), str(b), "--embedder", "dlib-resnet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("same: distance 0.") and "<= 0.6000" in out  # the embedder's own unit
    assert cli.main(["verify", str(a), str(other), "--embedder", "dlib-resnet"]) == 1
    assert capsys.readouterr().out.startswith("different: distance")
    assert cli.main(["verify", str(a), str(text), "--embedder", "dlib-resnet"]) == 2
    assert "not an image file" in capsys.readouterr().err
    # two people side by side, Colin Powell on the right: the calibrated rule (central face) and its box are named
    import numpy as np
    from PIL import Image

    from facekit.io import read_image

    pair = tmp_path / "two.jpg"
    Image.fromarray(np.concatenate([read_image(other), read_image(b)], 1)).save(pair)
    assert cli.main(["verify", str(a), str(pair), "--embedder", "dlib-resnet"]) in (0, 1)
    out = capsys.readouterr().out
    assert f"{pair}: 2 faces, used the one nearest the centre, box [" in out


def test_verify_follows_the_calibrations_backup_detector(isolated, mirror_data, capsys):
    from facekit.data import lfw
    from facekit.face_path import FacePath

    root = lfw.root() / "lfw-deepfunneled"
    a, b = root / "Colin_Powell" / "Colin_Powell_0001.jpg", root / "Colin_Powell" / "Colin_Powell_0002.jpg"
    blind = FacePath("dlib-hog", "dlib-resnet", detector_kwargs={"threshold": 10.0}, policy="central")  # no face
    for backup, code in ((None, 2), ("dlib-hog", 0)):
        _calibrate(-0.6, blind.replace(backup=backup))
        assert cli.main(["verify", str(a), str(b), "--embedder", "dlib-resnet"]) == code
    assert "no face detected (tried dlib-hog)" in capsys.readouterr().err


def test_face_path_json_round_trip():
    from facekit.face_path import FacePath

    fp = FacePath("dlib-hog", "dlib-resnet", detector_kwargs={"threshold": 0.5}, backup="retinaface",
                  policy="central", fallback=None, embedder_kwargs={"jitters": 2})
    data = fp.to_json()
    assert FacePath.from_json(data) == fp and FacePath.from_json(json.dumps(data)) == fp
    assert fp.key() == FacePath.from_json(data).key() and fp.key() != fp.replace(policy="largest").key()
    with pytest.raises(ValueError, match="unknown FacePath field"):
        FacePath.from_json({**data, "colour": "blue"})
    with pytest.raises(ValueError, match="policy"):
        FacePath("retinaface", "dlib-resnet", policy="nearest")
    with pytest.raises(ValueError, match="needs an aligner"):
        FacePath("retinaface")


def test_verify_reproduces_the_chapters_pair_score(isolated, mirror_data):
    """`facekit verify` rebuilds the face path from the chapter's record: its score on an LFW pair is the score
    the chapter computed for that pair."""
    import dataclasses

    from facekit.data import lfw
    from facekit.studies import metric_learning as ml

    st = ml.CHAPTER.study("cpu", 0)
    st.params = dataclasses.replace(st.params, pairs_per_fold=2)
    ml.run_pretrained(st, ml.PRETRAINED["mobilefacenet-casia"])
    table = st.read_table("mobilefacenet-casia_lfw_pairs")
    row = table[table.same].iloc[0]
    a, b = lfw.image_path(row.name1, row.index1), lfw.image_path(row.name2, row.index2)
    out = ml.verify(a, b, "mobilefacenet-casia", far=1e-3, profile="cpu")
    assert out["score"] == pytest.approx(row.score, abs=1e-5)
    rec = st.read("mobilefacenet-casia_lfw-view2")
    assert rec["face_path"]["detector"] == "retinaface" and rec["face_path"]["policy"] == lfw.FACE_POLICY
    assert rec["manifest"]["device"] == "cpu" and "mobilefacenet-casia" in rec["manifest"]["weights_sha256"]


def test_report_001_recipe_table_is_written_from_each_profiles_params():
    from facekit.studies import metric_learning as ml

    t = ml.recipe_table()
    cpu, full = ml.CHAPTER.params("cpu"), ml.CHAPTER.params("full")
    assert {s.name for s in ml.REPORT_001} <= set(t.index.get_level_values("model"))
    assert t.loc[("inception-triplet", "input"), "cpu"].startswith(f"{cpu.inception.input_size} px")
    assert t.loc[("vgg16-triplet-mined", "epochs"), "full"] == str(full.vgg16.epochs)
    assert t.loc[("vgg16-triplet-mined", "input"), "report 001"] == "256 px"
    imagenet = ml.IMAGENET_START.name
    assert (t.loc[imagenet, "cpu"] == "not trained").all() != cpu.imagenet_start
    assert t.loc[(imagenet, "start"), "full"].startswith("ImageNet")
    # the ImageNet-started row has its own cpu epochs, written on the page
    assert t.loc[(imagenet, "epochs"), "cpu"] == str(cpu.mobilenet_imagenet.epochs) != str(cpu.mobilenet.epochs)
    assert f"{cpu.mobilenet_imagenet.epochs} epochs against the from-scratch row's {cpu.mobilenet.epochs}" in \
        ml.imagenet_note(cpu)
    assert "the same budget" in ml.imagenet_note(full)


def test_a_trained_row_near_chance_is_explained_from_its_history():
    from facekit.studies import metric_learning as ml

    def out(acc, vals, losses):
        history = [{"epoch": i, "val": v, "loss": lo, "seconds": 30.0}
                   for i, (v, lo) in enumerate(zip(vals, losses, strict=True))]
        return {"metrics": {"accuracy": acc}, "history": history}

    trained = {"mobilenetv3-arcface": out(0.556, [0.52, 0.58, 0.55], [40.0, 38.5, 37.9]),
               "inception-triplet": out(0.879, [0.70, 0.85, 0.88], [0.2, 0.1, 0.05])}
    note = ml.near_chance_note(trained)
    assert "`mobilenetv3-arcface` ends near chance" in note and "inception" not in note
    assert "peaked at 0.580 (epoch 2)" in note and "from 40.00 to 37.90" in note and "3 epochs (1.5 min)" in note
    assert "fitted its training people" not in note  # a late peak, a loss that barely fell: no overfitting said
    trained["mobilenetv3-arcface"] = out(0.587, [0.5, 0.62, 0.57, 0.56, 0.56], [42.8, 35.0, 20.0, 10.0, 7.1])
    assert "fitted its training people" in ml.near_chance_note(trained)
    trained["mobilenetv3-arcface"] = out(0.587, [0.5, 0.62, 0.57, 0.56, 0.56], [42.8, 10.0, 7.0, 7.1, 7.2])
    assert "fitted its training people" not in ml.near_chance_note(trained)  # the loss stopped falling early
    assert ml.IMAGENET_START.name not in note
    trained[ml.IMAGENET_START.name] = out(0.93, [0.8, 0.9], [30.0, 20.0])
    assert f"`{ml.IMAGENET_START.name}` reaches 0.930 in 1.0 min" in ml.near_chance_note(trained)
    trained[ml.IMAGENET_START.name] = out(0.57, [0.55, 0.56], [30.0, 29.0])  # near chance too: its own sentence
    note = ml.near_chance_note(trained)
    assert "reaches" not in note and f"`{ml.IMAGENET_START.name}` ends near chance" in note
    assert ml.near_chance_note({"inception-triplet": trained["inception-triplet"]}) == ""


def test_detector_check_rows_are_not_embedder_names():
    """A detector-check row is written as ``<label>_lfw-view2``; the command line calibrates only from records named
    by a registered embedder, so such a row can never become its default."""
    from facekit.models.embedders import EMBEDDERS
    from facekit.studies import metric_learning as ml

    assert ml.DETECTOR_CHECKS and not set(ml.DETECTOR_CHECKS) & set(EMBEDDERS.available())
    assert all(emb in EMBEDDERS.available() and fp.embedder == emb for emb, fp in ml.DETECTOR_CHECKS.values())


def test_mean_subtraction_uses_the_training_folds_and_cancels_any_shared_offset():
    """The publisher's protocol: per test fold, the other folds' mean is subtracted before the cosine. A common
    offset added to every raw vector therefore changes nothing (it is in the mean), while it changes plain
    cosines; fold 1's accuracy equals the one computed by hand from folds 2-4's mean."""
    import numpy as np
    import pandas as pd

    from facekit.embed import EmbeddedSet
    from facekit.metrics import kfold_verification
    from facekit.verification import kfold_mean_subtracted

    rng = np.random.default_rng(0)
    n_people, folds = 40, 4
    ident = rng.normal(size=(n_people, 16))
    vecs = np.array([ident[p] + 0.8 * rng.normal(size=16) for p in range(n_people) for _ in range(2)])
    paths = [f"{p}_{k}.jpg" for p in range(n_people) for k in range(2)]
    rows = []
    for p in range(n_people):
        fold = p % folds + 1
        rows.append({"path1": f"{p}_0.jpg", "path2": f"{p}_1.jpg", "same": True, "fold": fold})
        rows.append({"path1": f"{p}_0.jpg", "path2": f"{(p + 1) % n_people}_1.jpg", "same": False, "fold": fold})
    pairs = pd.DataFrame(rows)

    def run(offset):
        return kfold_mean_subtracted(EmbeddedSet(paths, (vecs + offset).astype(np.float32), ["detected"] * len(paths)),
                                     pairs)

    base, shifted = run(0.0), run(3.0 * rng.normal(size=16))
    np.testing.assert_allclose(shifted["fold_accuracy"], base["fold_accuracy"])
    a = vecs[[2 * p for p in range(n_people) for _ in (0, 1)]]
    b = vecs[[paths.index(q) for q in pairs.path2]]
    train = pairs.fold.to_numpy() != 1
    mu = np.concatenate([a[train], b[train]]).mean(0)
    ua = (a - mu) / np.linalg.norm(a - mu, axis=1, keepdims=True)
    ub = (b - mu) / np.linalg.norm(b - mu, axis=1, keepdims=True)
    by_hand = kfold_verification((ua * ub).sum(1), pairs.same.to_numpy(), pairs.fold.to_numpy())
    assert base["fold_accuracy"][0] == by_hand["fold_accuracy"][0] and 0.6 < base["accuracy"] <= 1.0
