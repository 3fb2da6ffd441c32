"""Report 004's pieces: the margin warm-up per epoch, a decay that waits for it, the pupil aligner's placement,
ResNet18's two stems, and a training resumed in the middle of the warm-up that ends where an uninterrupted one does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facekit.align import IRIS_CENTRES, align, pupils
from facekit.arcface import Recipe, train_arcface
from facekit.detect import Detection
from facekit.models.face_resnet import FaceResNet18
from facekit.models.schedules import DecaySchedule, MarginSchedule
from facekit.train import CropSet, Run


def test_margin_schedule_values_per_epoch():
    s = MarginSchedule(target=0.35, start=0.0, warmup_epochs=5)
    np.testing.assert_allclose([s.value(e) for e in range(8)], [0, 0.07, 0.14, 0.21, 0.28, 0.35, 0.35, 0.35])
    assert [s.at_target(e) for e in (4, 5)] == [False, True]
    assert [MarginSchedule(0.5, 0.1, 0).value(e) for e in (0, 3)] == [0.5, 0.5]  # fixed margin from epoch 0
    np.testing.assert_allclose(MarginSchedule(0.5, 0.1, 2).value(1), 0.3)

    class Loss:
        margin = 9.0

    loss = Loss()
    assert s.apply(loss, 2) == pytest.approx(0.14) and loss.margin == pytest.approx(0.14)


@pytest.mark.parametrize("decay, milestones", [("cosine", ()), ("multistep", (2, 4))])
def test_decay_does_not_start_before_the_margin_is_at_target(decay, milestones):
    epochs = 10
    r = Recipe(warmup_epochs=4, decay=decay, milestones=milestones)
    margin, factor = r.margin_schedule(), r.lr_factor(epochs)
    for e in range(epochs):
        if margin.value(e) < r.margin:
            assert factor(e) == 1.0, e
    assert factor(4) == 1.0 and factor(6) < 1.0 and factor(9) < factor(5)
    if decay == "multistep":  # milestones count from the decay's start: 4 + 2 and 4 + 4
        assert [factor(e) for e in (5, 6, 7, 8)] == pytest.approx([1.0, 0.1, 0.1, 0.01])
    undelayed = Recipe(warmup_epochs=4, decay=decay, milestones=milestones, decay_start=0).lr_factor(epochs)
    assert undelayed(3) < 1.0  # the ablation: decaying while the margin still rises
    assert DecaySchedule(10, 0, "cosine")(10) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="decay kind"):
        DecaySchedule(10, 0, "linear")


def _dot(point, shape=(250, 250)):
    img = np.zeros((*shape, 3), np.uint8)
    x, y = int(round(point[0])), int(round(point[1]))
    img[y - 2:y + 3, x - 2:x + 3] = 255
    return img


def _centroid(img):
    w = img[:, :, 0].astype(np.float64)
    ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


def test_pupil_aligner_puts_the_pupils_on_the_template():
    # a tilted face whose Face Mesh iris centres differ from its five landmarks' eyes: the mesh's points rule
    left, right = np.array([100.0, 120.0]), np.array([152.0, 104.0])
    mesh = np.zeros((478, 2), np.float32)
    mesh[list(IRIS_CENTRES)] = [left, right]
    five = np.array([left + 6, right - 6, [125, 140], [105, 165], [150, 160]], np.float32)
    det = Detection(np.array([70, 60, 190, 200]), 0.9, five, {"mesh": mesh})
    np.testing.assert_allclose(pupils(det), [left, right])
    template = [(48 - 17.6, 51.6), (48 + 17.6, 51.6)]
    for point, target in zip((left, right), template, strict=True):
        crop = align("pupils96x112", _dot(point), det)
        assert crop.shape == (112, 96, 3)
        np.testing.assert_allclose(_centroid(crop), target, atol=1.0)
    # without a mesh (the set's mean face) the first two landmarks are taken as the pupils
    np.testing.assert_allclose(pupils(Detection(det.box, 0.0, five)), five[:2])


def test_pupil_aligner_on_a_real_face(shared_weights):
    from skimage import data

    from facekit.detect.base import DETECTORS

    img = data.astronaut()
    dets = DETECTORS.get("mediapipe").detect(img)
    assert dets and "mesh" in dets[0].extra
    left, right = pupils(dets[0])
    assert 150 < left[0] < right[0] < 260 and abs(left[1] - right[1]) < 15  # her pupils, image-left first
    crop = align("pupils96x112", img, dets[0])
    # the iris is dark: the template's eye points sit on darker pixels than the crop's mean
    grey = crop.mean(axis=2)
    for x, y in ((30, 52), (66, 52)):
        assert grey[y - 1:y + 2, x - 1:x + 2].mean() < grey.mean()


def test_face_resnet18_stems_and_unit_output():
    face = FaceResNet18(input_size=(112, 96), stem="face")
    small = FaceResNet18(input_size=(56, 48), stem="imagenet")
    assert face.feature_map == (7, 6) and small.feature_map == (2, 2)
    x = torch.randn(3, 3, 112, 96)
    for m in (face.eval(), small.eval()):
        out = m(x)
        assert out.shape == (3, 512)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="stem"):
        FaceResNet18(stem="vgg")


def _tiny_set(n_classes=4, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (n_classes, 1, 112, 96, 3))
    crops = np.clip(base + rng.integers(-20, 20, (n_classes, per_class, 112, 96, 3)), 0, 255).astype(np.uint8)
    crops = crops.reshape(-1, 112, 96, 3)
    labels = np.repeat(np.arange(n_classes), per_class)
    val = (crops[:8], crops[8:16], np.array([True, False] * 4))
    return crops, labels, val


def test_resume_in_the_middle_of_the_warm_up_continues_the_schedule(tmp_path):
    crops, labels, val = _tiny_set()
    recipe = Recipe(warmup_epochs=3, input_size=(28, 24), dim=16, dropout=0.0, lr=0.05)
    data = CropSet(crops, labels, val)

    def run(epochs, folder):
        return Run(epochs, checkpoint_dir=tmp_path / folder, seed=0, device="cpu", progress=False)

    whole, res_whole, margins = train_arcface(data, recipe, run(5, "whole"), 8)
    np.testing.assert_allclose(margins, [0, 0.35 / 3, 0.7 / 3, 0.35, 0.35])
    # interrupted after two epochs (margin 0.117 of 0.35), then rerun for all five
    train_arcface(data, recipe, run(2, "cut"), 8)
    resumed, res, _ = train_arcface(data, recipe, run(5, "cut"), 8)
    assert res.resumed_from == 2
    np.testing.assert_allclose([h["margin"] for h in res.history], margins)
    np.testing.assert_allclose([h["lr"] for h in res.history], [h["lr"] for h in res_whole.history])
    last = {k: torch.load(tmp_path / d / "last.ckpt", weights_only=False)["state_dict"] for k, d in
            (("whole", "whole"), ("cut", "cut"))}
    for k, v in last["whole"].items():  # the margin, the decay and the class centres all came back
        torch.testing.assert_close(last["cut"][k], v, rtol=1e-4, atol=1e-5)


def test_the_adaptive_decay_waits_for_the_margin_and_cuts_on_a_plateau():
    from facekit.models.schedules import DelayedPlateau

    def lrs(start, scores):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = DelayedPlateau(opt, start=start, factor=0.1, patience=1)
        out = []
        for s in scores:
            sched.step(s)
            out.append(opt.param_groups[0]["lr"])
        return out, sched

    falling = [0.5, 0.4, 0.3, 0.2]
    assert lrs(0, falling)[0] == pytest.approx([1.0, 1.0, 0.1, 0.1])  # undelayed: cut after two worse epochs
    assert lrs(3, falling)[0] == [1.0] * 4  # the same scores during a 3-epoch warm-up cut nothing
    _, sched = lrs(1, [0.5, 0.6, 0.6])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    again = DelayedPlateau(opt, start=0, factor=0.1, patience=1)
    again.load_state_dict(sched.state_dict())  # resumed: start, counts and best score are restored
    again.step(0.6)
    assert (again.start, again.scored) == (1, 4) and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    r = Recipe(warmup_epochs=2)
    assert r.decay == "plateau" and isinstance(r.scheduler(opt, 10), DelayedPlateau) and r.start() == 2
    assert isinstance(Recipe(decay="cosine").scheduler(opt, 10), torch.optim.lr_scheduler.LambdaLR)


def test_a_row_whose_decay_makes_the_recipe_s_cuts_trains_bitwise_as_the_recipe(tmp_path):
    """``trains_as`` lets chapter 06 skip a row that would repeat the recipe's training: it holds only where the
    two plateau decays set the same rate every epoch, and then a real training of the row gives the recipe's
    weights bit for bit. ``plateau_rates`` replays the rates the training loop ran at."""
    import dataclasses

    from facekit.arcface import plateau_rates, trains_as

    crops, labels, val = _tiny_set()
    recipe = Recipe(warmup_epochs=2, input_size=(28, 24), dim=16, dropout=0.0, lr=0.05, patience=10)
    undelayed = dataclasses.replace(recipe, decay_start=0)  # chapter 06's "no delayed decay" row

    def train(r, folder):
        model, res, _ = train_arcface(CropSet(crops, labels, val), r,
                                      Run(2, checkpoint_dir=tmp_path / folder, seed=0, device="cpu", progress=False), 8)
        return model, res

    model, res = train(recipe, "recipe")
    scores = [h["val"] for h in res.history]
    assert plateau_rates(recipe, scores) == [h["lr"] for h in res.history]
    assert trains_as(recipe, undelayed, scores)  # patience 10 in 2 epochs: neither decay ever cuts
    twin, twin_res = train(undelayed, "undelayed")
    assert [h["val"] for h in twin_res.history] == scores
    for k, v in model.state_dict().items():
        assert torch.equal(twin.state_dict()[k], v), k
    # scores that stall from the start: the undelayed decay cuts after epoch 2, the recipe's only after epoch 4
    falling = [0.5, 0.4, 0.3, 0.2, 0.1]
    short = dataclasses.replace(recipe, patience=1)
    assert plateau_rates(short, falling) == pytest.approx([0.05] * 5)
    assert plateau_rates(dataclasses.replace(short, decay_start=0), falling) == pytest.approx([0.05] * 3 + [0.005] * 2)
    assert not trains_as(short, dataclasses.replace(short, decay_start=0), falling)
    rising = [0.1, 0.2, 0.3, 0.4, 0.4]  # one stalled epoch at the end: patience 1 cuts for neither
    assert trains_as(short, dataclasses.replace(short, decay_start=0), rising)
    for other in (dataclasses.replace(recipe, margin=0.5), dataclasses.replace(recipe, decay="cosine"),
                  dataclasses.replace(recipe, warmup_epochs=0, decay_start=2)):
        assert not trains_as(recipe, other, scores)  # anything but the plateau's settings: another training


def test_chapter_06_reuses_the_recipe_s_run_only_for_a_row_that_would_repeat_it():
    """``repeats`` over chapter 06's rows: with validation scores that never stall, the undelayed row takes the
    recipe's run; every other row (other crops, margin, warm-up or decay) trains, and so does the undelayed one
    where its decay would cut at another epoch."""
    from facekit.studies import arcface_resnet as ar

    rows = {v.label: v for v in ar.variants(ar.CHAPTER.params("cpu"))}
    recipe = rows["report recipe"]

    def run(scores):
        return {"crops": recipe.crops, "recipe": recipe.recipe, "history": [{"val": s} for s in scores]}

    climbing = run([0.60, 0.62, 0.65, 0.66, 0.67, 0.68])
    assert ar.repeats([climbing], rows["no delayed decay"]) is climbing
    assert [label for label, v in rows.items() if ar.repeats([climbing], v) is not None] == ["report recipe",
                                                                                              "no delayed decay"]
    assert ar.repeats([run([0.60, 0.59, 0.58, 0.66, 0.67, 0.68])], rows["no delayed decay"]) is None


def test_the_minutes_plot_leaves_out_a_row_that_took_another_s_model():
    """A row that reused the recipe's training spent no minute: the score-against-minutes plot draws the rows that
    trained, each with the seed asked for, and not the reused one (its curve would hide the recipe's)."""
    from facekit.studies import arcface_resnet as ar

    rows = ar.variants(ar.CHAPTER.params("cpu"))
    trained = {(v.label, s): {"history": [{"val": 0.5, "seconds": 60.0 * (s + 1)}], "same_training_as": None}
               for v in rows for s in (0, 1)}
    trained["no delayed decay", 0]["same_training_as"] = "report recipe"
    drawn = ar.minutes_histories(trained, rows, 0)
    assert list(drawn) == [v.label for v in rows if v.label != "no delayed decay"]
    assert drawn["report recipe"] == [{"val": 0.5, "seconds": 60.0}]
    assert "no delayed decay" in ar.minutes_histories(trained, rows, 1)


def test_pose_bins_verifies_lfw_once_not_once_per_pair(monkeypatch, tmp_path):
    """``lfw.root()`` walks LFW's 13,233 files to verify them (0.15 s): the pose bins of 3,000 test pairs called it
    per path (about 8 minutes of chapter 06); they call it once, and bin each same pair by its faces' yaw."""
    from types import SimpleNamespace

    import pandas as pd

    from facekit.studies import arcface_resnet as ar

    calls = []
    monkeypatch.setattr(ar.lfw, "root", lambda: calls.append(1) or tmp_path)

    def faces(images, progress=False):  # nose offsets 0..7 px: yaw grows with the image's number
        return None, [(SimpleNamespace(landmarks=np.array([[10, 10], [30, 10], [20 + int(p.stem[-1]), 20],
                                                           [12, 30], [28, 30]], float)), None) for p in images]

    monkeypatch.setattr(ar, "LFW_MOBILEFACENET", SimpleNamespace(faces=faces))
    table = pd.DataFrame({"same": [True] * 8 + [False], "name1": ["A"] * 9, "index1": [0] * 9,
                          "name2": ["A"] * 9, "index2": list(range(9)), "score": np.linspace(0.2, 0.9, 9)})
    same, by_bin = ar.pose_bins(table, calibrated=0.5)
    assert len(calls) == 1
    assert len(same) == 8 and same.yaw_difference.is_monotonic_increasing and by_bin.pairs.sum() == 8
