"""Report 000's study: a frozen face embedder with cosine-softmax heads on a closed set of celebrities (identity;
identity + sex), hyper-parameters by an Optuna search, sex on unseen people, and the face-extraction statistics.

The closed set is LFW's people with at least ``min_images`` images (62 people at 20) unless a Pins-style folder is
given (full profile); every number is written as a results record of the chapter ``02_cosine_heads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facekit import classify, tune
from facekit.data import lfw
from facekit.data.splits import SEX
from facekit.face_path import FacePath
from facekit.metrics import classification_metrics, per_class_f1
from facekit.store import fingerprint
from facekit.studies.kit import LFW_DLIB, LFW_MOBILEFACENET, Chapter, Study
from facekit.train import Run

ORIGINAL_EMBEDDER = "vgg-m-face-bn"
REPORTED_SOURCE = "report 000 (VGG-M-Face-BN features, Kaggle Pins, 105 people)"
REPORTED = {
    "single": {"accuracy": 0.844, "macro_precision": 0.751, "macro_recall": 0.748, "macro_f1": 0.744},
    "multi": {"accuracy": 0.728, "sex_accuracy": 0.938},
    "extraction": {"seconds_per_image": 4.65, "accepted_share": 0.396},
    "yolo_person": {"seconds_per_image": 2.07},
}
#: Report 000's extraction times as the detection chapter's timing records cite them.
REPORTED_TIMES = {"yolo_person_seconds_per_image": REPORTED["yolo_person"]["seconds_per_image"],
                  "retinaface_dlib_seconds_per_image": REPORTED["extraction"]["seconds_per_image"],
                  "source": "report 000, section 3.1-3.2"}

#: Frozen embedders, each with its face path on LFW (``kit.LFW_DLIB``, ``kit.LFW_MOBILEFACENET``)
DLIB, MOBILEFACENET = LFW_DLIB, LFW_MOBILEFACENET
VGGM = FacePath("retinaface", ORIGINAL_EMBEDDER, policy=lfw.FACE_POLICY)


@dataclass(frozen=True)
class Params:
    """The cosine-heads chapter's parameters (defaults: the cpu profile). ``None`` counts mean "all"."""

    dataset: str | None = None  # a Pins-style registered dataset (full); None: LFW's people with many images
    subfolder: str = ""
    min_images: int = 20
    max_people: int | None = None
    max_images: int | None = None
    embedders: tuple[FacePath, ...] = (DLIB, MOBILEFACENET)
    trials: int = 30
    trial_epochs: int = 20
    final_epochs: int = 40
    sex_people: int | None = None
    sex_per_person: int = 1
    sex_epochs: int = 20
    yolo_images: int = 0


OVERRIDES = {
    "smoke": {"max_people": 6, "max_images": 20, "trials": 4, "trial_epochs": 3, "final_epochs": 5,
              "sex_people": 60, "sex_epochs": 5},
    "full": {"dataset": "pins105", "subfolder": "105_classes_pins_dataset", "embedders": (VGGM, DLIB, MOBILEFACENET),
             "sex_per_person": 2, "yolo_images": 200},
}


def _needs(p: Params) -> list:
    """The Pins folder (full), every embedder's face path, and YOLO's person weights where report 000's person
    boxes are timed."""
    return [*([f"dataset:{p.dataset}"] if p.dataset else []), *p.embedders,
            *(["weights:yolo26n-coco"] if p.yolo_images else [])]


CHAPTER = Chapter("02_cosine_heads", "Report 000: a frozen embedder with cosine-softmax heads", Params, OVERRIDES,
                  datasets=("lfw",), needs_of=_needs, report="000",
                  reported={"source": REPORTED_SOURCE, **REPORTED}, renamed_from=("03_cosine_heads",))


def runnable(st: Study) -> tuple[list[FacePath], dict[str, str]]:
    """The embedders' face paths whose weights are here, and why each other one is not."""
    by_name = {fp.embedder: fp for fp in st.params.embedders}
    ok, why = st.runnable(by_name)
    return [by_name[k] for k in ok], why


def embed_frame(df: pd.DataFrame, face_path: FacePath, progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """Frozen embeddings of ``df.path`` through ``face_path`` (cached) and the source of each face."""
    out = face_path.embed(list(df.path), progress=progress)
    if (~out.ok).any():
        bad = [f"{p.name}: {s}" for p, s, ok in zip(out.paths, out.source, out.ok, strict=True) if not ok]
        raise ValueError(f"{len(bad)} images could not be embedded ({'; '.join(bad[:3])}); fix or remove them")
    return out.embeddings, out.source


def label(embedder: str | FacePath) -> str:
    """The embedder's name, marked as the substitute it is where it is not report 000's."""
    embedder = embedder.embedder if isinstance(embedder, FacePath) else embedder
    return embedder if embedder == ORIGINAL_EMBEDDER else f"{embedder} (substitute for VGG-M-Face-BN)"


def run_heads(st: Study, x: np.ndarray, df: pd.DataFrame, face_path: FacePath, kind: str,
              progress: bool = True) -> dict[str, Any]:
    """Optuna search (``trials`` of ``trial_epochs``, resumable), then the final head with the best parameters
    trained for ``final_epochs`` and scored once on the test split. ``kind`` is "single" or "multi"."""
    p, seed, embedder = st.params, st.seed, face_path.embedder
    n_trials, trial_epochs, final_epochs = p.trials, p.trial_epochs, p.final_epochs
    multi = kind == "multi"
    tr, va, te = ((df.split == s).to_numpy() for s in ("train", "val", "test"))
    ident, sex = df.label.to_numpy(), df.sex_label.to_numpy()
    n_classes = int(ident.max() + 1)
    data_key = fingerprint(face_path.to_json(), kind, len(df), int(ident.sum()), "".join(df.split), seed,
                           trial_epochs, length=8)

    data = classify.HeadData(x, ident, tr, va, sex if multi else None, n_classes)

    def objective(trial) -> float:
        params = classify.search_space(trial, multi)
        _, res = classify.train_head(data, params, Run(trial_epochs, trial=trial, device=st.device, progress=False,
                                                       seed=seed))
        return res.best_score

    study_name = f"{kind}-head_{embedder}_{data_key}"
    study = tune.run_study(objective, study_name, tune.storage_url(st.profile, st.name), n_trials, seed=seed,
                           progress=progress)
    best = dict(study.best_params)
    ckpt = st.checkpoint_dir(f"{kind}-head_{embedder}", study_name, best, final_epochs)
    model, res = classify.train_head(data, best, Run(final_epochs, checkpoint_dir=ckpt, device=st.device,
                                                     progress=False, seed=seed))
    pred = classify.predict(model, x[te])
    names = sorted(df.name.unique())
    pid, psex = pred if multi else (pred, None)
    metrics = classification_metrics(ident[te], pid)
    if multi:
        metrics.update({f"sex_{k}": v for k, v in classification_metrics(sex[te], psex).items()
                        if k in ("accuracy", "balanced_accuracy", "macro_f1", "cohen_kappa")})
    trials = study.get_trials(deepcopy=False)
    states = pd.Series([t.state.name for t in trials]).value_counts().to_dict()
    st.write(f"{kind}-head_{embedder}", dataset=df.attrs.get("dataset", "lfw"),
             protocol=f"{n_classes} people, stratified 70/10/20, test split", model=f"{kind}-cosine-head",
             metrics=metrics, substitute_for=None if embedder == ORIGINAL_EMBEDDER else "VGG-M-Face-BN",
             reported={"source": REPORTED_SOURCE, **REPORTED[kind]}, face_path=face_path,
                 extra={"embedder": embedder, "label": label(embedder), "best_params": best,
                        "best_val": res.best_score, "best_epoch": res.best_epoch, "final_epochs": final_epochs,
                        "study": study_name, "trials": len(trials), "trial_states": states,
                        "split_sizes": df.split.value_counts().to_dict(), "history": res.history})
    per_class = per_class_f1(ident[te], pid, names)
    st.write_table(f"{kind}-head_{embedder}_per_identity", per_class)
    preds = df[te][["path", "name", "sex"]].assign(pred_name=[names[i] for i in pid])
    if multi:
        preds["pred_sex"] = [SEX[i] for i in psex]
    st.write_table(f"{kind}-head_{embedder}_test_predictions", preds.assign(path=preds.path.astype(str)))
    return {"study": study, "metrics": metrics, "per_class": per_class, "predictions": preds, "best": best,
            "history": res.history}


def run_sex_disjoint(st: Study, x_train: np.ndarray, others: pd.DataFrame, x_test: np.ndarray, test: pd.DataFrame,
                     face_path: FacePath, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A sex head trained on people outside the closed set (epoch chosen on 10 % of them) and tested on the
    closed set's test images: sex on people the head never saw."""
    params = params or {"lr": 1e-3, "s": 16, "weight_decay": 1e-4}
    embedder, epochs = face_path.embedder, st.params.sex_epochs
    y = others.sex_label.to_numpy()
    data = classify.HeadData(x_train, y, (others.split == "train").to_numpy(), (others.split == "val").to_numpy(),
                             n_classes=2)
    model, res = classify.train_head(data, params, Run(epochs, device=st.device, progress=False, seed=st.seed))
    pred = classify.predict(model, x_test)
    yt = test.sex_label.to_numpy()
    metrics = classification_metrics(yt, pred)
    metrics.update({"train_images": int((others.split == "train").sum()), "train_people": int(others.name.nunique()),
                    "train_male_share": float((others.sex == "male").mean()),
                    "test_male_share": float((test.sex == "male").mean()), "test_people": int(test.name.nunique())})
    st.write(f"sex-head-unseen-people_{embedder}", dataset="lfw",
             protocol="train: LFW people outside the closed set; test: closed-set test split (identity-disjoint)",
             model="sex-cosine-head", metrics=metrics, face_path=face_path,
             substitute_for=None if embedder == ORIGINAL_EMBEDDER else "VGG-M-Face-BN",
                 extra={"embedder": embedder, "label": label(embedder), "params": params,
                        "best_epoch": res.best_epoch, "epochs": epochs})
    cm = pd.crosstab(pd.Series([SEX[i] for i in yt], name="true"), pd.Series([SEX[i] for i in pred], name="pred"))
    return {"metrics": metrics, "confusion": cm}


#: Report 000's extraction: RetinaFace's box, dlib's 5-point alignment (no mean face: a miss is a rejection).
EXTRACTION = FacePath("retinaface", policy=lfw.FACE_POLICY, fallback=None, aligner="dlib-chip150")


def run_extraction(st: Study, df: pd.DataFrame, face_path: FacePath = EXTRACTION,
                   progress: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Report 000's extraction on the closed set's images: RetinaFace box, dlib 5-point alignment, sanity checks;
    per-image table (seconds from the detection cache, measured when each image was first detected)."""
    from facekit.extract import extract_faces, reliability

    detector, aligner = face_path.detector, face_path.aligner
    table, _ = extract_faces(list(df.path), face_path, progress=progress)
    table["seconds"] = table.detect_seconds + table.align_seconds
    summary = {**reliability(table), "seconds_per_image_mean": float(table.seconds.mean()),
               "seconds_per_image_median": float(table.seconds.median())}
    st.write(f"extraction_{detector}+{aligner}", dataset=df.attrs.get("dataset", "lfw"),
             protocol="all closed-set images", model=f"{detector}+{aligner}", metrics=summary, face_path=face_path,
             reported={"source": "report 000 (RetinaFace + dlib on Kaggle Pins images, its hardware)",
                       **REPORTED["extraction"]})
    st.write_table(f"extraction_{detector}+{aligner}", table.assign(image=table.image.astype(str)))
    return table, summary


def run_yolo_person_timing(st: Study, df: pd.DataFrame, images: int, model: str = "yolo26n-coco") -> dict:
    """Seconds per image of YOLO person detection (COCO class 0), as report 000 timed it (full profile)."""
    from facekit.io import read_image
    from facekit.timing import time_detection

    person = FacePath("yolo", detector_kwargs={"model": model, "classes": [0]}, aligner="box224")
    timing = time_detection(person, [read_image(p) for p in list(df.path)[:images]], with_alignment=False)
    st.write(f"yolo-person_{model}", dataset=df.attrs.get("dataset", "lfw"), protocol=f"first {images} images",
             model=model, metrics=timing, weights_used=(model,),
             reported={"source": "report 000 (its hardware)", **REPORTED["yolo_person"]})
    return timing

