"""The Lightning fit resumes from its last checkpoint (loss centres included), keeps the best epoch, starts fresh
when its training data changes; the embedding cache spares work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facekit.train import CropSet, Run, Task, fit


def _toy():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95, 0.1])

    def batches(epoch, device):
        yield x.to(device), y.to(device)

    return model, torch.nn.functional.cross_entropy, batches, lambda: next(scores)


def _sgd(params):
    return torch.optim.SGD(params, lr=0.5)


def test_fit_resumes_and_keeps_best(tmp_path):
    model, loss, batches, val = _toy()
    r1 = fit(Task(model, loss, batches, val, _sgd), Run(3, checkpoint_dir=tmp_path, progress=False, device="cpu"))
    assert [h["epoch"] for h in r1.history] == [0, 1, 2] and r1.best_epoch == 1
    assert (tmp_path / "logs" / "version_0" / "metrics.csv").exists()  # the CSV log the chapters plot
    # "interrupted" after 3 of 5 epochs: a new process continues at epoch 3 with the same history
    model2, loss2, batches2, _ = _toy()
    rest = iter([0.6, 0.95])
    r2 = fit(Task(model2, loss2, batches2, lambda: next(rest), _sgd),
             Run(5, checkpoint_dir=tmp_path, progress=False, device="cpu"))
    assert r2.resumed_from == 3 and [h["epoch"] for h in r2.history] == [0, 1, 2, 3, 4]
    assert r2.best_epoch == 4 and r2.best_score == 0.95
    best = torch.load(tmp_path / "best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(best[f"model.{k}"], v) for k, v in model2.state_dict().items())


def test_an_epoch_both_best_and_last_is_written_once_and_a_killed_runs_partial_never_corrupts_best(tmp_path):
    """An improving epoch writes ``best.ckpt`` once and links ``last.ckpt`` to it; the next epoch's ``last.ckpt``
    replaces the link and leaves ``best.ckpt`` as it was, even where a killed run left a partial linked to it."""
    import os

    from facekit.train import _checkpoints_class

    history, writes = [], []

    class Trainer:  # what the callback asks of Lightning's Trainer
        sanity_checking, is_global_zero = False, True

        def save_checkpoint(self, path):  # opened for writing as torch.save does: through any link
            writes.append(Path(path).name)
            Path(path).write_bytes(f"epoch {len(history)}".encode())

    module = type("Module", (), {"history": history})()
    callback = _checkpoints_class()(tmp_path)
    for score in (0.5, 0.7):
        history.append({"val": score})
        callback.on_validation_end(Trainer(), module)
    assert os.path.samefile(tmp_path / "best.ckpt", tmp_path / "last.ckpt")
    os.link(tmp_path / "best.ckpt", tmp_path / ".last.ckpt.partial")  # a run killed between link and move
    history.append({"val": 0.6})
    callback.on_validation_end(Trainer(), module)
    assert writes == [".best.ckpt.partial", ".best.ckpt.partial", ".last.ckpt.partial"]  # three epochs, 3 writes
    assert (tmp_path / "best.ckpt").read_bytes() == b"epoch 2" and (tmp_path / "last.ckpt").read_bytes() == b"epoch 3"
    assert not list(tmp_path.glob(".*.partial"))


def _lr_run(ckpt, epochs, group=1):
    torch.manual_seed(0)
    x, model = torch.randn(64, 4), torch.nn.Linear(4, 2)
    y = (x[:, 0] > 0).long()

    def batches(epoch, device):  # four steps per epoch
        for i in range(0, 64, 16):
            yield x[i:i + 16], y[i:i + 16]

    task = Task(model, torch.nn.functional.cross_entropy, batches, lambda: 0.5, _sgd,
                scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    return model, fit(task, Run(epochs, checkpoint_dir=ckpt, progress=False, device="cpu", group=group))


def test_scheduler_steps_per_epoch_across_a_resume_and_grouping_changes_nothing(tmp_path):
    _, r = _lr_run(tmp_path / "a", 2)
    _, r = _lr_run(tmp_path / "a", 4)  # resumed at epoch 2
    assert r.resumed_from == 2 and [h["lr"] for h in r.history] == [0.5, 0.25, 0.125, 0.0625]
    one, _ = _lr_run(None, 3)
    grouped, _ = _lr_run(None, 3, group=3)  # 4 steps per epoch as chunks of 3 + 1: the same optimizer steps
    torch.manual_seed(0)
    torch.randn(64, 4)
    start = torch.nn.Linear(4, 2).weight  # the weights both runs started from
    assert torch.allclose(one.weight, grouped.weight) and not torch.allclose(one.weight, start)


def test_fit_early_stop(tmp_path):
    model, loss, batches, _ = _toy()
    vals = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    r = fit(Task(model, loss, batches, lambda: next(vals), _sgd), Run(6, patience=2, progress=False, device="cpu"))
    assert r.stopped_early and len(r.history) == 3


def test_a_run_stopped_at_its_plateau_is_the_first_part_of_the_full_run(tmp_path):
    """Early stopping saves minutes without changing the model kept (report 001's cpu rows): the schedule still
    spans every epoch, so the stopped run's epochs, learning rates and best weights are the full run's."""
    def run(folder, patience):
        torch.manual_seed(0)
        x, model = torch.randn(64, 4), torch.nn.Linear(4, 2)
        y = (x[:, 0] > 0).long()
        scores = iter([0.5, 0.8, 0.7, 0.75, 0.6, 0.6, 0.7, 0.65])  # the best at epoch 1, never beaten

        def batches(epoch, device):
            for i in range(0, 64, 16):
                yield x[i:i + 16], y[i:i + 16]

        task = Task(model, torch.nn.functional.cross_entropy, batches, lambda: next(scores), _sgd,
                    scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8))
        r = fit(task, Run(8, checkpoint_dir=tmp_path / folder, patience=patience, progress=False, device="cpu"))
        return r, torch.load(tmp_path / folder / "best.ckpt", weights_only=False)["state_dict"]

    full, full_best = run("full", None)
    stopped, stopped_best = run("stopped", 3)
    assert not full.stopped_early and len(full.history) == 8
    assert stopped.stopped_early and len(stopped.history) == 5  # epoch 1 + 3 epochs without a better score
    assert stopped.best_epoch == full.best_epoch == 1 and stopped.best_score == full.best_score
    assert [h["lr"] for h in stopped.history] == [h["lr"] for h in full.history[:5]]
    assert all(torch.equal(stopped_best[k], v) for k, v in full_best.items())


def _arcface_run(ckpt, epochs: int, seed: int = 0):
    """A tiny ArcFace model: 6 people x 4 synthetic 32 px crops; returns (model, fit result)."""
    from facekit.metric_training import MetricRecipe, train_metric_model
    from facekit.studies.metric_learning import REPORT_001

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (6, 1, 112, 112, 3))
    crops = np.clip(base + rng.integers(-20, 20, (6, 4, 112, 112, 3)), 0, 255).astype(np.uint8).reshape(-1, 112,
                                                                                                         112, 3)
    labels = np.repeat(np.arange(6), 4)
    val = (crops[[0, 4, 8]], crops[[1, 12, 9]], np.array([True, False, True]))
    return train_metric_model(REPORT_001[0], CropSet(crops, labels, val), MetricRecipe(8, 32),
                              Run(epochs, checkpoint_dir=ckpt, seed=seed, device="cpu", progress=False))


def test_resume_restores_arcface_centres(tmp_path):
    """A run stopped after 2 epochs and resumed to 4 has, at epoch 3, the loss of an uninterrupted 4-epoch run:
    the loss's class centres (ArcFaceLoss.W) come back with the model and the optimizer's moments."""
    import facekit.metric_training as M

    _, full = _arcface_run(tmp_path / "full", 4)
    calls, real = [], M.pair_accuracy

    def dies_in_epoch_3(*args):  # the process "dies" during the third epoch's validation
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args)

    M.pair_accuracy = dies_in_epoch_3
    try:
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            _arcface_run(tmp_path / "split", 4)
    finally:
        M.pair_accuracy = real
    ckpt = torch.load(tmp_path / "split" / "last.ckpt", weights_only=False)
    first = ckpt["facekit_history"]
    assert "loss_module.W" in ckpt["state_dict"]  # the centres are in the checkpoint
    _, resumed = _arcface_run(tmp_path / "split", 4)
    assert resumed.resumed_from == 2
    losses_full = [h["loss"] for h in full.history]
    losses_resumed = [h["loss"] for h in resumed.history]
    assert losses_resumed[:2] == [h["loss"] for h in first]
    assert losses_resumed[2] == pytest.approx(losses_full[2], rel=1e-4)
    assert losses_resumed[3] == pytest.approx(losses_full[3], rel=1e-4)


def test_checkpoint_dir_is_keyed_by_content(isolated):
    """A changed training set (or budget) gets another folder: it starts fresh instead of resuming."""
    from facekit.studies.kit import Study

    st = Study("03_metric_learning", "smoke", seed=0)
    crops = np.zeros((4, 8, 8, 3), np.uint8)
    labels = np.array([0, 0, 1, 1])
    a = st.checkpoint_dir("m", {"epochs": 2}, crops, labels)
    assert a == st.checkpoint_dir("m", {"epochs": 2}, crops.copy(), labels.copy())
    assert a.name.startswith("m-") and a.parent.name == "03_metric_learning"
    changed = crops.copy()
    changed[0, 0, 0, 0] = 1
    assert st.checkpoint_dir("m", {"epochs": 2}, changed, labels) != a
    assert st.checkpoint_dir("m", {"epochs": 2}, crops, labels[::-1].copy()) != a
    assert st.checkpoint_dir("m", {"epochs": 3}, crops, labels) != a
    assert Study("03_metric_learning", "smoke", seed=1).checkpoint_dir("m", {"epochs": 2}, crops, labels) != a


def test_a_cpu_run_never_resumes_a_checkpoint_trained_on_a_gpu(isolated, monkeypatch):
    """The checkpoint folder names a device other than the CPU (a GPU trains with mixed precision: other weights);
    on the CPU the key is the one written before devices were named, so warm CPU checkpoints stay valid."""
    from facekit import paths
    from facekit.store import fingerprint
    from facekit.studies.kit import Study

    def folder(dev: str):
        return Study("03_metric_learning", "smoke", seed=0, _device=dev).checkpoint_dir("m", {"epochs": 2})

    monkeypatch.delenv("FACEKIT_CORES", raising=False)  # every core: no share in the key
    cpu = folder("cpu")
    assert cpu == paths.cache_dir() / "checkpoints" / "smoke" / "03_metric_learning" / \
        f"m-{fingerprint(0, 'm', {'epochs': 2})}"
    assert folder("cuda") != cpu and folder("mps") not in (cpu, folder("cuda"))
    assert folder("cuda:1") == folder("cuda")  # the device's kind, not its index


def test_a_run_with_every_core_never_resumes_a_checkpoint_trained_on_a_share(isolated, monkeypatch):
    """A chapter the book runs beside another (``--jobs``) trains with its share of the cores, hence other weights:
    its checkpoint folder names the share; a run with every core keeps the key it had before shares were named."""
    import os

    from facekit import paths
    from facekit.store import fingerprint
    from facekit.studies.kit import Study

    def folder(dev: str = "cpu"):
        return Study("03_metric_learning", "smoke", seed=0, _device=dev).checkpoint_dir("m", {"epochs": 2})

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv("FACEKIT_CORES", raising=False)
    every, gpu = folder(), folder("cuda")
    assert every == paths.cache_dir() / "checkpoints" / "smoke" / "03_metric_learning" / \
        f"m-{fingerprint(0, 'm', {'epochs': 2})}"
    monkeypatch.setenv("FACEKIT_CORES", "4")
    assert folder() == every
    monkeypatch.setenv("FACEKIT_CORES", "2")
    half = folder()
    monkeypatch.setenv("FACEKIT_CORES", "1")
    assert len({every, half, folder()}) == 3
    assert folder("cuda") == gpu  # a GPU's share of CPU cores does not shape its weights


def test_embedding_cache_spares_the_embedder(isolated, mirror_data):
    from facekit.data import lfw
    from facekit.face_path import FacePath
    from facekit.models.embedders import get_embedder

    paths = list(lfw.images().path[:6])
    emb = get_embedder("mobilefacenet-casia")
    calls = []
    real = emb.embed
    emb.embed = lambda crops: (calls.append(len(crops)), real(crops))[1]
    fp = FacePath("retinaface", "mobilefacenet-casia")
    first = fp.embed(paths, embedder=emb, progress=False)
    assert sum(calls) == 6 and first.ok.all()
    calls.clear()
    second = fp.embed(paths, embedder=emb, progress=False)
    assert calls == [] and np.allclose(first.embeddings, second.embeddings)


def test_folder_training_path_runs_and_tests_all_folds(isolated, mirror_data, tmp_path):
    """The full profile trains on an identity-per-folder set (CASIA-WebFace there): the same code path on a tiny
    folder made from LFW people of fold 1, tested on all ten folds."""
    import shutil

    from facekit.data import lfw
    from facekit.results import read_result
    from facekit.studies import metric_learning as ml
    from facekit.studies.metric_learning import REPORT_001

    imgs = lfw.images()
    multi = imgs.groupby("name").size()
    people = list(multi[multi >= 3].index[:10])
    for name in people:
        (tmp_path / "ds" / name).mkdir(parents=True)
        for p in imgs[imgs.name == name].path[:3]:
            shutil.copy(p, tmp_path / "ds" / name / p.name)
    st = ml.CHAPTER.study("smoke", 0)
    tp = ml.TrainParams(epochs=1, batch_size=8, input_size=32, pairs_per_fold=2, val_pairs=8,
                        train_folder=str(tmp_path / "ds"))
    st.params = st.params.__class__(**{**st.params.__dict__, "inception": tp})
    out = ml.run_trained(st, REPORT_001[1])
    rec = read_result("smoke", ml.CHAPTER.name, "inception-triplet_lfw-view2")
    assert rec["protocol"] == "view2-10fold" and rec["metrics"]["pairs"] == 20
    assert rec["metrics"]["train_people"] <= 10 and 0.0 <= out["metrics"]["accuracy"] <= 1.0
    assert rec["reported"]["source"].startswith("report 001")


def test_choose_faces_policy_and_mean_fallback():
    from facekit.detect import Detection
    from facekit.detect.cache import Detected
    from facekit.face_path import FacePath

    def choose_faces(detected, policy, fallback, backup=None):
        return FacePath("retinaface", aligner="arcface112", policy=policy, fallback=fallback).choose(detected, backup)

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
    from facekit.face_path import FacePath

    def choose_faces(detected, policy, fallback, backup=None):
        return FacePath("retinaface", aligner="arcface112", policy=policy, fallback=fallback).choose(detected, backup)

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


def test_gpu_check_script_runs_on_the_cpu(monkeypatch, capsys, tmp_path):
    """benchmarks/gpu_check.py (meant for a GPU box) runs end to end at tiny sizes: fit, resume, bare loop."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setenv("FACEKIT_DEVICE", "cpu")
    out = tmp_path / "rows.json"
    monkeypatch.setattr(sys, "argv", ["gpu_check", "--quick", "--models", "resnet18-arcface", "--json", str(out)])
    mod.main()
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["resnet18-arcface"]
    assert rows[0]["resumed_from"] == 2 and rows[0]["epochs_after_resume"] == 3
    assert rows[0]["fit_images_per_s"] > 0 and rows[0]["bare_images_per_s"] > 0
    assert "bare/fit" in capsys.readouterr().out


def test_direct_steps_equal_lightnings_dispatch_and_checkpoint_every_epoch(tmp_path, monkeypatch):
    """Where no hook needs dispatching, ``training_step`` calls backward and the optimizer itself (no private
    Lightning call): the weights and the history equal those of Lightning's own dispatch, and both write
    ``last.ckpt`` after every epoch and ``best.ckpt`` at the best one (facekit's checkpoint callback does not
    depend on Lightning's step counter, which only the dispatch advances)."""
    from facekit import train

    seen = []
    real = train._nothing_to_dispatch
    monkeypatch.setattr(train, "_nothing_to_dispatch", lambda t: seen.append(real(t)) or seen[-1])
    m1, r1 = _lr_run(tmp_path / "direct", 3, group=2)
    assert seen == [True]  # full precision, one CPU process, no step hooks: the direct path was taken
    monkeypatch.setattr(train, "_nothing_to_dispatch", lambda t: False)
    m2, r2 = _lr_run(tmp_path / "dispatch", 3, group=2)
    assert [h["loss"] for h in r1.history] == pytest.approx([h["loss"] for h in r2.history], rel=1e-6)
    assert all(torch.allclose(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))
    for run in ("direct", "dispatch"):
        last = torch.load(tmp_path / run / "last.ckpt", weights_only=False)
        best = torch.load(tmp_path / run / "best.ckpt", weights_only=False)
        assert last["epoch"] == 2 and best["epoch"] == 0  # the score never improved after the first epoch
    assert not list((tmp_path / "direct").glob(".*.partial"))  # saves are moved into place


def test_a_callback_with_a_step_hook_keeps_lightnings_dispatch():
    """A callback that implements a per-step hook (or a non-plain precision) turns the direct path off."""
    import lightning.pytorch as pl

    from facekit.train import _nothing_to_dispatch

    class Spy(pl.Callback):
        def on_before_backward(self, trainer, pl_module, loss):
            pass

    plain = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    hooked = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Spy()])
    bf16 = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                      precision="bf16-mixed")
    for t in (plain, hooked, bf16):
        t.strategy.connect(pl.LightningModule())
    assert _nothing_to_dispatch(plain) and not _nothing_to_dispatch(hooked) and not _nothing_to_dispatch(bf16)


def test_fit_takes_batches_of_lists_and_dicts(tmp_path):
    """A batch need not be a pair of tensors: the R-CNN's (list of images, list of target dicts) goes through
    Lightning's own device transfer and trains."""

    class ListModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 1)

        def forward(self, xs):
            return torch.cat([self.lin(x) for x in xs])

    torch.manual_seed(0)
    xs = [torch.randn(3, 4) for _ in range(4)]
    targets = [{"y": torch.randn(3, 1)} for _ in range(4)]

    def batches(epoch, device):
        for i in range(0, 4, 2):
            yield xs[i:i + 2], targets[i:i + 2]

    def loss_fn(out, tg):
        return torch.nn.functional.mse_loss(out, torch.cat([t["y"] for t in tg]))

    r = fit(Task(ListModel(), loss_fn, batches, lambda: 0.5, lambda p: torch.optim.SGD(p, lr=0.05)),
            Run(2, checkpoint_dir=tmp_path, progress=False, device="cpu"))
    assert len(r.history) == 2 and r.history[1]["loss"] < r.history[0]["loss"]


def test_early_stopping_on_a_rising_validation_loss_keeps_the_best_epoch_by_score():
    model, loss, batches, _ = _toy()
    scores, losses = iter([0.5, 0.9, 0.7, 0.95, 0.6, 0.1]), iter([1.0, 0.8, 0.9, 1.1, 1.2, 1.3])
    task = Task(model, loss, batches, lambda: next(scores), _sgd, val_loss=lambda: next(losses))
    r = fit(task, Run(6, patience=2, stop_on="val_loss", progress=False, device="cpu"))
    # the loss was lowest at epoch 1: epochs 2 and 3 did not beat it, so the run stops after epoch 3
    assert r.stopped_early and len(r.history) == 4
    assert [h["val_loss"] for h in r.history] == [1.0, 0.8, 0.9, 1.1]
    assert r.best_epoch == 3  # the kept epoch is still the best by score (0.95), not by loss
    with pytest.raises(ValueError, match="val_loss"):
        fit(Task(model, loss, batches, lambda: 0.5, _sgd), Run(2, patience=1, stop_on="val_loss", progress=False,
                                                               device="cpu"))


def test_a_plateau_scheduler_is_stepped_with_the_validation_score(tmp_path):
    from facekit.models.schedules import DelayedPlateau

    def run(epochs):
        model, loss, batches, _ = _toy()
        scores = iter([0.5, 0.4, 0.6, 0.6, 0.6, 0.6][:epochs])
        task = Task(model, loss, batches, lambda: next(scores), _sgd,
                    scheduler=lambda opt: DelayedPlateau(opt, start=2, factor=0.1, patience=1))
        return fit(task, Run(epochs, checkpoint_dir=tmp_path, progress=False, device="cpu"))

    run(3)  # interrupted after three epochs, then resumed: the plateau's counters come back from the checkpoint
    r = run(6)
    assert r.resumed_from == 3
    # the drop at epoch 1 falls in the warm-up and cuts nothing; 0.6 at epoch 2 is the best, epochs 3 and 4 do
    # not beat it (patience 1): the rate is cut once, for epoch 5
    assert [h["lr"] for h in r.history] == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.5, 0.05])


def test_early_stopping_resumes_its_count_and_a_stopped_run_is_not_restarted(tmp_path):
    def run(epochs, scores):
        model, loss, batches, _ = _toy()
        it = iter(scores)
        return fit(Task(model, loss, batches, lambda: next(it), _sgd),
                   Run(epochs, checkpoint_dir=tmp_path, patience=2, progress=False, device="cpu"))

    first = run(2, [0.9, 0.5])  # interrupted after two epochs, one without improvement
    assert len(first.history) == 2 and not first.stopped_early
    resumed = run(6, [0.4, 0.3, 0.2])  # the second epoch without improvement stops it at once
    assert resumed.resumed_from == 2 and resumed.stopped_early and len(resumed.history) == 3
    again = run(6, [])  # nothing left to do: no epoch runs (no score is asked for), the same best epoch loads
    assert again.stopped_early and [h["val"] for h in again.history] == [0.9, 0.5, 0.4] and again.best_epoch == 0


def test_score_against_minutes_accumulates_each_epochs_seconds():
    """The budget plot: x is the running sum of the epochs' seconds in minutes, the label says the budget spent
    and the best score; a training without a logged epoch is named, not drawn."""
    import matplotlib.pyplot as plt

    from facekit import plots

    fig, ax = plt.subplots()
    hist = [{"epoch": 0, "val": 0.6, "seconds": 30.0}, {"epoch": 1, "val": 0.7, "seconds": 90.0},
            {"epoch": 2, "val": 0.65, "seconds": 60.0}]
    plots.score_vs_minutes({"a": hist, "b": []}, ax, ylabel="pair accuracy")
    line = ax.get_lines()[0]
    assert np.allclose(line.get_xdata(), [0.5, 2.0, 3.0]) and np.allclose(line.get_ydata(), [0.6, 0.7, 0.65])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a: 3 epochs, 3.0 min, best 0.700", "b: no epoch logged"]
    assert ax.get_ylabel() == "pair accuracy"
    plt.close(fig)
