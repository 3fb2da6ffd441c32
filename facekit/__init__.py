"""facekit: a reproducible study of face recognition, published as a notebook book."""

from facekit.runtime import device

__version__ = "0.1.0"
__all__ = ["device"]
