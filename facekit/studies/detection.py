"""The detection chapter's study (01_detection): detectors scored on human annotations (300-W: recall by IoU,
5- and 68-point NME), reliability of extraction, and timing; every number is written as a results record that the
chapter reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import w300
from facekit.detect.base import Detector
from facekit.detect.cache import detect_cached
from facekit.extract import extract_faces, reliability
from facekit.face_path import FacePath
from facekit.io import read_image
from facekit.metrics import auc_at, failure_rate, match_boxes, nme
from facekit.studies.cosine_heads import REPORTED_TIMES
from facekit.studies.kit import Chapter, Study
from facekit.timing import time_detection

#: Backends of the chapter: (label, registry name, keyword arguments).
FAST = (
    ("mediapipe", "mediapipe", {}),
    ("retinaface", "retinaface", {}),
    ("retinaface-single-pass", "retinaface", {"refine": False}),
    ("mtcnn", "mtcnn", {}),
    ("dlib-hog", "dlib-hog", {}),
    ("haar", "haar", {}),
    # single-shot detectors from the weights mirror (WIDER FACE), each decoded in facekit.detect
    ("scrfd", "scrfd", {}),
    ("yunet", "yunet", {}),
    ("yolov8-face", "yolov8-face", {}),
    ("yolov5-face", "yolov5-face", {}),
)


@dataclass(frozen=True)
class Params:
    """The detection chapter's parameters (defaults: the cpu profile). ``None`` counts mean "all"."""

    # dlib's CNN takes ~3 s per 300-W image at 1024 px on 2 cores: 640 px here, 1024 in full
    backends: tuple = (*FAST, ("dlib-cnn", "dlib-cnn", {"max_side": 640}))
    images_300w: int | None = None
    reliability_lfw: int | None = 500
    reliability_celeba: int | None = None
    reliability_skip: tuple[str, ...] = ("retinaface-single-pass", "dlib-cnn")
    timing_lfw: int = 60
    timing_celeba: int = 20
    # report 001's detection test: precision, recall and mean IoU at 0.5 on this many full-CelebA images with
    # their labelled box (0: not run; the full CelebA is the full profile's data)
    celeba_boxes: int = 0


OVERRIDES = {
    "smoke": {"backends": FAST, "images_300w": 12, "reliability_lfw": 12, "reliability_celeba": 8,
              "reliability_skip": ("retinaface-single-pass",), "timing_lfw": 8, "timing_celeba": 4},
    "full": {"backends": (*FAST, ("dlib-cnn", "dlib-cnn", {}), ("retinaface-r50", "retinaface-r50", {}),
                          ("yolo-face", "yolo", {"model": "yolov8n-face"})),
             "reliability_lfw": None, "reliability_skip": (), "timing_lfw": 200, "timing_celeba": 50,
             "celeba_boxes": 1000},
}


def backend_paths(p: Params) -> dict[str, FacePath]:
    """Each backend as a face path: its largest face aligned to the 112x112 ArcFace template, no fallback."""
    return {label: FacePath(name, detector_kwargs=kwargs, policy="largest", fallback=None, aligner="arcface112")
            for label, name, kwargs in p.backends}


#: Report 001's claims about detectors and landmarks, by the key the synthesis judges each under
CLAIMS_001_DETECTION = ("001-detection", "001-landmarks")
CHAPTER = Chapter("01_detection", "Face detection and alignment", Params, OVERRIDES,
                  datasets=("300w_subset", "lfw", "celeba_subset"), claims=CLAIMS_001_DETECTION,
                  alone=True,  # it times the detectors
                  needs_of=lambda p: [*backend_paths(p).values(), *(["dataset:celeba"] if p.celeba_boxes else [])])


#: IoU convention: detector boxes against the tight box of the 68 annotated points (brows to chin). Detectors
#: draw boxes of other shapes (MTCNN includes the forehead, dlib HOG is tighter), so the threshold is 0.5 rather
#: than WIDER's convention, and recall by this rule is a lower bound of "the face was found".
IOU_THRESHOLD = 0.5


def evaluate_300w(detector: Detector, faces: pd.DataFrame | None = None, progress: bool = True,
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per annotated face: matched detection, IoU, 5-point NME (inf when missed or without landmarks),
    68-point NME where the detector gives 68 points; plus a summary of recall, NME and failure rate."""
    faces = w300.faces() if faces is None else faces
    images = list(dict.fromkeys(faces.image))
    detected = {d.path: d for d in detect_cached(detector, images, progress=progress)}
    rows = []
    for image, group in faces.groupby("image", sort=False):
        dets = detected[image].detections
        gt_boxes = np.stack([w300.box_from_landmarks(lm) for lm in group.landmarks])
        pred_boxes = np.stack([d.box for d in dets]) if dets else np.zeros((0, 4))
        match, ious = match_boxes(gt_boxes, pred_boxes, IOU_THRESHOLD)
        for (_, face), m, iou in zip(group.iterrows(), match, ious, strict=True):
            io = w300.interocular(face.landmarks)
            row = {"image": str(image), "pts": face.pts.name, "subset": face.subset, "detections": len(dets),
                   "matched": m >= 0, "iou": iou, "interocular": io, "nme5": np.inf, "nme68": np.nan}
            if m >= 0:
                det = dets[m]
                if det.landmarks is not None:
                    row["nme5"] = nme(det.landmarks, w300.five_points(face.landmarks), io)
                if "landmarks68" in det.extra:
                    row["nme68"] = nme(det.extra["landmarks68"], face.landmarks, io)
            rows.append(row)
    table = pd.DataFrame(rows)
    matched = table[table.matched & np.isfinite(table.nme5)]
    helen = table[table.subset == "helen"].drop_duplicates("image")
    has_lm = bool(getattr(detector, "has_landmarks", False))
    summary: dict[str, float | None] = {
        "faces": len(table), "recall": float(table.matched.mean()),
        "mean_iou_matched": float(table.loc[table.matched, "iou"].mean()) if table.matched.any() else None,
        # landmark metrics are undefined (None, not 0 or NaN) for box-only detectors
        "nme5_mean": float(matched.nme5.mean()) if has_lm and len(matched) else None,
        "nme5_median": float(matched.nme5.median()) if has_lm and len(matched) else None,
        "failure_rate_0.1": failure_rate(table.nme5.to_numpy(), 0.1) if has_lm else None,
        "auc_0.1": auc_at(table.nme5.to_numpy(), 0.1) if has_lm else None,
        "detections_per_helen_image": float(helen.detections.mean()) if len(helen) else None,
        "seconds_per_image": float(np.mean([d.seconds for d in detected.values()])),
    }
    if table.nme68.notna().any():
        summary["nme68_mean"] = float(table.nme68.mean())
    return table, summary


def evaluate_boxes(detector: Detector, images: pd.DataFrame, progress: bool = True,
                   ) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """Report 001's detection test: each image's one labelled box (``x1 y1 x2 y2``) against the detections, one
    to one at IoU ``IOU_THRESHOLD``. Recall: labelled faces matched; precision: detections that matched a labelled
    face (CelebA labels one face per image, so another real face found counts against it, as in the report)."""
    detected = {d.path: d for d in detect_cached(detector, list(images.path), progress=progress)}
    rows = []
    for r in images.itertuples():
        dets = detected[r.path].detections
        pred = np.stack([d.box for d in dets]) if dets else np.zeros((0, 4))
        match, ious = match_boxes(np.array([[r.x1, r.y1, r.x2, r.y2]]), pred, IOU_THRESHOLD)
        rows.append({"image": str(r.path), "detections": len(dets), "matched": bool(match[0] >= 0),
                     "iou": float(ious[0])})
    table = pd.DataFrame(rows)
    n_det = int(table.detections.sum())
    return table, {"images": len(table), "recall": float(table.matched.mean()),
                   "precision": float(table.matched.sum() / n_det) if n_det else None,
                   "mean_iou_matched": float(table.loc[table.matched, "iou"].mean()) if table.matched.any() else None,
                   "detections": n_det}


def evaluate_all_boxes(st: Study, detectors: dict[str, Detector]) -> pd.DataFrame:
    """Every detector on ``celeba_boxes`` full-CelebA images (report 001's test); a record and a per-image table
    each. Empty where the profile does not run it."""
    from facekit.data import celeba

    n = st.params.celeba_boxes
    if not n:
        return pd.DataFrame()
    images = celeba.box_sample(n, st.seed)
    rows = []
    for label, det in detectors.items():
        table, summary = evaluate_boxes(det, images)
        st.write(f"{label}_celeba-boxes", dataset="celeba", protocol=f"celeba-{len(images)}images-iou{IOU_THRESHOLD}",
                 model=det.name, metrics=summary, weights_used=getattr(det, "weights", ()))
        st.write_table(f"{label}_celeba-boxes_images", table)
        rows.append({"backend": label, **summary})
    return pd.DataFrame(rows)


def celeba_boxes_note(p: Params) -> str:
    """Whether this profile runs report 001's CelebA detection test, and why not."""
    if p.celeba_boxes:
        return (f"{p.celeba_boxes:,} images of the full CelebA (seeded), each with its one labelled box; IoU "
                f"{IOU_THRESHOLD} for a match.")
    return ("Not run in this profile: the test needs the full CelebA's labelled boxes (`list_bbox_celeba.txt`), "
            "which the subset on these machines does not have; the full profile runs it on 1,000 images.")


def build_backends(st: Study) -> tuple[dict[str, FacePath], dict[str, Detector], list[dict]]:
    """The backends whose weights are here (face paths and built detectors by label), and the others with the
    reason they cannot run."""
    paths_ = backend_paths(st.params)
    ok, why = st.runnable(paths_)
    return ({k: paths_[k] for k in ok}, {k: paths_[k].build_detector() for k in ok},
            [{"backend": k, "reason": v} for k, v in why.items()])


def evaluate_all_300w(st: Study, detectors: dict[str, Detector], faces: pd.DataFrame) -> pd.DataFrame:
    """Score every detector on the annotated faces; one results record and one per-face CSV per backend."""
    rows = []
    for label, det in detectors.items():
        table, summary = evaluate_300w(det, faces)
        timings = {"seconds_per_image": summary.pop("seconds_per_image")}
        st.write(f"{label}_300w", dataset="300w_subset",
                 protocol=f"300w-helen-afw-{len(faces)}faces-iou{IOU_THRESHOLD}", model=det.name,
                 metrics=summary, timings=timings, weights_used=getattr(det, "weights", ()),
                 extra={"config": getattr(det, "config", dict)(), "landmarks": det.has_landmarks})
        st.write_table(f"{label}_300w_faces", table)
        rows.append({"backend": label, **summary, **timings})
    return pd.DataFrame(rows)


def reliability_all(st: Study, face_paths: dict[str, FacePath], image_sets: dict[str, list[Path]],
                    ) -> pd.DataFrame:
    """Share of images with an accepted face (report 000's sanity checks) per landmark detector and dataset;
    the per-image tables (report 000's metadata) are written as CSV."""
    rows = []
    for label, fp in face_paths.items():
        det = fp.build_detector()
        if not det.has_landmarks:
            continue
        for set_name, image_paths in image_sets.items():
            table, _ = extract_faces(image_paths, fp)
            rel = reliability(table)
            st.write_table(f"{label}_{set_name}_extraction", table)
            st.write(f"{label}_{set_name}_reliability", dataset=set_name,
                     protocol=f"{len(image_paths)}-images-largest-face-arcface112-quality-checks",
                     model=det.name, metrics=rel, face_path=fp,
                     timings={"detect_seconds_per_image": float(table.detect_seconds.mean())})
            rows.append({"backend": label, "dataset": set_name, **rel})
    return pd.DataFrame(rows)


def timing_all(st: Study, face_paths: dict[str, FacePath], image_sets: dict[str, list[Path]]) -> pd.DataFrame:
    """Seconds per image (single, batched, detect + align) per detector and image set, with report 000's
    published extraction times as a labelled "reported" entry."""
    import torch

    torch.set_num_threads(2)
    loaded = {k: [read_image(p) for p in v] for k, v in image_sets.items()}
    rows = []
    for label, fp in face_paths.items():
        for set_name, images in loaded.items():
            t = time_detection(fp, images)
            st.write(f"{label}_{set_name}_timing", dataset=set_name, protocol=f"{len(images)}-images-2-threads",
                     model=fp.build_detector().name, metrics={"images": len(images)},
                     timings={k: v for k, v in t.items() if k != "images"}, reported=REPORTED_TIMES)
            rows.append({"backend": label, "dataset": set_name, **t})
    return pd.DataFrame(rows)


def sample_paths(paths: Sequence[Path], n: int | None, seed: int) -> list[Path]:
    """``n`` paths drawn with a seed (all of them when ``n`` is None), in their original order."""
    paths = list(paths)
    if n is None or n >= len(paths):
        return paths
    pick = np.sort(np.random.default_rng(seed).choice(len(paths), size=n, replace=False))
    return [paths[i] for i in pick]


# ------------------------------------------------------------------------------------------------ the chapter's tables
def backend_table(detectors: dict[str, Detector]) -> pd.DataFrame:
    """Each backend that runs here: label, registry name, landmarks or not, weights files, configuration."""
    return pd.DataFrame([{"label": label, "backend": det.name, "landmarks": det.has_landmarks,
                          "weights": ", ".join(getattr(det, "weights", ())) or "(none)",
                          "config": getattr(det, "config", dict)()} for label, det in detectors.items()])


def registered_backends() -> pd.DataFrame:
    """Every detector the registry knows, with its one-line description."""
    from facekit.detect import available

    return pd.DataFrame([{"registered backend": k, "what": v} for k, v in available().items()])


def absent_weights(st: Study) -> list[str]:
    """Every registered weights file that is not on this machine, with where the full profile gets it."""
    from facekit import weights

    _, missing = st.runnable({name: f"weights:{name}" for name in weights.REGISTRY})
    return [f"`{k}`: {weights.get_spec(k).notes or weights.get_spec(k).url}" for k in missing]


def faces_300w(st: Study) -> pd.DataFrame:
    """The 300-W subset's annotated faces (the first ``images_300w`` images in smoke)."""
    faces = w300.faces()
    if st.params.images_300w is not None:
        keep = list(dict.fromkeys(faces.image))[: st.params.images_300w]
        faces = faces[faces.image.isin(keep)]
    return faces


def accuracy_table(st: Study, labels: Sequence[str]) -> pd.DataFrame:
    """The 300-W records of ``labels``: recall, NME, failure rate, AUC, IoU, boxes per HELEN image, time; best
    5-point NME first."""
    res = st.table([f"{label}_300w" for label in labels])
    cols = ["name", "model", "recall", "nme5_mean", "nme5_median", "failure_rate_0.1", "auc_0.1", "nme68_mean",
            "mean_iou_matched", "detections_per_helen_image", "time.seconds_per_image"]
    return res[[c for c in cols if c in res.columns]].rename(columns={"name": "result"}).sort_values("nme5_mean")


def nme_cdfs(st: Study, detectors: dict[str, Detector], grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per landmark detector, the share of annotated faces with a 5-point NME at or below each grid value."""
    from facekit.metrics import cdf

    return {label: cdf(st.read_table(f"{label}_300w_faces").nme5.to_numpy(), grid)
            for label, det in detectors.items() if det.has_landmarks}


def predicted_points(detectors: dict[str, Detector], image: str | Path) -> dict[str, list[np.ndarray]]:
    """Each landmark detector's five points on one image, from the detection cache the evaluation filled."""
    out = {}
    for label, det in detectors.items():
        if det.has_landmarks:
            found = detect_cached(det, [image], progress=False)[0].detections
            out[label] = [d.landmarks for d in found if d.landmarks is not None]
    return out


def image_sets(st: Study, kind: str) -> dict[str, list[Path]]:
    """The seeded LFW and CelebA samples of the reliability section (``kind`` "reliability") or of the timing
    section ("timing", another seed)."""
    from facekit.data import celeba, lfw

    p = st.params
    n_lfw, n_celeba, seed = ((p.reliability_lfw, p.reliability_celeba, st.seed) if kind == "reliability"
                             else (p.timing_lfw, p.timing_celeba, st.seed + 1))
    return {"lfw": sample_paths(lfw.images().path, n_lfw, seed),
            "celeba_subset": sample_paths(celeba.subset_images().path, n_celeba, seed)}


def reliability_table(st: Study, labels: Sequence[str], sets: Sequence[str]) -> pd.DataFrame:
    """Accepted share and the causes of rejection per detector and image set (a cause a row lacks counts 0)."""
    rel = st.table([f"{label}_{s}_reliability" for label in labels for s in sets])
    cols = [c for c in rel.columns if c in ("name", "model", "dataset", "images", "accepted", "accepted_share",
                                            "with_face_share") or c.startswith("rejected_")]
    return rel[cols].fillna(0)


def timing_table(st: Study, labels: Sequence[str], sets: Sequence[str]) -> pd.DataFrame:
    """Milliseconds per image (single, batched, detect + align) per detector and set, and how many times below
    report 000's published 2.07 s and 4.65 s the detect + align time is (labelled as reported by 000)."""
    tim = st.table([f"{label}_{s}_timing" for label in labels for s in sets])
    tim["ms_single_median"] = tim["time.single_median"] * 1e3
    tim["ms_batched_mean"] = tim["time.batched_mean"] * 1e3
    if "time.detect_align_median" in tim:
        tim["ms_detect_align_median"] = tim["time.detect_align_median"] * 1e3
        da = tim["time.detect_align_median"].fillna(tim["time.single_median"])
        tim["x_faster_than_reported_4.65s"] = (tim["reported.retinaface_dlib_seconds_per_image"] / da).round(0)
        tim["x_faster_than_reported_2.07s"] = (tim["reported.yolo_person_seconds_per_image"] / da).round(0)
    return tim


def fastest_with_landmarks(tim: pd.DataFrame) -> str:
    """One sentence: the fastest detector with landmarks on LFW, against report 000's published times."""
    rows = tim[tim.dataset == "lfw"].dropna(subset=["time.detect_align_median"])
    best = rows.sort_values("time.detect_align_median").iloc[0]
    t = best["time.detect_align_median"]
    return (f"Fastest detector with landmarks on LFW: **{best['model']}**, detect + align median "
            f"**{t * 1e3:.1f} ms** per image on 2 cores, {best['reported.retinaface_dlib_seconds_per_image'] / t:.0f}x "
            f"below the 4.65 s and {best['reported.yolo_person_seconds_per_image'] / t:.0f}x below the 2.07 s reported "
            "by 000 (different hardware and pipeline; an order of magnitude, not a like-for-like race).")
