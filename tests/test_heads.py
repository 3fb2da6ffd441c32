"""Cosine heads, their training on frozen features, the classification metrics and the resumable Optuna study."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from facekit.models.heads import CosineHead, MultiHead, multi_head_loss


def test_cosine_head_is_bias_free_scaled_cosine():
    head = CosineHead(8, 3, s=32)
    assert [n for n, _ in head.named_parameters()] == ["weight"]  # no bias
    x = torch.randn(5, 8)
    logits = head(x)
    assert logits.abs().max() <= 32 + 1e-4  # |s * cos| <= s
    assert torch.allclose(head(7.5 * x), logits, atol=1e-5)  # the input's norm does not matter
    w = torch.nn.functional.normalize(head.weight, dim=1)
    expected = 32 * torch.nn.functional.normalize(x, dim=1) @ w.T
    assert torch.allclose(logits, expected, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        CosineHead(8, 1)


def test_multi_head_loss_weights_each_task():
    torch.manual_seed(0)
    head = MultiHead(6, 4, s_identity=16, s_sex=48)
    assert head.identity.s == 16 and head.sex.s == 48
    x, y = torch.randn(10, 6), torch.stack([torch.randint(0, 4, (10,)), torch.randint(0, 2, (10,))], 1)
    ident, sex = head(x)
    ce = torch.nn.functional.cross_entropy
    got = multi_head_loss(0.5, 2.0)((ident, sex), y)
    assert torch.isclose(got, 0.5 * ce(ident, y[:, 0]) + 2.0 * ce(sex, y[:, 1]))


def _blobs(n_per=30, classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    x = np.concatenate([c + 0.3 * rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(classes), n_per)
    split = np.tile(np.array(["train"] * 20 + ["val"] * 5 + ["test"] * 5), classes)
    return x, y, split


def test_train_head_learns_separable_identities_and_sex():
    from facekit.classify import HeadData, predict, train_head
    from facekit.train import Run

    x, y, split = _blobs()
    params = {"lr": 3e-3, "s": 16, "weight_decay": 1e-4}
    model, res = train_head(HeadData(x, y, split == "train", split == "val"), params, Run(15, progress=False))
    assert res.best_score == 1.0 and len(res.history) == 15
    assert (predict(model, x[split == "test"]) == y[split == "test"]).mean() == 1.0
    sex = y % 2
    model, res = train_head(HeadData(x, y, split == "train", split == "val", sex), {**params, "s_sex": 32},
                            Run(15, progress=False))
    pid, psex = predict(model, x[split == "test"])
    assert (pid == y[split == "test"]).mean() == 1.0 and (psex == sex[split == "test"]).mean() == 1.0
    with pytest.raises(ValueError, match="validation rows"):
        train_head(HeadData(x, y, split == "train", split == "nothing"), params, Run(1, progress=False))


def test_classification_metrics_known_values():
    from facekit.metrics import classification_metrics, per_class_f1

    y = [0, 0, 0, 0, 1, 1]
    p = [0, 0, 0, 1, 1, 1]
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1) / 2)
    assert m["macro_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["macro_f1"] == pytest.approx((6 / 7 + 0.8) / 2)
    assert classification_metrics([1, 1], [1, 1])["cohen_kappa"] is None  # undefined with one class
    worst = per_class_f1(y, p, ["anna", "bob"])
    assert list(worst["class"]) == ["bob", "anna"] and worst.support.tolist() == [2, 4]


_KILLED_STUDY = textwrap.dedent("""
    import os, sys
    from facekit import tune

    def objective(trial):
        x = trial.suggest_float("x", -1, 1)
        if trial.number == int(sys.argv[2]):
            os._exit(9)  # killed mid-search: no cleanup, the trial stays "running"
        return -x * x

    tune.run_study(objective, "kill-me", sys.argv[1], n_trials=6, progress=False)
""")


def test_interrupted_study_resumes_the_same_study(tmp_path):
    import optuna

    from facekit import tune

    url = f"sqlite:///{tmp_path / 'study.db'}"
    script = tmp_path / "search.py"
    script.write_text(_KILLED_STUDY)
    run = subprocess.run([sys.executable, str(script), url, "3"], capture_output=True, text=True)
    assert run.returncode == 9, run.stderr
    first = optuna.load_study(study_name="kill-me", storage=url)
    assert tune.finished(first) == 3  # three trials finished before the kill
    first_params = [t.params for t in first.get_trials(states=tune.DONE)]

    study = tune.run_study(lambda t: -t.suggest_float("x", -1, 1) ** 2, "kill-me", url, n_trials=6,
                           progress=False)
    assert study._study_id == first._study_id  # the same study, continued
    assert tune.finished(study) == 6  # only the missing trials ran
    assert [t.params for t in study.get_trials(states=tune.DONE)][:3] == first_params
    again = tune.run_study(lambda t: 1 / 0, "kill-me", url, n_trials=6, progress=False)
    assert len(again.trials) == len(study.trials)  # complete: a rerun runs nothing


def test_lfw_closed_set_of_people_with_20_images(mirror_data):
    from facekit.data import lfw as hs

    df = hs.closed_set(20)
    assert df.name.nunique() == 62 and len(df) == 3023
    assert set(df.split) == {"train", "val", "test"} and df.groupby("name").split.nunique().min() == 3
    assert set(df.sex) == {"female", "male"}
    others = hs.other_people(set(df.name), per_person=1, max_people=100)
    assert len(others) == 100 and not set(others.name) & set(df.name)
    assert not set(others.name[others.split == "val"]) & set(others.name[others.split == "train"])
    small = hs.closed_set(20, max_people=6, max_images=5)
    assert small.name.nunique() == 6 and (small.sex == "female").sum() == 15  # half of the people are women


def test_search_plots_say_when_every_trial_scored_the_same():
    """A constant objective gets no (undefined) importance plot but a sentence in the history plot; a varying one
    gets both, each with one centred title (optuna's left-hand title removed so the two never overlap)."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna

    from facekit import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    flat = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    flat.optimize(lambda t: 1.0 + 0 * t.suggest_float("lr", 1e-4, 1e-1), n_trials=4)
    axes = tune.plots(flat, title="flat")
    assert len(axes) == 1 and any("cannot rank" in t.get_text() for t in axes[0].texts)
    varied = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    varied.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1) + 0 * t.suggest_float("s", 1, 64), n_trials=6)
    axes = tune.plots(varied, title="varied")
    assert len(axes) == 2 and all(ax.get_title(loc="left") == "" and ax.get_title().endswith(": varied")
                                  for ax in axes)


def test_person_confidences_give_report_000s_reliability_figures():
    import numpy as np

    from facekit.detect.base import Detection
    from facekit.studies.cosine_heads import person_confidences

    box = [0, 0, 10, 20]
    dets = [[Detection(box, 0.9), Detection(box, 0.5)], [], [Detection(box, 0.7)], [Detection(box, 0.8)]]
    m, best = person_confidences(dets)
    assert m["found_share"] == 0.75  # one photo of four without a person box
    np.testing.assert_allclose(best, [0.9, np.nan, 0.7, 0.8])  # the best box of each photo
    assert abs(m["confidence_mean"] - 0.8) < 1e-9 and abs(m["confidence_std"] - np.std([0.9, 0.7, 0.8])) < 1e-9
    none = person_confidences([[], []])[0]
    assert none["found_share"] == 0 and none["confidence_mean"] is None  # None, not NaN: records refuse NaN


def test_heads_train_on_the_faces_the_extraction_accepted(isolated):
    """Report 000 trained on the faces its extraction kept: those images, relabelled and split again; people left
    with too few accepted faces drop out; ``faces="all"`` keeps every image."""
    import dataclasses

    import pandas as pd

    from facekit.data.splits import label_closed_set
    from facekit.studies import cosine_heads as hs

    kept = {"Ann": 10, "Bob": hs.MIN_ACCEPTED - 1, "Cid": 7}
    df = label_closed_set(pd.DataFrame([{"path": f"/x/{n}_{i}.jpg", "name": n, "sex": "female" if n == "Ann"
                                         else "male"} for n in kept for i in range(10)]), seed=0)
    df.attrs["dataset"] = "lfw"
    ext = pd.DataFrame({"image": df.path, "accepted": [int(p.rsplit("_", 1)[1][:-4]) < kept[n]
                                                       for p, n in zip(df.path, df.name, strict=True)]})
    st = hs.CHAPTER.study("cpu")
    out, text = hs.training_set(st, df, ext)
    assert sorted(out.name.unique()) == ["Ann", "Cid"] and len(out) == 17  # Bob had too few accepted faces
    assert set(out.path) <= set(ext.image[ext.accepted])
    assert sorted(out.label.unique()) == [0, 1] and set(out.split) == {"train", "val", "test"}
    assert out.attrs["dataset"] == "lfw" and "17 of 30 images" in text and "2 of 3 people" in text
    st.params = dataclasses.replace(st.params, faces="all")
    same, text = hs.training_set(st, df, ext)
    assert same is df and "every image" in text


def test_the_heads_recipe_table_is_written_from_each_profiles_params(monkeypatch):
    import dataclasses

    from facekit.studies import cosine_heads as hs

    table = hs.recipe_table()
    assert list(table.columns) == ["report 000", "cpu", "full"]
    assert table.loc["stopping", "cpu"].startswith(f"after {hs.CHAPTER.params('cpu').patience} epochs")
    assert table.loc["features", "full"].startswith(hs.ORIGINAL_EMBEDDER)
    other = dataclasses.replace(hs.CHAPTER.params("cpu"), patience=None, faces="all", trials=3)
    monkeypatch.setattr(type(hs.CHAPTER), "params", lambda self, prof: other)
    row = hs.recipe_table(("cpu",))["cpu"]
    assert row["stopping"] == "none" and "every image" in row["data"] and "3 trials" in row["search"]
