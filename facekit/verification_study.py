"""The LFW verification study (report 001's chapter): pretrained embedders on all folds and on folds 6-10, a
measured ablation of the dlib path, the three report-001 models trained from scratch on identity-disjoint LFW
people, and the calibration that ``facekit verify`` uses. Every number is written as a results record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from facekit import paths, weights
from facekit.detect import get_detector
from facekit.embed import aligned_crops, embed_images
from facekit.metric_learning import (
    REPORTED_SOURCE,
    MetricModelSpec,
    as_embedder,
    folder_split,
    lfw_split,
    train_metric_model,
)
from facekit.models.embedders import get_embedder
from facekit.results import write_result, write_table
from facekit.verification import LFW_POLICY, evaluate_lfw, evaluate_pairs, pair_scores, select_pairs

STUDY = "02_metric_learning"
TEST_FOLDS = (6, 7, 8, 9, 10)


def _weights_sha(*objs: Any) -> dict[str, str]:
    out = {}
    for o in objs:
        for w in getattr(o, "weights", ()):
            out[w] = weights.sha256_of(w)
    return out


def run_pretrained(embedder_name: str, detector_name: str, profile: str, *, detector_kwargs: dict | None = None,
                   embedder_kwargs: dict | None = None, pairs_per_fold: int | None = None, seed: int = 0,
                   label: str | None = None, reported: dict | None = None, substitute_for: str | None = None,
                   backup_detector: str | None = None) -> dict[str, dict]:
    """A pretrained embedder on all ten folds, and the same scores restricted to folds 6-10 (5-fold CV inside
    them) so that it sits in one column with the models trained on LFW people. ``backup_detector`` supplies the
    face where ``detector_name`` finds none."""
    det = get_detector(detector_name, **(detector_kwargs or {}))
    backup = get_detector(backup_detector) if backup_detector else None
    emb = get_embedder(embedder_name, **(embedder_kwargs or {}))
    label = label or embedder_name
    metrics, kf, table = evaluate_lfw(emb, det, pairs_per_fold=pairs_per_fold, backup=backup)
    pairs = select_pairs(None, pairs_per_fold)
    sub, sub_kf = evaluate_pairs(table.score.to_numpy(), pairs, TEST_FOLDS)
    extra = {"detector": detector_name, "detector_kwargs": detector_kwargs or {}, "backup_detector": backup_detector,
             "policy": LFW_POLICY, "embedder": embedder_name,
             "embedder_kwargs": embedder_kwargs or {}, "fold_accuracy": kf["fold_accuracy"],
             "fold_threshold": kf["fold_threshold"], "preprocessing": str(emb.preprocessing)}
    common = dict(profile=profile, dataset="lfw", model=embedder_name, seed=seed, reported=reported,
                  substitute_for=substitute_for, weights_sha256=_weights_sha(det, emb))
    write_result(STUDY, f"{label}_lfw-view2", protocol="view2-10fold", metrics=metrics, extra=extra, **common)
    write_result(STUDY, f"{label}_lfw-folds6-10", protocol="view2-folds6-10-5fold-cv", metrics=sub,
                 extra={**extra, "fold_accuracy": sub_kf["fold_accuracy"]}, **common)
    write_table(STUDY, f"{label}_lfw_pairs", table, profile=profile)
    return {"all": metrics, "folds6_10": sub}


def _protocol(folds: tuple[int, ...], pairs_per_fold: int | None) -> str:
    tag = f"view2-folds{'-'.join(map(str, folds))}"
    return f"{tag}-{pairs_per_fold}-pairs-per-fold" if pairs_per_fold else tag


def run_ablation(profile: str, folds: tuple[int, ...], pairs_per_fold: int | None, variants: list[dict],
                 seed: int = 0) -> pd.DataFrame:
    """dlib-resnet under several choices (detector for the chip, face policy, backup detector, fallback, jitter)
    on the same pairs. Each variant names its detector; its other keys override the defaults (LFW's central face,
    no backup detector, mean-face fallback, euclidean distance, no jitter)."""
    rows = []
    for v in variants:
        det = get_detector(v["detector"], **v.get("detector_kwargs", {}))
        backup = get_detector(v["backup"]) if v.get("backup") else None
        emb = get_embedder("dlib-resnet", **v.get("embedder_kwargs", {}))
        metrics, _, _ = evaluate_lfw(emb, det, folds=folds, fallback=v.get("fallback", "mean"),
                                     pairs_per_fold=v.get("pairs_per_fold", pairs_per_fold),
                                     policy=v.get("policy", LFW_POLICY), backup=backup)
        write_result(STUDY, f"ablation_{v['label']}", profile=profile, dataset="lfw",
                     protocol=_protocol(folds, v.get("pairs_per_fold", pairs_per_fold)),
                     model="dlib-resnet", metrics=metrics, seed=seed, extra={"variant": v},
                     weights_sha256=_weights_sha(det, emb))
        rows.append({"variant": v["label"], **metrics})
    return pd.DataFrame(rows)


def run_trained(spec: MetricModelSpec, profile: str, params: dict[str, Any], seed: int = 0,
                detector_name: str = "retinaface") -> dict:
    """Train one report-001 model and test it on LFW.

    Default (smoke, cpu): LFW people outside the pairs of folds 5-10, epoch chosen on fold 5, tested on folds 6-10.
    With ``params["train_dataset"]`` (a registered identity-per-folder dataset, full profile) or
    ``params["train_folder"]`` (a path): trained on that set, epoch chosen on pairs of its held-out people, tested
    on all ten folds."""
    det = get_detector(detector_name)
    folder = params.get("train_folder")
    if params.get("train_dataset"):
        from facekit.data import sources

        folder = sources.ensure(params["train_dataset"]) / params.get("train_subfolder", "")
    if folder:
        train, val = folder_split(Path(folder), seed=seed, val_pairs=params.get("val_pairs", 600))
        test_folds, tag = tuple(range(1, 11)), "lfw-view2"
        protocol, described = "view2-10fold", f"train: {folder}; validation: pairs of held-out people; test: all folds"
    else:
        split = lfw_split(val_fold=5, test_folds=TEST_FOLDS, max_people=params.get("max_people"), seed=seed)
        train, val = split.train, split.val_pairs
        if params.get("pairs_per_fold"):
            half = params["pairs_per_fold"] // 2
            val = val.groupby("same", group_keys=False).head(half).reset_index(drop=True)
        test_folds, tag = TEST_FOLDS, "lfw-folds6-10"
        protocol = "view2-folds6-10-5fold-cv"
        described = ("train: people outside the pairs of folds 5-10 with >= 2 images; validation: fold 5 pairs; "
                     "test: folds 6-10 pairs")
    policy = "largest" if folder else LFW_POLICY
    train_crops, _ = aligned_crops(list(train.path), det, policy=policy)
    val_imgs = list(dict.fromkeys([*val.path1, *val.path2]))
    val_crops, _ = aligned_crops(val_imgs, det, policy=policy)
    where = {p: i for i, p in enumerate(val_imgs)}
    val_t = (val_crops[[where[p] for p in val.path1]], val_crops[[where[p] for p in val.path2]], val.same.to_numpy())
    ckpt = paths.cache_dir() / "checkpoints" / profile / spec.name
    model, fitres = train_metric_model(
        spec, train_crops, train.label.to_numpy(), val_t, epochs=params["epochs"],
        batch_size=params["batch_size"], input_size=params["input_size"], lr=params.get("lr", 1e-3),
        checkpoint_dir=ckpt, seed=seed)
    emb = as_embedder(spec, model, params["input_size"])
    pairs = select_pairs(test_folds, params.get("pairs_per_fold"))
    images = list(dict.fromkeys([*pairs.path1, *pairs.path2]))
    embedded = embed_images(images, emb, det, cache=False, policy=LFW_POLICY)
    scores = pair_scores(embedded, pairs)
    metrics, kf = evaluate_pairs(scores, pairs)
    metrics.update({"train_images": len(train), "train_people": int(train.label.nunique()),
                    "best_epoch": fitres.best_epoch, "epochs": params["epochs"]})
    train_seconds = float(sum(h["seconds"] for h in fitres.history))
    write_result(STUDY, f"{spec.name}_{tag}", profile=profile, dataset="lfw", protocol=protocol, model=spec.name,
                 metrics=metrics, seed=seed, timings={"train_seconds": train_seconds},
                 reported={"source": REPORTED_SOURCE, "accuracy": spec.reported_accuracy,
                           "model": spec.reported_as, "note": "their training data and folds, not ours"},
                 extra={"history": fitres.history, "params": params, "backbone": spec.backbone, "loss": spec.loss,
                        "dim": spec.dim, "fold_accuracy": kf["fold_accuracy"], "resumed_from": fitres.resumed_from,
                        "train_val_test": described})
    write_table(STUDY, f"{spec.name}_lfw_pairs", pairs[["fold", "same"]].assign(score=scores), profile=profile)
    return {"metrics": metrics, "history": fitres.history, "model": model, "embedder": emb}


def projection(embedder_name: str | None, embedder=None, detector_name: str = "retinaface", people: int = 20,
               per_person: int = 10, seed: int = 0) -> pd.DataFrame:
    """t-SNE of the embeddings of ``people`` LFW identities with the most images (for a 2-D picture)."""
    from sklearn.manifold import TSNE

    from facekit.data import lfw

    imgs = lfw.images()
    top = imgs.groupby("name").size().sort_values(ascending=False).index[:people]
    sel = imgs[imgs.name.isin(top)].groupby("name").head(per_person).reset_index(drop=True)
    emb = embedder or get_embedder(embedder_name)
    e = embed_images(list(sel.path), emb, get_detector(detector_name), progress=False, policy=LFW_POLICY)
    xy = TSNE(n_components=2, perplexity=min(30, len(sel) // 4), random_state=seed, init="pca").fit_transform(
        e.embeddings)
    return sel.assign(x=xy[:, 0], y=xy[:, 1])


def checkpoint_exists(profile: str, spec: MetricModelSpec) -> bool:
    """Whether a finished training run is cached (the chapter says when it reused one)."""
    return (paths.cache_dir() / "checkpoints" / profile / spec.name / "best.pt").exists()

