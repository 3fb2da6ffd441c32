"""Batch face extraction: cached detection, one face chosen per image, alignment, sanity checks, a per-image table.

The table is report 000's metadata: image, detector, faces found, score, face chosen, rejection reason, seconds.
Crops are recomputed from the cached detections (a warp costs well under a millisecond) and optionally saved.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from facekit.align import DEFAULT_QUALITY, QualityConfig, align, quality_reasons
from facekit.detect.cache import CacheStats
from facekit.face_path import FacePath
from facekit.io import read_image


def extract_faces(image_paths: Sequence[str | Path], face_path: FacePath,
                  quality: QualityConfig | None = DEFAULT_QUALITY, save_dir: Path | None = None,
                  progress: bool = True, stats: CacheStats | None = None,
                  return_crops: bool = False) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The path's detection (cached) and choice of one face per image (its rules: policy, backup detector,
    fallback), its aligner, then report 000's quality checks; one row per image.

    ``rejection`` is empty for an accepted face, else the reason (unreadable file, no face, failed checks).
    With ``save_dir``, accepted crops are written as PNG named after the image's sha1.
    """
    detector, aligner = face_path.build_detector(), face_path.aligned_with()
    detected, second = face_path.detect(image_paths, progress, stats)
    chosen = face_path.choose(detected, second)
    rows, crops = [], {}
    for i, (d, (det, kind)) in enumerate(zip(detected, chosen, strict=True)):
        row = {"image": str(d.path), "sha1": d.sha1, "detector": detector.name, "faces_found": len(d.detections),
               "face_chosen": None, "score": None, "box": None, "face_source": kind, "accepted": False,
               "rejection": "", "detect_seconds": d.seconds, "align_seconds": 0.0}
        if d.error:
            row["rejection"] = f"unreadable: {d.error}"
            rows.append(row)
            continue
        if det is None:
            row["rejection"] = "no face detected"
            rows.append(row)
            continue
        pool = {"detected": d.detections, "backup": second[i].detections if second else []}.get(kind, [])
        idx = next((k for k, x in enumerate(pool) if x is det), None)  # None: the set's mean face
        row.update(face_chosen=idx, score=det.score, box=[round(float(v), 1) for v in det.box])
        t0 = time.perf_counter()
        try:
            crop = align(aligner, read_image(d.path), det)
        except ValueError as exc:
            row["rejection"] = f"alignment failed: {exc}"
            rows.append(row)
            continue
        row["align_seconds"] = time.perf_counter() - t0
        reasons = quality_reasons(det, crop, quality) if quality is not None else []
        row["rejection"] = "; ".join(reasons)
        row["accepted"] = not reasons
        if row["accepted"]:
            if return_crops:
                crops[str(d.path)] = crop
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                Image.fromarray(crop).save(save_dir / f"{d.sha1}.png")
        rows.append(row)
    return pd.DataFrame(rows), crops


def reliability(table: pd.DataFrame) -> dict[str, float]:
    """Share of images with an accepted face (report 000's "kept"), and the causes of rejection."""
    n = len(table)
    reasons = table.loc[~table.accepted, "rejection"].str.split(";").explode().str.strip()
    causes = reasons.str.split(r"[(:]", regex=True).str[0].str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True)
    counts = causes.str.strip("_").value_counts()
    return {"images": n, "accepted": int(table.accepted.sum()),
            "accepted_share": float(table.accepted.mean()) if n else float("nan"),
            "with_face_share": float((table.faces_found > 0).mean()) if n else float("nan"),
            **{f"rejected_{k}": int(v) for k, v in counts.items()}}
