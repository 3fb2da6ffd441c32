"""Detectors scored on human annotations: the 300-W subset (recall by IoU, 5-point and 68-point NME)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facekit.data import w300
from facekit.detect.base import Detector
from facekit.detect.cache import detect_cached
from facekit.metrics import auc_at, failure_rate, match_boxes, nme

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
    summary = {
        "faces": len(table), "recall": float(table.matched.mean()),
        "mean_iou_matched": float(table.loc[table.matched, "iou"].mean()) if table.matched.any() else 0.0,
        "nme5_mean": float(matched.nme5.mean()) if len(matched) else float("nan"),
        "nme5_median": float(matched.nme5.median()) if len(matched) else float("nan"),
        "failure_rate_0.1": failure_rate(table.nme5.to_numpy(), 0.1),
        "auc_0.1": auc_at(table.nme5.to_numpy(), 0.1),
        "detections_per_helen_image": float(helen.detections.mean()),
        "seconds_per_image": float(np.mean([d.seconds for d in detected.values()])),
    }
    if table.nme68.notna().any():
        summary["nme68_mean"] = float(table.nme68.mean())
    return table, summary
