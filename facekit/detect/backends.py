"""Importing this module registers every backend; each keeps its heavy imports inside its constructor."""

from facekit.detect import dlib, haar, mediapipe, mtcnn, retinaface, scrfd, yolo, yolo_face, yunet  # noqa: F401
