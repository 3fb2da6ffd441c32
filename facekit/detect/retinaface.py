"""RetinaFace MobileNet-0.25 (Pytorch_Retinaface weights from the weights mirror), network from batch-face.

The network definition and post-processing (prior boxes, decoding, NMS) are batch-face's; the weights are loaded
here with ``weights_only=True`` and ``strict=True`` so that a mismatching file fails loudly instead of leaving
random layers. The network was trained on BGR input minus the mean (104, 117, 123).

On the CPU the network runs in ONNX Runtime by default (``engine``; exported once by ``facekit.engines``), with
batch-face's post-processing unchanged: the same faces, landmarks within 0.02 px of torch's on 300 LFW photos
(``benchmarks/bench_engine.py``) and 0.01 px on a test's photos of two sizes.

Landmark refinement (``refine=True``, our addition, measured in the detection chapter): each face is cropped
square with a margin, resized to ``refine_size`` px (the scale at which this small network's anchors localise
best), detected again in the crop and in its mirror image, and the landmarks of both passes are averaged and
mapped back. Boxes and scores stay those of the first pass.
"""

from __future__ import annotations

import numpy as np

from facekit import engines
from facekit.detect.base import BaseDetector, BatchedDetector, Detection, register


class _OnnxNetwork:
    """RetinaFace's network exported to ONNX, called the way batch-face calls the torch network: ``cfg``, and a
    BGR-minus-mean NCHW tensor in, (boxes, scores, landmarks) tensors out."""

    def __init__(self, net, name: str) -> None:
        self.cfg = net.cfg
        # one thread: this small network on one image at a time ran faster on one ONNX Runtime thread than on two
        # (2 cores, bench_engine.py: 24.4 vs 14.3 LFW photos/s; torch on two: 18.8), and a pool adds the cores
        self._session = engines.onnx_session(engines.exported(net, (1, 3, 256, 256), name,
                                                              ("loc", "conf", "landms"), any_size=True), threads=1)

    def __call__(self, img):
        import torch

        return tuple(torch.from_numpy(o) for o in self._session.run(None, {"x": img.numpy()}))


class RetinaFaceDetector(BatchedDetector):
    """RetinaFace (MobileNet-0.25 backbone), box + 5 landmarks, batched over same-size images."""

    name = "retinaface"
    version = "1"
    has_landmarks = True
    weights = ("retinaface-mnet025",)

    def __init__(self, threshold: float = 0.5, max_side: int = 1024, min_side: int = 112, refine: bool = True,
                 refine_size: int = 256, refine_margin: float = 0.35, device: str | None = None,
                 engine: str | None = None) -> None:
        import torch

        from facekit.runtime import device as default_device

        device = device or default_device()
        from batch_face.face_detection.alignment import RetinaFace, batch_detect, cfg_mnet

        from facekit import weights

        path = weights.resolve("retinaface-mnet025")
        net = RetinaFace(cfg=cfg_mnet, phase="test")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        net.load_state_dict(state, strict=True)
        self._net = net.eval().to(device)
        self.engine = engines.choose(engine, device)
        if self.engine == "onnxruntime":
            self._net = _OnnxNetwork(self._net, "retinaface-mnet025")
        self._batch_detect, self._torch, self._device = batch_detect, torch, torch.device(device)
        self.device = str(device)
        self.threshold, self.max_side, self.min_side = threshold, max_side, min_side
        self.refine, self.refine_size, self.refine_margin = refine, refine_size, refine_margin
        if refine:
            self.version = "1r"

    def config(self) -> dict:
        engine = {"engine": self.engine} if self.engine != "torch" else {}  # its own cache, as for embedders
        return {"threshold": self.threshold, "refine": self.refine, "refine_size": self.refine_size,
                "refine_margin": self.refine_margin, **engine, **super().config()}

    def _forward(self, batch: list[np.ndarray], threshold: float) -> list[list[Detection]]:
        bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in batch]
        with self._torch.inference_mode():
            res = self._batch_detect(self._net, bgr, self._device, threshold=threshold)
        return [[Detection(np.asarray(box), float(np.clip(score, 0, 1)), np.asarray(lm))
                 for box, lm, score in dets] for dets in res]

    def _run(self, batch: list[np.ndarray]) -> list[list[Detection]]:
        found = self._forward(batch, self.threshold)
        return [self._refined(im, dets) for im, dets in zip(batch, found, strict=True)] if self.refine else found

    def _refined(self, image: np.ndarray, dets: list[Detection]) -> list[Detection]:
        """Second pass on a canonical-scale crop of each face and its mirror; landmarks averaged."""
        if not dets:
            return dets
        import cv2

        size = self.refine_size
        crops, mats = [], []
        for d in dets:
            x1, y1, x2, y2 = d.box
            f = size / (max(x2 - x1, y2 - y1) * (1 + 2 * self.refine_margin))
            m = np.array([[f, 0, size / 2 - f * (x1 + x2) / 2], [0, f, size / 2 - f * (y1 + y2) / 2]])
            crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
            crops += [crop, np.ascontiguousarray(crop[:, ::-1])]
            mats.append(m)
        second = self._forward(crops, threshold=0.3)
        out = []
        for k, d in enumerate(dets):
            passes = []
            for flip, found in ((False, second[2 * k]), (True, second[2 * k + 1])):
                if not found:
                    continue
                centre = np.array([size / 2, size / 2])
                best = min(found, key=lambda q: np.linalg.norm((q.box[:2] + q.box[2:]) / 2 - centre))
                lm = best.landmarks.astype(np.float64).copy()
                if flip:  # mirror back and swap left/right points
                    lm[:, 0] = size - lm[:, 0]
                    lm = lm[[1, 0, 2, 4, 3]]
                passes.append(lm)
            if not passes:
                out.append(d)
                continue
            m = mats[k]
            lm = (np.mean(passes, axis=0) - m[:, 2]) / m[0, 0]
            out.append(Detection(d.box, d.score, lm, d.extra))
        return out


class RetinaFaceR50Detector(BaseDetector):
    """The retina-face package's ResNet-50 RetinaFace (full profile: its weights are downloaded by the user).

    Weights are loaded strictly from the registry (``retinaface-resnet50``); ``model`` accepts a built network
    instead (tests pass a randomly initialised one to exercise the code path).
    """

    name = "retinaface-r50"
    version = "1"
    has_landmarks = True
    weights = ("retinaface-resnet50",)

    def __init__(self, threshold: float = 0.9, model=None, max_side: int = 1024, min_side: int = 112) -> None:
        import os

        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "pytorch")
        import torch
        from retinaface import RetinaFace
        from retinaface.model import retinaface_pth_model

        from facekit import weights

        if model is None:
            model = retinaface_pth_model.RetinaFace()
            state = torch.load(weights.resolve("retinaface-resnet50"), map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
            model.eval()
        self._model, self._api = model, RetinaFace
        self.threshold, self.max_side, self.min_side = threshold, max_side, min_side

    def config(self) -> dict:
        return {"threshold": self.threshold, **super().config()}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        found = self._api.detect_faces(np.ascontiguousarray(image[:, :, ::-1]), threshold=self.threshold,
                                       model=self._model)
        out = []
        for face in (found.values() if isinstance(found, dict) else []):
            lm = face["landmarks"]  # the package's "right_eye" is the subject's right: image-left
            five = np.array([lm["right_eye"], lm["left_eye"], lm["nose"], lm["mouth_right"], lm["mouth_left"]])
            out.append(Detection(np.asarray(face["facial_area"], np.float32), float(np.clip(face["score"], 0, 1)),
                                 five))
        return out


@register("retinaface-r50", "RetinaFace ResNet-50 of the retina-face package (weights: full profile)",
          weights=("retinaface-resnet50",))
def _r50_factory(**kwargs) -> RetinaFaceR50Detector:
    return RetinaFaceR50Detector(**kwargs)


@register("retinaface", "RetinaFace MobileNet-0.25 (Pytorch_Retinaface weights), box + 5 landmarks",
          weights=("retinaface-mnet025",))
def _factory(**kwargs) -> RetinaFaceDetector:
    return RetinaFaceDetector(**kwargs)
