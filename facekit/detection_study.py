"""The detection study: detectors scored on human annotations (300-W: recall by IoU, 5- and 68-point NME),
reliability of extraction, and timing; every number is written as a results record that the chapter reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facekit import weights
from facekit.data import w300
from facekit.detect.base import Detector, get_detector
from facekit.detect.cache import detect_cached
from facekit.detect.timing import REPORTED_000, time_detector
from facekit.extract import extract_faces, reliability
from facekit.io import read_image
from facekit.metrics import auc_at, failure_rate, match_boxes, nme
from facekit.results import write_result, write_table

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


STUDY = "01_detection"


def build_backends(spec: Sequence[tuple[str, str, dict[str, Any]]]) -> tuple[dict[str, Detector], list[dict]]:
    """Detectors by label; those whose weights are absent are returned as skips with the reason."""
    built, skipped = {}, []
    for label, name, kwargs in spec:
        try:
            built[label] = get_detector(name, **kwargs)
        except (weights.WeightsMissing, weights.WeightsCorrupt) as exc:
            skipped.append({"backend": label, "reason": str(exc)})
    return built, skipped


def _weights_sha(det: Detector) -> dict[str, str]:
    return {w: weights.sha256_of(w) for w in getattr(det, "weights", ())}


def evaluate_all_300w(detectors: dict[str, Detector], faces: pd.DataFrame, profile: str, seed: int = 0,
                      ) -> pd.DataFrame:
    """Score every detector on the annotated faces; one results record and one per-face CSV per backend."""
    rows = []
    for label, det in detectors.items():
        table, summary = evaluate_300w(det, faces)
        timings = {"seconds_per_image": summary.pop("seconds_per_image")}
        write_result(STUDY, f"{label}_300w", profile=profile, dataset="300w_subset",
                     protocol=f"300w-helen-afw-{len(faces)}faces-iou{IOU_THRESHOLD}", model=det.name,
                     metrics=summary, timings=timings, seed=seed, weights_sha256=_weights_sha(det),
                     extra={"config": getattr(det, "config", dict)(), "landmarks": det.has_landmarks})
        write_table(STUDY, f"{label}_300w_faces", table, profile=profile)
        rows.append({"backend": label, **summary, **timings})
    return pd.DataFrame(rows)


def reliability_all(detectors: dict[str, Detector], image_sets: dict[str, list[Path]], profile: str,
                    seed: int = 0) -> pd.DataFrame:
    """Share of images with an accepted face (report 000's sanity checks) per landmark detector and dataset;
    the per-image tables (report 000's metadata) are written as CSV."""
    rows = []
    for label, det in detectors.items():
        if not det.has_landmarks:
            continue
        for set_name, image_paths in image_sets.items():
            table, _ = extract_faces(image_paths, det, aligner="arcface112", policy="largest")
            rel = reliability(table)
            write_table(STUDY, f"{label}_{set_name}_extraction", table, profile=profile)
            write_result(STUDY, f"{label}_{set_name}_reliability", profile=profile, dataset=set_name,
                         protocol=f"{len(image_paths)}-images-largest-face-arcface112-quality-checks",
                         model=det.name, metrics=rel, seed=seed, weights_sha256=_weights_sha(det),
                         timings={"detect_seconds_per_image": float(table.detect_seconds.mean())})
            rows.append({"backend": label, "dataset": set_name, **rel})
    return pd.DataFrame(rows)


def timing_all(detectors: dict[str, Detector], image_sets: dict[str, list[Path]], profile: str,
               seed: int = 0) -> pd.DataFrame:
    """Seconds per image (single, batched, detect + align) per detector and image set, with report 000's
    published extraction times as a labelled "reported" entry."""
    import torch

    torch.set_num_threads(2)
    loaded = {k: [read_image(p) for p in v] for k, v in image_sets.items()}
    rows = []
    for label, det in detectors.items():
        for set_name, images in loaded.items():
            t = time_detector(det, images)
            write_result(STUDY, f"{label}_{set_name}_timing", profile=profile, dataset=set_name,
                         protocol=f"{len(images)}-images-2-threads", model=det.name, metrics={"images": len(images)},
                         timings={k: v for k, v in t.items() if k != "images"}, reported=REPORTED_000, seed=seed)
            rows.append({"backend": label, "dataset": set_name, **t})
    return pd.DataFrame(rows)


def sample_paths(paths: Sequence[Path], n: int | None, seed: int) -> list[Path]:
    """``n`` paths drawn with a seed (all of them when ``n`` is None), in their original order."""
    paths = list(paths)
    if n is None or n >= len(paths):
        return paths
    pick = np.sort(np.random.default_rng(seed).choice(len(paths), size=n, replace=False))
    return [paths[i] for i in pick]
