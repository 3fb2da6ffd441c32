"""Report 003's detectors: torchvision's Keypoint R-CNN with 3 classes (background, woman, man) and 5 face
keypoints (eyes, nose, mouth corners), on three backbones:

- ``resnet50``: the report's ``keypointrcnn_resnet50_fpn`` (full profile; no COCO or ImageNet weights here, so
  it starts from scratch);
- ``mobilenet_v3``: MobileNetV3-Large with an FPN (torchvision's ``mobilenet_backbone``), from scratch, with a
  lighter keypoint head: the cpu profile's plain backbone;
- ``mobilefacenet``: the pretrained MobileFaceNet-CASIA trunk (stride 16, 512 channels) as a single feature map:
  the cpu profile's stand-in for the report's "Keypoint R-CNN + FaceNet"; ``facenet`` is InceptionResnetV1's
  trunk (VGGFace2 weights, full profile).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

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
    if pretrained:
        from facekit import weights

        state = torch.load(weights.resolve("facenet-vggface2"), map_location="cpu", weights_only=True)
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("logits.")}, strict=True)
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


__all__ = ["BACKBONES", "CLASSES", "TrunkFeatures", "keypoint_rcnn"]
