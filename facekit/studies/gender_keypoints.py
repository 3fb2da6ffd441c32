"""Report 003's chapter (05_gender_keypoints): gender classifiers tested on people they never saw and on another
dataset, the report's image split beside a person split, and Keypoint R-CNN (5 face keypoints + gender) on two
backbones, measured against its teacher on held-out LFW people and against human 300-W points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facekit.data import gender as gdata
from facekit.data import lfw
from facekit.face_path import FacePath
from facekit.gender_classifier import GenderRecipe, predict_prob, probe, train_gender_net
from facekit.keypoint_training import (
    TEACHER,
    RcnnRecipe,
    as_detector,
    detect_labelled,
    teacher_labels,
    train_keypoint_rcnn,
)
from facekit.metrics import binary_metrics, bootstrap_by_group
from facekit.models.embedders import EMBEDDERS
from facekit.studies.kit import LFW_DLIB, LFW_MOBILEFACENET, LFW_PATHS, Chapter, Study
from facekit.train import CropSet, Run

REPORTED_003 = {
    "facenet-gender": {"source": "report 003", "model": "FaceNet gender classifier", "accuracy": 0.8991,
                       "cohen_kappa": 0.798},
    "keypoint-rcnn": {"source": "report 003", "model": "keypointrcnn_resnet50_fpn", "accuracy": 0.88,
                      "roc_auc": 0.97},
    "keypoint-rcnn-facenet": {"source": "report 003", "model": "Keypoint R-CNN + FaceNet backbone",
                              "accuracy": 0.88, "roc_auc": 0.94},
}
REPORT_NOTE = "CelebA Mini, 500 images, random 70/20/10 split by image, 50 test images"
#: Report 003's claims with a number or a direction, by the key the synthesis judges each under
CLAIMS_003 = ("003-facenet-gender", "003-facenet-kappa", "003-rcnn-gender", "003-rcnn-facenet", "003-rcnn-auc",
              "003-rcnn-facenet-auc", "003-rcnn-keypoints")
#: Report 003's optimiser per Keypoint R-CNN (AdamW, the rate cut by ``gamma`` every ``step`` epochs): the plain
#: ResNet-50 one and the one on a FaceNet trunk had their own
REPORT_003_RCNN_OPTIMISERS = {"plain": {"lr": 1e-4, "weight_decay": 1e-3, "step": 3, "gamma": 0.3},
                              "face": {"lr": 6e-5, "weight_decay": 0.01, "step": 4, "gamma": 0.9}}


def _adamw(lr: float, weight_decay: float, step: int, gamma: float) -> str:
    def e(x: float) -> str:
        return f"{x:.0e}".replace("e-0", "e-")
    return f"AdamW lr {e(lr)}, weight decay {e(weight_decay)}, StepLR({step}, {gamma:g})"


#: Report 003's recipes as the report wrote them, in the terms of ``recipe_table``
REPORT_003_RECIPE = {
    "classifier trunk": "InceptionResnetV1 (FaceNet, VGGFace2 weights)",
    "classifier training": "BCE with logits, " + _adamw(1e-4, 5e-3, 3, 0.3),
    "plain R-CNN trunk": "ResNet-50 FPN (COCO keypoint weights)",
    "face R-CNN trunk": "FaceNet (InceptionResnetV1)",
    "R-CNN input": "-",
    "R-CNN optimisers": "; ".join(f"{k}: {_adamw(**v)}" for k, v in REPORT_003_RCNN_OPTIMISERS.items()),
    "data": REPORT_NOTE,
}
#: the LFW face paths of the probes and the fine-tuned trunk; CelebA's in-the-wild photos keep their largest face
PROBE_PATHS = {"dlib-resnet": LFW_DLIB, "mobilefacenet-casia": LFW_MOBILEFACENET,
               "facenet-casia": LFW_PATHS["facenet-casia"]}  # the report's FaceNet: InceptionResnetV1, CASIA weights
FACENET_PATH = FacePath("mtcnn", "facenet-vggface2", policy=lfw.FACE_POLICY)


@dataclass(frozen=True)
class Params:
    """The chapter's parameters (defaults: cpu)."""

    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    lfw_people: int | None = None  # a seeded sample of LFW people (smoke), else all
    probes: tuple[str, ...] = ("dlib-resnet", "mobilefacenet-casia", "facenet-casia")
    finetune: str = "mobilefacenet-casia"  # full: facenet-casia (the report's FaceNet; about 1 h of CPU here)
    finetune_train_images: int | None = 4000
    finetune_epochs: int = 5
    finetune_batch: int = 32
    report_like_epochs: int = 8
    rcnn_backbones: tuple[str, ...] = ("mobilenet_v3", "mobilefacenet")
    # sized for about 8 minutes of training per backbone on 2 cores (about 6.5 images/s at min_size 160)
    rcnn_train_images: int | None = 600
    rcnn_val_images: int = 80
    rcnn_test_images: int | None = 400
    rcnn_epochs: int = 5
    rcnn_batch: int = 4
    rcnn_min_size: int = 160
    rcnn_max_size: int = 224
    rcnn_light_head: bool = True
    w300_faces: int | None = None
    n_boot: int = 1000
    celeba: str = "celeba_subset"  # the other dataset (full: the full CelebA, as report 003's CelebA)
    celeba_images: int | None = None  # a seeded sample of its images (None: all)


OVERRIDES = {
    "smoke": {"lfw_people": 150, "finetune_train_images": 120, "finetune_epochs": 1, "finetune_batch": 8,
              "report_like_epochs": 1,
              "rcnn_train_images": 16, "rcnn_val_images": 8, "rcnn_test_images": 16, "rcnn_epochs": 1,
              "rcnn_batch": 2, "rcnn_min_size": 128, "rcnn_max_size": 160, "w300_faces": 10, "n_boot": 50,
              "probes": ("mobilefacenet-casia",)},
    "full": {"finetune": "facenet-casia", "finetune_train_images": None, "finetune_epochs": 50,
             "finetune_batch": 4, "report_like_epochs": 50, "rcnn_backbones": ("resnet50", "facenet"),
             "rcnn_train_images": None, "rcnn_test_images": None, "rcnn_epochs": 50, "rcnn_min_size": 250,
             "rcnn_max_size": 500, "rcnn_light_head": False, "celeba": "celeba", "celeba_images": 10_000,
             "probes": ("dlib-resnet", "mobilefacenet-casia",
                                                                         "facenet-casia", "facenet-vggface2")},
}


def lfw_path(embedder: str) -> FacePath:
    """The LFW face path of an embedder (the metric-learning chapter's where it has one)."""
    return PROBE_PATHS.get(embedder) or (FACENET_PATH if embedder.startswith("facenet") else
                                         LFW_MOBILEFACENET.replace(embedder=embedder))


def celeba_path(embedder: str) -> FacePath:
    """CelebA's in-the-wild photos: the same path with the largest face (no centred-subject rule there)."""
    return lfw_path(embedder).replace(policy="largest")


def _needs(p: Params) -> list:
    """The teacher's landmarks, every probe's and the fine-tuned trunk's LFW path, and the R-CNN trunks' weights."""
    return [TEACHER, *(lfw_path(e) for e in dict.fromkeys([*p.probes, p.finetune])), f"dataset:{p.celeba}",
            *(["weights:facenet-casia-graph"] if "facenet" in p.rcnn_backbones else []),
            *(["weights:mobilefacenet-casia"] if "mobilefacenet" in p.rcnn_backbones else [])]


CHAPTER = Chapter("05_gender_keypoints", "Report 003: gender classification and Keypoint R-CNN", Params,
                  OVERRIDES, datasets=("lfw", "300w_subset"), needs_of=_needs, report="003",
                  reported=REPORTED_003, claims=CLAIMS_003,
                  after=("01_detection",))  # reads its 300-W records


# ------------------------------------------------------------------------------------------------ data
def datasets(st: Study) -> dict[str, Any]:
    """LFW with its person split and CelebA (the profile's: its labels, where they came from, a seeded sample of
    ``celeba_images``)."""
    from facekit.data import celeba

    lfw_set, celeba_set = gdata.lfw_gender(), gdata.celeba_gender(celeba.root(st.params.celeba))
    images = lfw_set.images.copy()
    if st.params.lfw_people is not None:
        names = sorted(images.name.unique())
        keep = set(np.random.default_rng(st.seed).choice(names, min(st.params.lfw_people, len(names)), replace=False))
        images = images[images.name.isin(keep)].reset_index(drop=True)
    images["split"] = gdata.person_split(images, st.params.fractions, st.seed)
    other = _sample(celeba_set.images, st.params.celeba_images, st.seed).reset_index(drop=True)
    return {"lfw": images, "lfw_report": lfw_set.report, "celeba": other,
            "celeba_report": {**celeba_set.report, "images_used": len(other)}, "celeba_name": st.params.celeba}


def split_table(images: pd.DataFrame) -> pd.DataFrame:
    g = images.groupby("split")
    return pd.DataFrame({"images": g.size(), "people": g.name.nunique(), "share_men_images": g.male.mean()}
                        ).reindex(["train", "val", "test"])


def _sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    return df if n is None or n >= len(df) else df.sample(n=n, random_state=seed)


def scored(st: Study, name: str, y: np.ndarray, prob: np.ndarray, people: np.ndarray, **record: Any,
           ) -> dict[str, Any]:
    """Binary metrics with bootstrap 95 % intervals by person, written as one record (``record``: the record's
    dataset, protocol, model and the rest ``Study.write`` takes)."""
    m = binary_metrics(y, prob)
    ci = bootstrap_by_group(binary_metrics, people, y, prob, n_boot=st.params.n_boot, seed=st.seed)
    for k in ("accuracy", "balanced_accuracy", "cohen_kappa", "roc_auc"):
        if k in ci:
            m[f"{k}_lo"], m[f"{k}_hi"] = ci[k]
    m["people"] = int(len(set(people)))
    st.write(name, metrics=m, **record)
    return m


# ------------------------------------------------------------------------------------------------ gender
def run_probes(st: Study, data: dict[str, Any], progress: bool = True) -> dict[str, dict]:
    """A logistic regression on each frozen embedder's LFW training people; tested on LFW test people and on
    the profile's CelebA."""
    lfw_imgs, celeba_imgs = data["lfw"], data["celeba"]
    out = {}
    for emb in st.params.probes:
        fp = lfw_path(emb)
        e = fp.embed(list(lfw_imgs.path), progress=progress)
        ok = e.ok
        tr = (lfw_imgs.split == "train").to_numpy() & ok
        te = (lfw_imgs.split == "test").to_numpy()
        clf = probe(e.embeddings[tr], lfw_imgs.male.to_numpy()[tr], st.seed)
        prob = np.where(ok[te], clf.predict_proba(e.embeddings[te])[:, 1], 0.5)
        res = {"lfw": scored(st, f"probe-{emb}_lfw-test", lfw_imgs.male.to_numpy()[te], prob,
                             lfw_imgs.name.to_numpy()[te], dataset="lfw", protocol="person-split-test",
                             model=f"probe on {emb}",
                             face_path=fp, extra={"train_images": int(tr.sum()), "failed_test": int((~ok[te]).sum())})}
        cfp = celeba_path(emb)
        ce = cfp.embed(list(celeba_imgs.path), progress=progress)
        cprob = np.where(ce.ok, clf.predict_proba(ce.embeddings)[:, 1], 0.5)
        res["celeba"] = scored(st, f"probe-{emb}_celeba", celeba_imgs.male.to_numpy(), cprob,
                               celeba_imgs.name.to_numpy(), dataset=st.params.celeba,
                               protocol="cross-dataset (trained on LFW)", model=f"probe on {emb}", face_path=cfp,
                               extra={"failed": int((~ce.ok).sum())})
        res.update(test_prob=prob, test_male=lfw_imgs.male.to_numpy()[te], celeba_prob=cprob)
        out[emb] = res
    return out


def finetune_record(p: Params, split: str) -> str:
    """The record name of the fine-tuned classifier on ``split`` ("lfw-test", "celeba"); the synthesis reads it."""
    return f"finetune-{p.finetune}_{split}"


#: the R-CNN trunks that stand for the report's "Keypoint R-CNN + FaceNet" (the others for its plain R-CNN)
FACE_TRUNKS = ("facenet", "mobilefacenet")


def rcnn_backbone(p: Params, face_trunk: bool) -> str | None:
    """The profile's R-CNN backbone for the report's FaceNet-trunk R-CNN (``face_trunk``) or its plain one."""
    return next((b for b in p.rcnn_backbones if (b in FACE_TRUNKS) == face_trunk), None)


def rcnn_optimiser(backbone: str) -> dict[str, float]:
    """Report 003's optimiser for the R-CNN on ``backbone``: the FaceNet-trunk one for a face trunk."""
    return REPORT_003_RCNN_OPTIMISERS["face" if backbone in FACE_TRUNKS else "plain"]


def rcnn_record(backbone: str) -> str:
    """The record name of the Keypoint R-CNN on ``backbone`` (the synthesis reads it)."""
    return f"keypoint-rcnn-{backbone}_lfw-test"


def _crops(fp: FacePath, paths: list, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    crops, source = fp.crops(paths, progress=progress)
    return crops, np.array([not s.startswith("failed") for s in source])


def run_finetune(st: Study, data: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """The report's FaceNet recipe on the fine-tuned trunk: trained on LFW training people, epoch chosen on the
    validation people, tested on LFW test people and on CelebA."""
    p = st.params
    emb = EMBEDDERS.get(p.finetune, flip=None)
    fp, cfp = lfw_path(p.finetune), celeba_path(p.finetune)
    aligner = fp.aligned_with(emb)
    fp, cfp = fp.replace(aligner=aligner), cfp.replace(aligner=aligner)
    imgs = data["lfw"]
    train = _sample(imgs[imgs.split == "train"], p.finetune_train_images, st.seed)
    val = _sample(imgs[imgs.split == "val"], None if p.finetune_train_images is None else
                  max(p.finetune_train_images // 5, 40), st.seed)
    test = imgs[imgs.split == "test"]
    x_tr, ok_tr = _crops(fp, list(train.path), progress)
    x_va, _ = _crops(fp, list(val.path), progress)
    ckpt = st.checkpoint_dir(f"finetune-{p.finetune}", p.finetune, p.finetune_epochs, p.finetune_batch, fp,
                             train.path.astype(str).tolist(), val.path.astype(str).tolist())
    model, fitres = train_gender_net(emb, CropSet(x_tr[ok_tr], train.male.to_numpy()[ok_tr],
                                                  (x_va, val.male.to_numpy())), GenderRecipe(p.finetune_batch),
                                     Run(p.finetune_epochs, checkpoint_dir=ckpt, device=st.device, progress=progress,
                                         seed=st.seed))
    sub = {"facenet-vggface2": None, "facenet-casia": "report 003's FaceNet (its VGGFace2 weights; these are "
           "CASIA-WebFace's)"}.get(p.finetune, "report 003's FaceNet (InceptionResnetV1)")
    x_te, ok_te = _crops(fp, list(test.path), progress)
    prob = np.where(ok_te, predict_prob(model, x_te, emb), 0.5)
    common = dict(model=f"{p.finetune} fine-tuned", reported=REPORTED_003["facenet-gender"] | {"note": REPORT_NOTE},
                  substitute_for=sub)
    extra = {"history": fitres.history, "train_images": int(ok_tr.sum()), "best_epoch": fitres.best_epoch,
             "recipe": "BCEWithLogits, AdamW lr 1e-4 wd 5e-3, StepLR(3, 0.3)", "batch": p.finetune_batch}
    res = {"lfw": scored(st, finetune_record(p, "lfw-test"), test.male.to_numpy(), prob, test.name.to_numpy(),
                         dataset="lfw", protocol="person-split-test", face_path=fp, extra=extra, **common)}
    celeba = data["celeba"]
    x_c, ok_c = _crops(cfp, list(celeba.path), progress)
    cprob = np.where(ok_c, predict_prob(model, x_c, emb), 0.5)
    res["celeba"] = scored(st, finetune_record(p, "celeba"), celeba.male.to_numpy(), cprob,
                           celeba.name.to_numpy(), dataset=p.celeba, protocol="cross-dataset (trained on LFW)",
                           face_path=cfp, extra=extra, **common)
    res.update(history=fitres.history, test_prob=prob, test=test, celeba_prob=cprob)
    return res


def run_report_like(st: Study, data: dict[str, Any], progress: bool = True) -> pd.DataFrame:
    """The report's recipe on the profile's CelebA twice: split by image (the report's 70/20/10) and split by
    person (same shares of people). The number of people on both sides of each split is recorded."""
    p = st.params
    celeba = data["celeba"].reset_index(drop=True)
    emb = EMBEDDERS.get(p.finetune, flip=None)
    cfp = celeba_path(p.finetune)
    cfp = cfp.replace(aligner=cfp.aligned_with(emb))
    crops, ok = _crops(cfp, list(celeba.path), progress)
    rows = []
    for kind, split in (("by image (report)", gdata.image_split(celeba, (0.7, 0.2, 0.1), st.seed)),
                        ("by person", gdata.person_split(celeba, (0.7, 0.2, 0.1), st.seed))):
        tr, va, te = (split == "train") & ok, split == "val", split == "test"
        ckpt = st.checkpoint_dir(f"report-like-{kind.split()[1]}", p.finetune, p.report_like_epochs, split.tolist())
        model, _ = train_gender_net(emb, CropSet(crops[tr], celeba.male.to_numpy()[tr],
                                                 (crops[va], celeba.male.to_numpy()[va])),
                                    GenderRecipe(min(p.finetune_batch, int(tr.sum()))),
                                    Run(p.report_like_epochs, checkpoint_dir=ckpt, device=st.device,
                                        progress=progress, seed=st.seed))
        prob = np.where(ok[te], predict_prob(model, crops[te], emb), 0.5)
        m = scored(st, f"report-like_{kind.split()[1]}", celeba.male.to_numpy()[te], prob,
                   celeba.name.to_numpy()[te], dataset=p.celeba, protocol=f"70/20/10 {kind}",
                   model=f"{p.finetune} fine-tuned", face_path=cfp,
                   extra={"shared_people": gdata.shared_people(celeba, split)})
        rows.append({"split": kind, "train_images": int(tr.sum()), "test_images": int(te.sum()),
                     "people_in_train_and_test": gdata.shared_people(celeba, split), "accuracy": m["accuracy"],
                     "accuracy_lo": m.get("accuracy_lo"), "accuracy_hi": m.get("accuracy_hi")})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ R-CNN
def rcnn_labels(st: Study, data: dict[str, Any], progress: bool = True) -> dict[str, pd.DataFrame]:
    """Teacher labels for sampled training, validation and test people's LFW images."""
    p = st.params
    imgs = data["lfw"]
    out = {}
    for split, n in (("train", p.rcnn_train_images), ("val", p.rcnn_val_images), ("test", p.rcnn_test_images)):
        out[split] = teacher_labels(_sample(imgs[imgs.split == split], n, st.seed).reset_index(drop=True),
                                    progress=progress)
    return out


def run_rcnn(st: Study, backbone: str, labels: dict[str, pd.DataFrame], progress: bool = True) -> dict[str, Any]:
    """Train one Keypoint R-CNN on teacher labels; its gender, keypoints and recall on held-out LFW people
    (against the teacher) and on 300-W (recall and NME against human points)."""
    from facekit.data import w300
    from facekit.studies.detection import evaluate_300w

    p = st.params
    optimiser = rcnn_optimiser(backbone)
    ckpt = st.checkpoint_dir(f"rcnn-{backbone}", backbone, p.rcnn_epochs, p.rcnn_batch, p.rcnn_min_size,
                             p.rcnn_max_size, p.rcnn_light_head, optimiser, labels["train"], labels["val"])
    recipe = RcnnRecipe(backbone, p.rcnn_batch, min_size=p.rcnn_min_size, max_size=p.rcnn_max_size,
                        light_head=p.rcnn_light_head, **optimiser)
    model, fitres = train_keypoint_rcnn(labels["train"], labels["val"], recipe,
                                        Run(p.rcnn_epochs, checkpoint_dir=ckpt, device=st.device, progress=progress,
                                            seed=st.seed))
    name = f"keypoint-rcnn-{backbone}"
    det = as_detector(model, name, st.device)
    table = detect_labelled(det, labels["test"], progress=progress)
    found = table[table.found]
    key = "keypoint-rcnn-facenet" if backbone in FACE_TRUNKS else "keypoint-rcnn"
    sub = {"mobilenet_v3": "report 003's ResNet50-FPN (COCO-pretrained)",
           "mobilefacenet": "report 003's FaceNet backbone", "resnet50": None,
           "facenet": "report 003's FaceNet backbone (its VGGFace2 weights; these are CASIA-WebFace's)"}[backbone]
    faces_300w = w300.faces()
    if p.w300_faces is not None:
        faces_300w = faces_300w.head(p.w300_faces)
    t300, s300 = evaluate_300w(det, faces_300w, progress=progress)
    metrics = binary_metrics(found.male.to_numpy(), found.male_prob.to_numpy()) if len(found) >= 2 else {}
    if len(found) >= 2:
        ci = bootstrap_by_group(binary_metrics, found.name.to_numpy(), found.male.to_numpy(),
                                found.male_prob.to_numpy(), n_boot=p.n_boot, seed=st.seed)
        for k in ("accuracy", "balanced_accuracy", "roc_auc"):
            if k in ci:
                metrics[f"{k}_lo"], metrics[f"{k}_hi"] = ci[k]
    metrics.update({"recall_lfw": float(table.found.mean()),
                    "nme_vs_teacher_mean": float(found.nme.mean()) if len(found) else None,
                    "nme_vs_teacher_median": float(found.nme.median()) if len(found) else None,
                    "recall_300w": s300["recall"], "nme5_300w_mean": s300["nme5_mean"],
                    "nme5_300w_median": s300["nme5_median"], "faces_300w": s300["faces"],
                    "best_epoch": fitres.best_epoch, "train_images": len(labels["train"])})
    st.write(rcnn_record(backbone), dataset="lfw", protocol="person-split-test, teacher labels", model=name,
             metrics=metrics, weights_used={"mobilefacenet": ("mobilefacenet-casia",),
                                            "facenet": ("facenet-casia-graph",)}.get(backbone, ()),
             datasets=("lfw", "300w_subset"), substitute_for=sub,
             reported=REPORTED_003[key] | {"note": REPORT_NOTE},
             timings={"train_seconds": float(sum(h["seconds"] for h in fitres.history))},
             extra={"history": fitres.history, "checkpoint": str(ckpt), "backbone": backbone,
                    "label_sources": labels["train"].label_source.value_counts().to_dict(),
                    "min_size": p.rcnn_min_size, "max_size": p.rcnn_max_size, "light_head": p.rcnn_light_head,
                    "optimiser": optimiser})
    st.write_table(rcnn_record(backbone), table)
    return {"model": model, "detector": det, "table": table, "metrics": metrics, "history": fitres.history,
            "table_300w": t300, "checkpoint": ckpt}


# ------------------------------------------------------------------------------------------------ the chapter's tables
def label_reports(data: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How the LFW and CelebA gender labels were made (counts of each step), one column each."""
    return (pd.DataFrame([data["lfw_report"]]).T.rename(columns={0: "LFW"}),
            pd.DataFrame([data["celeba_report"]]).T.rename(columns={0: data.get("celeba_name", "celeba_subset")}))


def _interval(m: dict[str, Any], key: str) -> str:
    return f"[{m.get(f'{key}_lo', np.nan):.3f}, {m.get(f'{key}_hi', np.nan):.3f}]"


def gender_table(st: Study) -> pd.DataFrame:
    """Every probe and fine-tuned classifier on each test set, with bootstrap intervals over people and report
    003's figures beside the model it stands for."""
    rows = []
    for rec in st.records():
        if not rec["name"].startswith(("probe-", "finetune-")):
            continue
        m, rep = rec["metrics"], rec.get("reported")
        rows.append({"model": rec["model"], "test set": rec["dataset"], "people": m["people"], "images": m["samples"],
                     "accuracy": f"{m['accuracy']:.3f} {_interval(m, 'accuracy')}",
                     "balanced accuracy": f"{m['balanced_accuracy']:.3f} {_interval(m, 'balanced_accuracy')}",
                     "cohen_kappa": m["cohen_kappa"], "roc_auc": m["roc_auc"],
                     "substitute_for": rec.get("substitute_for") or "",
                     "reported by 003 (accuracy, κ)": f"{rep['accuracy']}, {rep['cohen_kappa']}" if rep else ""})
    return pd.DataFrame(rows)


def roc_curves(data: dict[str, Any], finetuned: dict[str, Any], probes: dict[str, dict],
               ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, false positive rate, true positive rate) of the fine-tuned classifier and of every probe, on the
    LFW test people and on CelebA."""
    from sklearn.metrics import roc_curve

    celeba_male = data["celeba"].male.to_numpy()
    curves = [("fine-tuned, LFW test", finetuned["test"].male.to_numpy(), finetuned["test_prob"]),
              ("fine-tuned, CelebA", celeba_male, finetuned["celeba_prob"])]
    for emb, r in probes.items():
        curves += [(f"probe {emb}, LFW test", r["test_male"], r["test_prob"]),
                   (f"probe {emb}, CelebA", celeba_male, r["celeba_prob"])]
    return [(label, *roc_curve(y, prob)[:2]) for label, y, prob in curves]


def finetune_predictions(finetuned: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """The fine-tuned classifier's LFW test labels and predictions ("man"/"woman") and scikit-learn's
    classification report of them."""
    from sklearn.metrics import classification_report

    truth = np.where(finetuned["test"].male, "man", "woman")
    predicted = np.where(finetuned["test_prob"] >= 0.5, "man", "woman")
    return truth, predicted, classification_report(truth, predicted, digits=3)


def split_sentence(report_like: pd.DataFrame) -> str:
    """The image split against the person split: people on both sides, accuracies, and whether the intervals
    overlap."""
    by_image, by_person = report_like.iloc[0], report_like.iloc[1]
    overlap = not (by_image.accuracy_lo > by_person.accuracy_hi or by_person.accuracy_lo > by_image.accuracy_hi)
    return (f"The image split put {by_image.people_in_train_and_test} people in both training and test; the person "
            f"split none. Accuracy {by_image.accuracy:.3f} by image against {by_person.accuracy:.3f} by person: "
            + ("the intervals overlap, so on this small set the split's effect is not measurable; the person split "
               "is still the only one whose number speaks of unseen people." if overlap else
               "the intervals do not overlap."))


def label_sources(labels: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Where each split's R-CNN labels came from (the teacher, its backup), counted."""
    return pd.DataFrame({k: v.label_source.value_counts() for k, v in labels.items()}).fillna(0).astype(int)


def rcnn_table(st: Study, rcnn: dict[str, dict]) -> pd.DataFrame:
    """Each R-CNN: recall and gender on LFW test people (against the teacher), keypoint error against the teacher
    and against 300-W's human points, training minutes, and report 003's figures."""
    rows = []
    for b, r in rcnn.items():
        m = r["metrics"]
        rec = st.read(rcnn_record(b))
        rows.append({"backbone": b, "substitute_for": rec.get("substitute_for") or "",
                     "recall (LFW, teacher)": m["recall_lfw"], "gender accuracy on found": m.get("accuracy"),
                     "balanced": m.get("balanced_accuracy"), "interval": _interval(m, "accuracy"),
                     "cohen_kappa": m.get("cohen_kappa"), "roc_auc": m.get("roc_auc"),
                     "NME vs teacher": m["nme_vs_teacher_mean"], "recall 300-W": m["recall_300w"],
                     "NME5 300-W (human)": m["nme5_300w_mean"], "train minutes": rec["timings"]["train_seconds"] / 60,
                     "reported by 003 (accuracy, AUC)": f"{rec['reported']['accuracy']}, {rec['reported']['roc_auc']}"})
    return pd.DataFrame(rows)


def detector_reference(st: Study) -> pd.DataFrame:
    """The detection chapter's 300-W recall and NME of three detectors, beside the R-CNNs'."""
    from facekit import results

    rows = []
    for name in ("retinaface", "mtcnn", "mediapipe"):
        try:
            r = results.read_result(st.profile, "01_detection", f"{name}_300w")
            rows.append({"detector (detection chapter)": name, "recall 300-W": r["metrics"]["recall"],
                         "NME5 300-W (human)": r["metrics"]["nme5_mean"]})
        except FileNotFoundError:
            rows.append({"detector (detection chapter)": name, "recall 300-W": "not run in this profile"})
    return pd.DataFrame(rows)


def rcnn_gender_on_found(rcnn: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Per R-CNN, the test faces it found: the true label and P(man), for its ROC curve and confusion matrix."""
    return {b: r["table"].loc[r["table"].found, ["male", "male_prob"]].astype({"male": bool, "male_prob": float})
            for b, r in rcnn.items()}


def _our_recipe(p: Params) -> dict[str, str]:
    """This chapter's recipe in profile params ``p``, in the terms of ``REPORT_003_RECIPE``."""
    plain, face = rcnn_backbone(p, False), rcnn_backbone(p, True)

    def optimiser(b: str | None) -> str:
        return f"{b}: {_adamw(**rcnn_optimiser(b))}" if b else ""
    g = GenderRecipe(p.finetune_batch)
    people = "all LFW" if p.lfw_people is None else f"{p.lfw_people} LFW"
    return {
        "classifier trunk": f"{p.finetune} (pretrained; fine-tuned {p.finetune_epochs} epochs, batch "
                            f"{p.finetune_batch})",
        "classifier training": "BCE with logits, " + _adamw(g.lr, g.weight_decay, g.step, g.gamma),
        "plain R-CNN trunk": f"{plain or 'not trained'} (random initialisation)",
        "face R-CNN trunk": f"{face or 'not trained'}" + (" (pretrained face weights)" if face else ""),
        "R-CNN input": f"min_size {p.rcnn_min_size}, max_size {p.rcnn_max_size}, "
                       + ("light keypoint head (4 x 128)" if p.rcnn_light_head else "torchvision's keypoint head")
                       + f"; {p.rcnn_epochs} epochs, batch {p.rcnn_batch}",
        "R-CNN optimisers": "; ".join(x for x in (optimiser(plain), optimiser(face)) if x),
        "data": f"{people} people split by person 70/10/20, teacher keypoints"
                + (f"; R-CNN on {p.rcnn_train_images} training images" if p.rcnn_train_images else "")
                + f"; {p.celeba}" + (f" ({p.celeba_images:,} images, seeded)" if p.celeba_images else "")
                + " as the other dataset",
    }


def recipe_table(profiles: tuple[str, ...] = ("cpu", "full")) -> pd.DataFrame:
    """Report 003's recipe vs this chapter's, one row per setting and one column per profile (from the params)."""
    ours = {prof: _our_recipe(CHAPTER.params(prof)) for prof in profiles}
    return pd.DataFrame({"report 003": REPORT_003_RECIPE, **ours}).rename_axis("setting")


def overlay_examples(rcnn: dict[str, dict], labels: dict[str, pd.DataFrame], n: int = 8,
                     backbone: str | None = None) -> list[dict[str, Any]]:
    """Test photos for a keypoint figure, the R-CNN's mistakes first (``backbone``; default: the best by balanced
    accuracy): the image, the teacher's and the R-CNN's five points, P(man) and the true label."""
    from facekit.io import read_image
    from facekit.keypoint_training import keypoints_of

    best = backbone or max(rcnn, key=lambda b: rcnn[b]["metrics"].get("balanced_accuracy") or 0.0)
    table, det = rcnn[best]["table"], rcnn[best]["detector"]
    said_man = table.male_prob >= 0.5
    shown = pd.concat([table[table.found & (said_man != table.male)].head(n // 2),
                       table[table.found & (said_man == table.male)].head(n)]).head(n)
    lab = labels["test"].set_index(labels["test"].path.astype(str))
    out = []
    for _, r in shown.iterrows():
        img = read_image(r.path)
        d = max(det.detect(img), key=lambda x: x.score)
        out.append({"image": img, "teacher": keypoints_of(lab.loc[str(r.path)]), "predicted": d.landmarks,
                    "p_man": float(d.extra["male_prob"][0]), "male": bool(r.male)})
    return out


def report_models_table(st: Study) -> pd.DataFrame:
    """Our figure for each of report 003's models on unseen LFW people, with its interval, beside the report's."""
    rows = []
    for rec in st.records():
        m, rep = rec["metrics"], rec.get("reported") or {}
        if not rep or rec["dataset"] != "lfw":
            continue
        rows.append({"report model": rep["model"], "ours": rec["model"],
                     "substitute_for": rec.get("substitute_for") or "", "accuracy": m.get("accuracy"),
                     "interval": _interval(m, "accuracy"), "cohen_kappa": m.get("cohen_kappa"),
                     "roc_auc": m.get("roc_auc"), "reported by 003: accuracy": rep.get("accuracy"),
                     "reported by 003: κ": rep.get("cohen_kappa", ""), "reported by 003: AUC": rep.get("roc_auc", "")})
    return pd.DataFrame(rows)


__all__ = ["CHAPTER", "REPORTED_003", "REPORT_003_RCNN_OPTIMISERS", "REPORT_003_RECIPE", "REPORT_NOTE", "Params",
           "celeba_path", "datasets", "lfw_path", "rcnn_gender_on_found", "rcnn_labels", "rcnn_optimiser",
           "recipe_table", "run_finetune", "run_probes", "run_rcnn",
           "run_report_like", "scored", "split_table"]

