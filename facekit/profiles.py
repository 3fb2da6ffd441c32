"""Profiles: the parameter sets shared by every notebook and the CLI (smoke, cpu, full)."""

from __future__ import annotations

from typing import Any

# Detector backends of the detection chapter: (label, registry name, keyword arguments).
_BACKENDS_FAST = [
    ("mediapipe", "mediapipe", {}),
    ("retinaface", "retinaface", {}),
    ("retinaface-single-pass", "retinaface", {"refine": False}),
    ("mtcnn", "mtcnn", {}),
    ("dlib-hog", "dlib-hog", {}),
    ("haar", "haar", {}),
]

PROFILES: dict[str, dict[str, Any]] = {
    # seconds to a few minutes per notebook on 2 CPU cores; tiny subsets; proves the pipeline (CI)
    "smoke": {"decode_check_images": 200, "sample_grid": 8, "seed": 0,
              "detection_backends": _BACKENDS_FAST, "detection_300w_images": 12,
              "detection_reliability_lfw": 24, "detection_reliability_celeba": 16,
              "detection_reliability_skip": ["retinaface-single-pass"],
              "detection_timing_lfw": 8, "detection_timing_celeba": 4,
              "lfw_pairs_per_fold": 12, "lfw_detector": "retinaface",
              "lfw_ablation_folds": (1, 2), "lfw_ablation_pairs_per_fold": 12, "lfw_jitter": 2,
              "lfw_jitter_pairs_per_fold": 6,
              "metric_train": {"epochs": 1, "batch_size": 16, "input_size": 32, "max_people": 40,
                               "pairs_per_fold": 12},
              "metric_train_vgg16": {"epochs": 1, "batch_size": 16, "input_size": 32, "max_people": 40,
                                     "pairs_per_fold": 12},
              "projection_people": 6},
    # real subsets and real numbers on a 2-core laptop (the default of `make book`)
    "cpu": {"decode_check_images": None, "sample_grid": 16, "seed": 0,
            # dlib's CNN takes ~3 s per 300-W image at 1024 px on 2 cores: 640 px here, 1024 in full
            "detection_backends": [*_BACKENDS_FAST, ("dlib-cnn", "dlib-cnn", {"max_side": 640})],
            "detection_300w_images": None, "detection_reliability_lfw": 500, "detection_reliability_celeba": None,
            "detection_reliability_skip": ["retinaface-single-pass", "dlib-cnn"],
            "detection_timing_lfw": 60, "detection_timing_celeba": 20,
            "lfw_pairs_per_fold": None, "lfw_detector": "retinaface",
            "lfw_ablation_folds": (1, 2), "lfw_ablation_pairs_per_fold": 300, "lfw_jitter": 5,
            "lfw_jitter_pairs_per_fold": 60,
            # sized for roughly 6-8 minutes per model on 2 cores (measured in the chapter)
            "metric_train": {"epochs": 10, "batch_size": 64, "input_size": 96, "max_people": None,
                             "pairs_per_fold": None},
            "metric_train_inception": {"epochs": 10, "batch_size": 64, "input_size": 64, "max_people": None,
                                       "pairs_per_fold": None},
            "metric_train_vgg16": {"epochs": 2, "batch_size": 32, "input_size": 64, "max_people": None,
                                   "pairs_per_fold": None},
            "projection_people": 20},
    # the reports' scale on a GPU box with the full datasets downloaded
    "full": {"decode_check_images": None, "sample_grid": 16, "seed": 0,
             "detection_backends": [*_BACKENDS_FAST, ("dlib-cnn", "dlib-cnn", {}),
                                    ("retinaface-r50", "retinaface-r50", {}),
                                    ("yolo-face", "yolo", {"model": "yolov8n-face"})],
             "detection_300w_images": None, "detection_reliability_lfw": None, "detection_reliability_skip": [],
             "detection_reliability_celeba": None, "detection_timing_lfw": 200, "detection_timing_celeba": 50,
             "lfw_pairs_per_fold": None, "lfw_detector": "retinaface",
             "lfw_ablation_folds": tuple(range(1, 11)), "lfw_ablation_pairs_per_fold": None, "lfw_jitter": 10,
             "lfw_jitter_pairs_per_fold": None,
             "metric_train": {"epochs": 40, "batch_size": 128, "input_size": 112, "max_people": None,
                              "pairs_per_fold": None, "train_dataset": "casia_webface",
                              "train_subfolder": "CASIA-WebFace"},
             "metric_train_vgg16": {"epochs": 30, "batch_size": 64, "input_size": 112, "max_people": None,
                                    "pairs_per_fold": None, "train_dataset": "casia_webface",
                                    "train_subfolder": "CASIA-WebFace"},
             "projection_people": 20},
}
DEFAULT = "cpu"


def training_params(profile: dict[str, Any], backbone: str) -> dict[str, Any]:
    """Training parameters of one report-001 model: ``metric_train_<backbone>`` if the profile has it."""
    key = {"vgg16": "metric_train_vgg16", "inception": "metric_train_inception"}.get(backbone, "")
    return dict(profile.get(key, profile["metric_train"]))


def get_profile(name: str) -> dict[str, Any]:
    """A copy of profile ``name``'s parameters (``None`` means "all")."""
    try:
        return dict(PROFILES[name])
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
