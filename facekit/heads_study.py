"""Report 000's study: a frozen face embedder with cosine-softmax heads on a closed set of celebrities (identity;
identity + sex), hyper-parameters by an Optuna search, sex on unseen people, and the face-extraction statistics.

The closed set is LFW's people with at least ``min_images`` images (62 people at 20) unless a Pins-style folder is
given (full profile); every number is written as a results record of the study ``03_cosine_heads``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facekit import classify, paths, tune
from facekit.data import lfw
from facekit.data.splits import identity_disjoint_split, stratified_split
from facekit.detect import get_detector
from facekit.embed import embed_images
from facekit.metrics import classification_metrics, per_class_f1
from facekit.models.embedders import get_embedder
from facekit.results import write_result, write_table
from facekit.verification import LFW_POLICY

STUDY = "03_cosine_heads"
ORIGINAL_EMBEDDER = "vgg-m-face-bn"
REPORTED_SOURCE = "report 000 (VGG-M-Face-BN features, Kaggle Pins, 105 people)"
REPORTED = {
    "single": {"accuracy": 0.844, "macro_precision": 0.751, "macro_recall": 0.748, "macro_f1": 0.744},
    "multi": {"accuracy": 0.728, "sex_accuracy": 0.938},
    "extraction": {"seconds_per_image": 4.65, "accepted_share": 0.396},
    "yolo_person": {"seconds_per_image": 2.07},
}
SEX = ("female", "male")


def runnable(embedders: list[tuple]) -> tuple[list[tuple], dict[str, str]]:
    """The (embedder, detector, backup) entries whose weights are on this machine, and why each other one is not."""
    from facekit.weights import WeightsMissing

    ok, missing = [], {}
    for entry in embedders:
        try:
            get_embedder(entry[0])
            ok.append(tuple(entry))
        except WeightsMissing as exc:
            missing[entry[0]] = str(exc)
    return ok, missing


def closed_set(min_images: int = 20, max_people: int | None = None, max_images: int | None = None,
               seed: int = 0) -> pd.DataFrame:
    """LFW people with >= ``min_images`` images as a closed set: path, name, label, sex (the person's majority
    label in LFW's gender lists), split (70/10/20 stratified by identity, seeded). ``max_people`` keeps the people
    with the most images, half of each sex, and ``max_images`` the first images of each (smoke runs)."""
    imgs = lfw.images()
    sex = lfw.gender().by_person()
    counts = imgs.groupby("name").size()
    keep = counts[counts >= min_images].sort_values(ascending=False, kind="stable")
    if max_people:
        by_sex = [keep[keep.index.map(sex) == s].index[:max_people - max_people // 2 if s == "male" else
                                                        max_people // 2] for s in SEX]
        keep = keep[keep.index.isin(by_sex[0].union(by_sex[1]))]
    df = imgs[imgs.name.isin(keep.index)].sort_values(["name", "index"])
    if max_images:
        df = df.groupby("name").head(max_images)
    df = df.assign(sex=df.name.map(sex)).reset_index(drop=True)
    if df.sex.isna().any():
        raise ValueError(f"no sex label for {sorted(df.name[df.sex.isna()].unique())} in LFW's gender lists")
    return _labelled(df, seed)


def _labelled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    names = sorted(df.name.unique())
    df["label"] = df.name.map({n: i for i, n in enumerate(names)})
    df["sex_label"] = df.sex.map({s: i for i, s in enumerate(SEX)}).fillna(-1).astype(int)
    df["split"] = stratified_split(df.label, (0.7, 0.1, 0.2), seed=seed)
    return df


def closed_set_folder(folder: str | Path, prefix: str = "pins_", min_images: int = 20, seed: int = 0,
                      dataset: str = "pins105") -> pd.DataFrame:
    """A Pins-style closed set (``folder/pins_<Name>/``, full profile). Sex comes from ``folder/sex.csv``
    (columns ``name,sex`` with female/male) when present; without it ``sex`` is empty and ``sex_label`` -1, and
    the chapter skips the sex parts with a note. ``dataset`` is the registry name recorded with the results."""
    from facekit.data.folders import read_identity_folders

    df = read_identity_folders(folder, prefix=prefix, min_images=min_images).rename(columns={"identity": "name"})
    sex_file = Path(folder) / "sex.csv"
    sex = pd.read_csv(sex_file).set_index("name")["sex"] if sex_file.exists() else pd.Series(dtype=object)
    bad = set(sex.dropna()) - set(SEX)
    if bad:
        raise ValueError(f"{sex_file}: sex must be one of {SEX}, found {sorted(bad)}")
    out = _labelled(df.assign(sex=df.name.map(sex)), seed)
    out.attrs["dataset"] = dataset
    return out


def other_people(exclude: set[str], per_person: int = 1, max_people: int | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Labelled LFW people outside ``exclude`` (the closed set), up to ``per_person`` images each, split 90/10 by
    identity for training and validating an identity-disjoint sex head."""
    imgs = lfw.images()
    sex = lfw.gender().by_person()
    df = imgs[~imgs.name.isin(exclude) & imgs.name.isin(sex.index)].sort_values(["name", "index"])
    people = np.array(sorted(df.name.unique()))
    if max_people and len(people) > max_people:
        people = np.sort(np.random.default_rng(seed).choice(people, max_people, replace=False))
    df = df[df.name.isin(people)].groupby("name").head(per_person).reset_index(drop=True)
    df["sex"] = df.name.map(sex)
    df["sex_label"] = df.sex.map({s: i for i, s in enumerate(SEX)})
    df["split"] = identity_disjoint_split(df.name, (0.9, 0.1, 0.0), seed=seed)
    return df


def embed_frame(df: pd.DataFrame, embedder: str, detector: str, backup: str | None = None,
                policy: str = LFW_POLICY, progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """Frozen embeddings of ``df.path`` (cached; the face chosen by ``policy``, then the ``backup`` detector's
    and the mean face where none is found) and the source of each."""
    out = embed_images(list(df.path), get_embedder(embedder), get_detector(detector), policy=policy,
                       backup=get_detector(backup) if backup else None, progress=progress)
    if (~out.ok).any():
        bad = [f"{p.name}: {s}" for p, s, ok in zip(out.paths, out.source, out.ok, strict=True) if not ok]
        raise ValueError(f"{len(bad)} images could not be embedded ({'; '.join(bad[:3])}); fix or remove them")
    return out.embeddings, out.source


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8]


def label(embedder: str) -> str:
    return embedder if embedder == ORIGINAL_EMBEDDER else f"{embedder} (substitute for VGG-M-Face-BN)"


def run_heads(x: np.ndarray, df: pd.DataFrame, embedder: str, kind: str, profile: str, n_trials: int,
              trial_epochs: int, final_epochs: int, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Optuna search (``n_trials`` of ``trial_epochs``, resumable), then the final head with the best parameters
    trained for ``final_epochs`` and scored once on the test split. ``kind`` is "single" or "multi"."""
    multi = kind == "multi"
    tr, va, te = ((df.split == s).to_numpy() for s in ("train", "val", "test"))
    ident, sex = df.label.to_numpy(), df.sex_label.to_numpy()
    n_classes = int(ident.max() + 1)
    data_key = _fingerprint(embedder, kind, len(df), ident.sum(), "".join(df.split), seed, trial_epochs)

    def objective(trial) -> float:
        params = classify.search_space(trial, multi)
        _, res = classify.train_head(x, ident, tr, va, params, trial_epochs, n_classes, sex if multi else None,
                                     seed=seed, trial=trial)
        return res.best_score

    study_name = f"{kind}-head_{embedder}_{data_key}"
    study = tune.run_study(objective, study_name, tune.storage_url(profile, STUDY), n_trials, seed=seed,
                           progress=progress)
    best = dict(study.best_params)
    ckpt = paths.cache_dir() / "checkpoints" / profile / "heads" / f"{study_name}-{_fingerprint(best, final_epochs)}"
    model, res = classify.train_head(x, ident, tr, va, best, final_epochs, n_classes, sex if multi else None,
                                     seed=seed, checkpoint_dir=ckpt)
    pred = classify.predict(model, x[te])
    names = sorted(df.name.unique())
    pid, psex = pred if multi else (pred, None)
    metrics = classification_metrics(ident[te], pid)
    if multi:
        metrics.update({f"sex_{k}": v for k, v in classification_metrics(sex[te], psex).items()
                        if k in ("accuracy", "balanced_accuracy", "macro_f1", "cohen_kappa")})
    trials = study.get_trials(deepcopy=False)
    states = pd.Series([t.state.name for t in trials]).value_counts().to_dict()
    write_result(STUDY, f"{kind}-head_{embedder}", profile=profile, dataset=df.attrs.get("dataset", "lfw"),
                 protocol=f"{n_classes} people, stratified 70/10/20, test split", model=f"{kind}-cosine-head",
                 metrics=metrics, seed=seed, substitute_for=None if embedder == ORIGINAL_EMBEDDER else "VGG-M-Face-BN",
                 reported={"source": REPORTED_SOURCE, **REPORTED[kind]},
                 extra={"embedder": embedder, "label": label(embedder), "best_params": best,
                        "best_val": res.best_score, "best_epoch": res.best_epoch, "final_epochs": final_epochs,
                        "study": study_name, "trials": len(trials), "trial_states": states,
                        "split_sizes": df.split.value_counts().to_dict(), "history": res.history})
    per_class = per_class_f1(ident[te], pid, names)
    write_table(STUDY, f"{kind}-head_{embedder}_per_identity", per_class, profile=profile)
    preds = df[te][["path", "name", "sex"]].assign(pred_name=[names[i] for i in pid])
    if multi:
        preds["pred_sex"] = [SEX[i] for i in psex]
    write_table(STUDY, f"{kind}-head_{embedder}_test_predictions", preds.assign(path=preds.path.astype(str)),
                profile=profile)
    return {"study": study, "metrics": metrics, "per_class": per_class, "predictions": preds, "best": best,
            "history": res.history}


def run_sex_disjoint(x_train: np.ndarray, others: pd.DataFrame, x_test: np.ndarray, test: pd.DataFrame,
                     embedder: str, profile: str, epochs: int, params: dict[str, Any] | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """A sex head trained on people outside the closed set (epoch chosen on 10 % of them) and tested on the
    closed set's test images: sex on people the head never saw."""
    params = params or {"lr": 1e-3, "s": 16, "weight_decay": 1e-4}
    y = others.sex_label.to_numpy()
    model, res = classify.train_head(x_train, y, (others.split == "train").to_numpy(),
                                     (others.split == "val").to_numpy(), params, epochs, n_classes=2, seed=seed)
    pred = classify.predict(model, x_test)
    yt = test.sex_label.to_numpy()
    metrics = classification_metrics(yt, pred)
    metrics.update({"train_images": int((others.split == "train").sum()), "train_people": int(others.name.nunique()),
                    "train_male_share": float((others.sex == "male").mean()),
                    "test_male_share": float((test.sex == "male").mean()), "test_people": int(test.name.nunique())})
    write_result(STUDY, f"sex-head-unseen-people_{embedder}", profile=profile, dataset="lfw",
                 protocol="train: LFW people outside the closed set; test: closed-set test split (identity-disjoint)",
                 model="sex-cosine-head", metrics=metrics, seed=seed,
                 substitute_for=None if embedder == ORIGINAL_EMBEDDER else "VGG-M-Face-BN",
                 extra={"embedder": embedder, "label": label(embedder), "params": params,
                        "best_epoch": res.best_epoch, "epochs": epochs})
    cm = pd.crosstab(pd.Series([SEX[i] for i in yt], name="true"), pd.Series([SEX[i] for i in pred], name="pred"))
    return {"metrics": metrics, "confusion": cm}


def run_extraction(df: pd.DataFrame, profile: str, detector: str = "retinaface", aligner: str = "dlib-chip150",
                   progress: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Report 000's extraction on the closed set's images: RetinaFace box, dlib 5-point alignment, sanity checks;
    per-image table (seconds from the detection cache, measured when each image was first detected)."""
    from facekit.extract import extract_faces, reliability

    table, _ = extract_faces(list(df.path), get_detector(detector), aligner=aligner, policy=LFW_POLICY,
                             progress=progress)
    table["seconds"] = table.detect_seconds + table.align_seconds
    summary = {**reliability(table), "seconds_per_image_mean": float(table.seconds.mean()),
               "seconds_per_image_median": float(table.seconds.median())}
    write_result(STUDY, f"extraction_{detector}+{aligner}", profile=profile, dataset=df.attrs.get("dataset", "lfw"),
                 protocol="all closed-set images", model=f"{detector}+{aligner}", metrics=summary,
                 reported={"source": "report 000 (RetinaFace + dlib on Kaggle Pins images, its hardware)",
                           **REPORTED["extraction"]})
    write_table(STUDY, f"extraction_{detector}+{aligner}", table.assign(image=table.image.astype(str)),
                profile=profile)
    return table, summary


def run_yolo_person_timing(df: pd.DataFrame, profile: str, images: int, model: str = "yolo26n-coco") -> dict:
    """Seconds per image of YOLO person detection (COCO class 0), as report 000 timed it (full profile)."""
    from facekit.detect.timing import time_detector
    from facekit.io import read_image

    det = get_detector("yolo", model=model, classes=[0])
    timing = time_detector(det, [read_image(p) for p in list(df.path)[:images]], aligner=None)
    write_result(STUDY, f"yolo-person_{model}", profile=profile, dataset=df.attrs.get("dataset", "lfw"),
                 protocol=f"first {images} images", model=model, metrics=timing,
                 reported={"source": "report 000 (its hardware)", **REPORTED["yolo_person"]})
    return timing

