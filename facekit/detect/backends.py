"""Importing this module registers every backend; each keeps its heavy imports inside its constructor."""

from facekit.detect import (  # noqa: F401
    dlib,
    haar,
    mediapipe,
    mtcnn,
    retinaface,
    scrfd,
    whole,
    yolo,
    yolo_face,
    yunet,
)
