"""Report 003's Keypoint R-CNN: teacher labels (box, five keypoints, gender class) for LFW images, training
through ``train.fit``, and the model as a detector.

No human five-point labels exist for LFW or the CelebA subset, so boxes and keypoints come from a teacher: the
face path's detector (RetinaFace) with its backup (MTCNN). Every label row says which one gave it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from facekit.face_path import FacePath
from facekit.io import read_image
from facekit.metrics import box_iou, nme
from facekit.models.keypoint_rcnn import MAN, WOMAN, KeypointRcnnDetector, keypoint_rcnn
from facekit.train import FitResult, Run, Task, fit, seed_everything, weights_version

TEACHER = FacePath("retinaface", backup="mtcnn", policy="central", fallback=None, aligner="arcface112")


def teacher_labels(images: pd.DataFrame, teacher: FacePath = TEACHER, progress: bool = True) -> pd.DataFrame:
    """One face per image from ``teacher`` (``images``: path, name, male): box x1..y2, keypoints k0x..k4y and
    ``label_source`` ("teacher: retinaface" or "teacher: mtcnn (backup)"). Images where neither finds a face are
    dropped; ``attrs["dropped"]`` counts them."""
    _, chosen = teacher.faces(list(images.path), progress=progress)
    rows = []
    for (_, r), (det, kind) in zip(images.iterrows(), chosen, strict=True):
        if det is None or det.landmarks is None:
            continue
        who = teacher.detector if kind == "detected" else f"{teacher.backup} (backup)"
        rows.append({"path": r.path, "name": r["name"], "male": bool(r.male),
                     **dict(zip(["x1", "y1", "x2", "y2"], map(float, det.box), strict=True)),
                     **{f"k{i}{c}": float(det.landmarks[i, j]) for i in range(5) for j, c in enumerate("xy")},
                     "label_source": f"teacher: {who}"})
    out = pd.DataFrame(rows)
    out.attrs["dropped"] = len(images) - len(out)
    return out


def keypoints_of(row: pd.Series) -> np.ndarray:
    """The five (x, y) points of a label row."""
    return np.array([[row[f"k{i}x"], row[f"k{i}y"]] for i in range(5)], np.float32)


def target_of(row: pd.Series) -> dict[str, torch.Tensor]:
    """torchvision's detection target for one labelled face (all keypoints visible)."""
    kps = np.concatenate([keypoints_of(row), np.ones((5, 1), np.float32)], axis=1)
    return {"boxes": torch.tensor([[row.x1, row.y1, row.x2, row.y2]], dtype=torch.float32),
            "labels": torch.tensor([MAN if row.male else WOMAN], dtype=torch.int64),
            "keypoints": torch.from_numpy(kps)[None]}


class _WithTargets(nn.Module):
    """The R-CNN taking (images, targets) as one input, as ``train.fit`` passes a batch's first item."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch):
        images, targets = batch
        return self.model(images, targets)


class LabelBatches:
    """Seeded batches of (images in [0, 1], targets) read from disk, flipped left-right half of the time (boxes
    and keypoints mirrored, the two eyes and mouth corners swapped)."""

    FLIP = [1, 0, 2, 4, 3]

    def __init__(self, labels: pd.DataFrame, batch_size: int, seed: int = 0, flip: bool = True) -> None:
        self.labels, self.batch_size, self.seed, self.flip = labels.reset_index(drop=True), batch_size, seed, flip

    def __call__(self, epoch: int, device):
        rng = np.random.default_rng(self.seed * 1000 + epoch)
        order = rng.permutation(len(self.labels))
        flips = rng.random(len(order)) < 0.5
        for i in range(0, len(order) - self.batch_size + 1, self.batch_size):
            images, targets = [], []
            for k in order[i:i + self.batch_size]:
                row = self.labels.iloc[k]
                img = read_image(row.path)
                t = target_of(row)
                if self.flip and flips[k]:
                    w = img.shape[1]
                    img = img[:, ::-1]
                    b = t["boxes"].clone()
                    t["boxes"] = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
                    kp = t["keypoints"].clone()
                    kp[..., 0] = w - kp[..., 0]
                    t["keypoints"] = kp[:, self.FLIP]
                images.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255)
                              .to(device))
                targets.append({k2: v.to(device) for k2, v in t.items()})
            yield (images, targets), torch.zeros(len(images))


def score_faces(found: list, labels: pd.DataFrame, iou: float = 0.5) -> pd.DataFrame:
    """Per labelled face: found (IoU >= ``iou`` with a detection), NME of its keypoints against the label
    (inter-ocular), the predicted probability of "man"."""
    rows = []
    for dets, (_, r) in zip(found, labels.iterrows(), strict=True):
        gt_box = np.array([[r.x1, r.y1, r.x2, r.y2]])
        gt = keypoints_of(r)
        row = {"path": r.path, "name": r["name"], "male": bool(r.male), "found": False, "iou": 0.0,
               "nme": np.inf, "male_prob": np.nan}
        if dets:
            ious = box_iou(gt_box, np.stack([d.box for d in dets]))[0]
            j = int(np.argmax(ious))
            if ious[j] >= iou:
                d = dets[j]
                io = float(np.linalg.norm(gt[0] - gt[1]))
                row.update(found=True, iou=float(ious[j]), nme=nme(d.landmarks, gt, max(io, 1e-6)),
                           male_prob=float(d.extra["male_prob"][0]))
        rows.append(row)
    return pd.DataFrame(rows)


def val_score(table: pd.DataFrame) -> float:
    """The checkpoint choice (validation people only): share of faces found with the right gender, minus the
    mean NME of those found (capped at 1)."""
    if not len(table):
        return 0.0
    right = table.found & ((table.male_prob >= 0.5) == table.male)
    err = float(np.minimum(table.nme[table.found], 1.0).mean()) if table.found.any() else 1.0
    return float(right.mean()) - err


@dataclass(frozen=True)
class RcnnRecipe:
    """A Keypoint R-CNN and how it trains: trunk, input resize, head size; report 003's AdamW with the learning
    rate cut by ``gamma`` every ``step`` epochs, in batches of ``batch_size`` images."""

    backbone: str
    batch_size: int
    lr: float = 1e-4
    weight_decay: float = 1e-3
    step: int = 3
    gamma: float = 0.3
    min_size: int = 192
    max_size: int = 256
    light_head: bool = True


def train_keypoint_rcnn(labels: pd.DataFrame, val: pd.DataFrame, recipe: RcnnRecipe, run: Run,
                        ) -> tuple[nn.Module, FitResult]:
    """Train ``recipe``'s R-CNN on teacher labels; the epoch kept is the best by ``val_score`` on ``val``'s
    labelled faces. It trains in full precision on every device."""
    seed = run.seed
    seed_everything(seed)
    model = keypoint_rcnn(recipe.backbone, min_size=recipe.min_size, max_size=recipe.max_size,
                          light_head=recipe.light_head)
    wrapped = _WithTargets(model)
    val_images = [read_image(p) for p in val.path]

    def validate() -> float:
        det = KeypointRcnnDetector(model, "val", "val", device=str(next(model.parameters()).device))
        found = [d for i in range(0, len(val_images), 8) for d in det.detect_batch(val_images[i:i + 8])]
        model.roi_heads.score_thresh = 0.05
        return val_score(score_faces(found, val))

    def loss_fn(losses: dict[str, torch.Tensor], _y) -> torch.Tensor:
        return sum(losses.values())

    task = Task(wrapped, loss_fn, LabelBatches(labels, recipe.batch_size, seed), validate,
                lambda params: torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay),
                scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, recipe.step, recipe.gamma))
    result = fit(task, replace(run, precision="32-true"))
    model.roi_heads.score_thresh = 0.05
    return model.eval(), result


def as_detector(model: nn.Module, name: str, device: str | None = None) -> KeypointRcnnDetector:
    return KeypointRcnnDetector(model, name, weights_version(model), device=device or "cpu")


def detect_labelled(detector: KeypointRcnnDetector, labels: pd.DataFrame, batch: int = 8,
                    progress: bool = True) -> pd.DataFrame:
    """The detector on every labelled image (through the detection cache: its version is the weights' hash),
    scored against the labels (``score_faces``)."""
    from facekit.detect.cache import detect_cached

    found = [d.detections for d in detect_cached(detector, list(labels.path), batch_size=batch, progress=progress)]
    return score_faces(found, labels)


def load_rcnn(record: dict[str, Any]) -> nn.Module:
    """The best checkpoint of a recorded R-CNN (a record of report 003's chapter), rebuilt in eval mode."""
    ex = record["extra"]
    model = keypoint_rcnn(ex["backbone"], min_size=ex["min_size"], max_size=ex["max_size"],
                          light_head=ex["light_head"], pretrained_trunk=False)
    path = Path(ex["checkpoint"]) / "best.ckpt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the checkpoint of {record['name']} is gone; rebuild the chapter "
                                f"({record['study']}) to train it again")
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model.model."): v for k, v in state.items()
                           if k.startswith("model.model.")})
    return model.eval()


def analyze(image, detector: KeypointRcnnDetector) -> list[dict[str, Any]]:
    """Each face of an image (a path or an RGB array), most confident first: box, five keypoints (image-left eye
    first), P(man) and the label."""
    img = read_image(image) if not isinstance(image, np.ndarray) else image
    out = []
    for d in sorted(detector.detect(img), key=lambda x: -x.score):
        p = float(d.extra["male_prob"][0])
        out.append({"box": [round(float(v), 1) for v in d.box], "score": round(float(d.score), 4),
                    "keypoints": [[round(float(x), 1), round(float(y), 1)] for x, y in d.landmarks],
                    "male_prob": round(p, 4), "label": "man" if p >= 0.5 else "woman"})
    return out


__all__ = ["TEACHER", "LabelBatches", "RcnnRecipe", "analyze", "load_rcnn", "as_detector", "detect_labelled",
           "keypoints_of",
           "score_faces", "target_of", "teacher_labels", "train_keypoint_rcnn", "val_score"]
