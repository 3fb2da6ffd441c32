"""facekit: a reproducible study of face recognition, published as a notebook book."""

__version__ = "0.1.0"
