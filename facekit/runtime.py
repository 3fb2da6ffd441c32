"""Which device the torch work runs on: CUDA when present, unless ``FACEKIT_DEVICE`` says otherwise."""

from __future__ import annotations

import os


def device() -> str:
    """``FACEKIT_DEVICE`` when set (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else ``cuda`` when torch sees a GPU,
    else ``cpu``. Embedders, the torch detectors and training all take it from here."""
    forced = os.environ.get("FACEKIT_DEVICE", "").strip()
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def describe(dev: str | None = None) -> str:
    """One line naming the device (the GPU's name on CUDA), printed by every chapter."""
    dev = dev or device()
    if dev.startswith("cuda"):
        import torch

        idx = torch.device(dev).index or 0
        return f"{dev} ({torch.cuda.get_device_name(idx)})"
    return f"{dev} ({os.cpu_count()} CPU cores)"


def in_batches(items: list, size: int, desc: str, progress: bool = True, unit: str = "img"):
    """``items`` in chunks of ``size`` under one progress bar (hidden when there is nothing to do)."""
    from tqdm.auto import tqdm

    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress or not items) as bar:
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            yield chunk
            bar.update(len(chunk))
