"""What the commands need from the chapters, without their training code: the LFW verification threshold and
face path the metric-learning chapter calibrated (``facekit verify``), and the open-set threshold of the retrieval
chapter with the face path a user's photos go through (``facekit enroll``), read from the results records. Kept
apart so that a one-pair check in a fresh process imports no torch when its embedder (dlib) does not need it.

Records of the full build are preferred, then the cpu build's; the smoke build's (60 LFW pairs) only when asked
for by name, since a threshold at a low false-accept rate means nothing on so few pairs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facekit.face_path import FacePath
from facekit.results import TRUSTED_PROFILES, find_record
from facekit.studies.kit import LFW_PATHS
from facekit.verification import VerifyError, verify_pair

if TYPE_CHECKING:
    from facekit.gallery import Threshold

#: The chapter whose LFW View 2 records hold the verification thresholds.
VERIFICATION_CHAPTER = "03_metric_learning"
#: The chapter whose open-set records hold the 1:N "unknown" thresholds.
RETRIEVAL_CHAPTER = "04_retrieval"
#: The chapter that trains the Keypoint R-CNNs ``facekit analyze`` runs.
KEYPOINTS_CHAPTER = "05_gender_keypoints"


def _not_found(what: str, study: str, match, profile: str | None) -> str:
    """Why no calibration was found, and what to do: build the book, or ask for the smoke build's by name."""
    where = f"the {profile} build" if profile else "the " + " or ".join(TRUSTED_PROFILES) + " build"
    if profile is None and find_record(study, match, "smoke") is not None:
        return (f"no {what} in {where}; only the smoke build has one, calibrated on a handful of LFW images, too "
                "few for a threshold at that rate: build the book (`make book`), or pass --profile smoke to use "
                "it anyway")
    return f"no {what} in {where}; build the book first (`make book` runs notebooks/{study}.py)"


#: The commands' embedder where no build has calibrated one (their error then says to build the book)
FALLBACK_EMBEDDER = "mobilefacenet-casia"


def best_calibrated(far: float = 1e-3, profile: str | None = None, open_set_far: float | None = None,
                    ) -> tuple[str, str]:
    """The embedder a command uses when none is named, and why: of the registered embedders the verification
    chapter calibrated at ``far`` (in the build ``find_record`` would read), the one with the highest TPR there;
    with ``open_set_far``, only those the retrieval chapter also calibrated at that false-alarm rate."""
    from facekit.models.embedders import EMBEDDERS
    from facekit.results import read_results

    tag = f"{far:.0e}".replace("e-0", "e-")
    for prof in ([profile] if profile else TRUSTED_PROFILES):
        recs = [r for r in read_results(prof, VERIFICATION_CHAPTER) if r["name"].endswith("_lfw-view2")
                and r["name"].removesuffix("_lfw-view2") in EMBEDDERS.available()
                and f"tpr_at_far_{tag}" in r["metrics"] and r.get("face_path")]
        if open_set_far is not None:
            opened = {r["name"].removeprefix("open-set_") for r in read_results(prof, RETRIEVAL_CHAPTER)
                      if r["name"].startswith("open-set_") and any(
                          abs(row["target FAR"] - open_set_far) < 1e-12 for row in r.get("extra", {}).get("rows", []))}
            recs = [r for r in recs if r["name"].removesuffix("_lfw-view2") in opened]
        if recs:
            best = max(recs, key=lambda r: r["metrics"][f"tpr_at_far_{tag}"])
            return (best["name"].removesuffix("_lfw-view2"), f"the highest TPR at FAR {far:g} on LFW in the {prof} "
                    f"build ({best['metrics'][f'tpr_at_far_{tag}']:.4f})")
    return FALLBACK_EMBEDDER, "no build has calibrated an embedder yet"


def calibration(embedder: str, far: float, profile: str | None = None) -> tuple[float, FacePath, dict]:
    """The threshold at ``far`` and the face path of the embedder's LFW View 2 record (the given profile, else
    full, then cpu; a smoke record only when ``profile`` is "smoke")."""
    tag = f"threshold_at_far_{far:.0e}".replace("e-0", "e-")

    def match(rec: dict) -> bool:
        return rec["name"] == f"{embedder}_lfw-view2" and tag in rec["metrics"]

    rec = find_record(VERIFICATION_CHAPTER, match, profile)
    if rec is None:
        raise VerifyError(_not_found(f"LFW calibration of {embedder} at FAR {far:g} ({tag})", VERIFICATION_CHAPTER,
                                     match, profile))
    if not rec.get("face_path"):
        raise VerifyError(f"the LFW record of {embedder} ({rec['profile']}) predates face paths; rebuild the "
                          f"chapter (`facekit book --profile {rec['profile']} --only {VERIFICATION_CHAPTER}`)")
    return float(rec["metrics"][tag]), FacePath.from_json(rec["face_path"]), rec


def verify(path_a: str | Path, path_b: str | Path, embedder: str = "dlib-resnet", far: float = 1e-3,
           profile: str | None = None) -> dict:
    """Same person? The calibrated face path of ``embedder`` and its LFW threshold at ``far``."""
    threshold, face_path, rec = calibration(embedder, far, profile)
    out = verify_pair(path_a, path_b, face_path, threshold)
    return {**out, "far": far, "embedder": embedder, "detector": face_path.detector,
            "calibrated_on": f"{rec['name']} ({rec['profile']})", "profile": rec["profile"],
            "pairs": rec["metrics"].get("pairs")}


def open_set_calibration(embedder: str, far: float = 0.01, profile: str | None = None) -> Threshold:
    """The open-set threshold at ``far`` from the retrieval chapter's record for ``embedder`` (the given profile,
    else full, then cpu), with where it came from; GalleryError when there is none."""
    from facekit.gallery import GalleryError, Threshold

    def row_of(rec: dict) -> dict | None:
        if rec["name"] != f"open-set_{embedder}":
            return None
        return next((r for r in rec.get("extra", {}).get("rows", []) if abs(r["target FAR"] - far) < 1e-12), None)

    rec = find_record(RETRIEVAL_CHAPTER, lambda r: row_of(r) is not None, profile)
    if rec is None:
        raise GalleryError(_not_found(f"open-set calibration of {embedder} at FAR {far:g}", RETRIEVAL_CHAPTER,
                                      lambda r: row_of(r) is not None, profile) + ", or pass --threshold")
    return Threshold(float(row_of(rec)["threshold"]), f"{rec['name']}, FAR {far:g} on LFW's open set",
                     rec["profile"])


def enroll_path(embedder: str) -> FacePath:
    """The embedder's calibrated face path for a user's photos: the largest face, no mean-face fallback."""
    if embedder not in LFW_PATHS:
        raise KeyError(f"no face path for embedder {embedder!r}; known: {', '.join(LFW_PATHS)}")
    return LFW_PATHS[embedder].replace(policy="largest", fallback=None)


def best_rcnn_record(profile: str | None = None) -> dict:
    """The recorded Keypoint R-CNN with the best balanced accuracy on held-out LFW people, from ``profile``, else
    from the full build, then the cpu build (a smoke build's model only when asked for by name)."""
    from facekit.results import read_results

    for prof in ([profile] if profile else TRUSTED_PROFILES):
        recs = [r for r in read_results(prof, KEYPOINTS_CHAPTER) if r["name"].startswith("keypoint-rcnn-")]
        if recs:
            return max(recs, key=lambda r: r["metrics"].get("balanced_accuracy") or 0.0)
    match = lambda r: r["name"].startswith("keypoint-rcnn-")  # noqa: E731
    raise FileNotFoundError(_not_found("Keypoint R-CNN model", KEYPOINTS_CHAPTER, match, profile))
