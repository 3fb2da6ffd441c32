"""Face detection behind one interface: ``get_detector(name)`` returns a ``Detector`` giving ``Detection``s."""

from facekit.detect.base import (
    LANDMARK_ORDER,
    BaseDetector,
    Detection,
    Detector,
    available,
    get_detector,
)

__all__ = ["LANDMARK_ORDER", "BaseDetector", "Detection", "Detector", "available", "get_detector"]
