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

# Frozen embedders of the cosine-heads chapter: (embedder, detector, backup detector where it finds no face).
_HEADS_EMBEDDERS = [("dlib-resnet", "dlib-hog", "retinaface"), ("mobilefacenet-casia", "retinaface", None)]

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
              "projection_people": 6,
              "heads_dataset": None, "heads_min_images": 20, "heads_max_people": 6, "heads_max_images": 20,
              "heads_embedders": _HEADS_EMBEDDERS, "heads_trials": 4, "heads_trial_epochs": 3,
              "heads_final_epochs": 5, "heads_sex_people": 60, "heads_sex_per_person": 1, "heads_sex_epochs": 5,
              "heads_yolo_images": 0},
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
            # sized for about 10 minutes of training per model on 2 cores (the chapter prints the measured time)
            "metric_train": {"epochs": 60, "batch_size": 64, "input_size": 112, "max_people": None,
                             "pairs_per_fold": None},
            "metric_train_inception": {"epochs": 60, "batch_size": 64, "input_size": 64, "max_people": None,
                                       "pairs_per_fold": None},
            "metric_train_vgg16": {"epochs": 6, "batch_size": 32, "input_size": 64, "max_people": None,
                                   "pairs_per_fold": None},
            "projection_people": 20,
            "heads_dataset": None, "heads_min_images": 20, "heads_max_people": None, "heads_max_images": None,
            "heads_embedders": _HEADS_EMBEDDERS, "heads_trials": 30, "heads_trial_epochs": 20,
            "heads_final_epochs": 40, "heads_sex_people": None, "heads_sex_per_person": 1, "heads_sex_epochs": 20,
            "heads_yolo_images": 0},
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
             "projection_people": 20,
             "heads_dataset": "pins105", "heads_subfolder": "105_classes_pins_dataset", "heads_min_images": 20,
             "heads_max_people": None, "heads_max_images": None,
             "heads_embedders": [("vgg-m-face-bn", "retinaface", None), *_HEADS_EMBEDDERS], "heads_trials": 30,
             "heads_trial_epochs": 20, "heads_final_epochs": 40, "heads_sex_people": None, "heads_sex_per_person": 2,
             "heads_sex_epochs": 20, "heads_yolo_images": 200},
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
