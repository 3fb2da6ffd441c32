"""What ``facekit verify`` needs, without the chapters' training code: the LFW threshold and face path that the
metric-learning chapter calibrated, read from its results records. Kept apart so that a one-pair check in a fresh
process imports no torch when its embedder (dlib) does not need it."""

from __future__ import annotations

from pathlib import Path

from facekit.face_path import FacePath
from facekit.profiles import PROFILES
from facekit.results import read_results
from facekit.verification import VerifyError, verify_pair

#: The chapter whose LFW View 2 records hold the verification thresholds.
VERIFICATION_CHAPTER = "03_metric_learning"


def calibration(embedder: str, far: float, profile: str | None = None) -> tuple[float, FacePath, dict]:
    """The threshold at ``far`` and the face path of the embedder's LFW View 2 record (the given profile, else
    full, cpu, smoke)."""
    tag = f"threshold_at_far_{far:.0e}".replace("e-0", "e-")
    for prof in ([profile] if profile else [p for p in reversed(PROFILES)]):
        for rec in read_results(prof, VERIFICATION_CHAPTER):
            if rec["name"] == f"{embedder}_lfw-view2" and tag in rec["metrics"]:
                if not rec.get("face_path"):
                    raise VerifyError(f"the LFW record of {embedder} ({prof}) predates face paths; rebuild the "
                                      f"chapter (`facekit book --profile {prof} --only {VERIFICATION_CHAPTER}`)")
                return float(rec["metrics"][tag]), FacePath.from_json(rec["face_path"]), rec
    raise VerifyError(f"no LFW calibration of {embedder} at FAR {far:g} ({tag}); build the book first "
                      f"(`make book` runs notebooks/{VERIFICATION_CHAPTER}.py)")


def verify(path_a: str | Path, path_b: str | Path, embedder: str = "dlib-resnet", far: float = 1e-3,
           profile: str | None = None) -> dict:
    """Same person? The calibrated face path of ``embedder`` and its LFW threshold at ``far``."""
    threshold, face_path, rec = calibration(embedder, far, profile)
    out = verify_pair(path_a, path_b, face_path, threshold)
    return {**out, "far": far, "embedder": embedder, "detector": face_path.detector,
            "calibrated_on": f"{rec['name']} ({rec['profile']})"}
