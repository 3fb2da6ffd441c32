"""The fit loop resumes from its last checkpoint, keeps the best epoch, and the embedding cache spares work."""

from __future__ import annotations

import numpy as np
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
