"""Robust image reading: EXIF orientation, any mode to RGB uint8, a clear ``ImageError`` on bad files.

Public face datasets contain CMYK JPEGs, 16-bit PNGs, palette images with transparency, rotated phone photos,
truncated downloads and HTML error pages saved as ``.jpg``. Every reader in facekit goes through here so that
each of those either becomes a correct RGB array or a recorded skip with its reason.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

#: Larger sides are downscaled (the scale is recorded), which keeps detectors' memory bounded.
MAX_SIDE = 4096
#: Smaller sides are refused: no detector or embedder can do anything useful with them.
MIN_SIDE = 8
#: JPEGs are decoded by libjpeg at 1/2, 1/4 or 1/8 scale (draft mode) when they exceed ``MAX_SIDE``, so a phone's
#: 108 or 200 MP photo costs a fraction of its pixels in memory; a JPEG declaring more pixels than this is refused
#: as a likely decompression bomb.
MAX_JPEG_PIXELS = 300_000_000
#: Other formats are decoded whole: above Pillow's own limit (89.5 MP) they are refused.
MAX_OTHER_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Suffixes treated as images when scanning folders.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})


class ImageError(Exception):
    """An image that cannot be read; ``path`` names the file and ``reason`` says what is wrong and what to do."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class LoadedImage:
    """Pixels plus what was done to them: ``scale`` maps coordinates in ``pixels`` back to the file's (after EXIF)."""

    pixels: np.ndarray
    path: Path
    original_size: tuple[int, int]  # (width, height) after EXIF rotation, before any downscale
    scale: float = 1.0
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``pixels``."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


@dataclass(frozen=True)
class Skipped:
    """A file left out of a run, with the reason (shown in tables and the book, never dropped silently)."""

    path: Path
    reason: str


@dataclass
class FolderRead:
    """The result of reading many files: the images that loaded and the files skipped with reasons."""

    images: list[LoadedImage] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _to_rgb(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Any PIL mode to HxWx3 uint8 RGB; 16-bit and float data are rescaled, transparency is put on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            hi = 65535.0
        elif mode == "I":
            hi = 65535.0 if arr.max(initial=0) > 255 else 255.0
        else:  # float: 0..1 if it looks normalised, else its own range
            hi = 1.0 if arr.max(initial=0) <= 1.0 else float(arr.max(initial=1.0))
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"rescaled {mode} to 8 bit")
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append(f"{mode}: alpha composited on white")
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    if mode != "RGB":
        notes.append(f"converted {mode} to RGB")
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


_PIXEL_LIMIT = threading.Lock()


@contextmanager
def _pillow_limit(pixels: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``pixels`` while the block runs (None: Pillow's own). The limit is
    a module global, so a change is made under a lock; only JPEGs above Pillow's limit ever take this path."""
    if pixels is None:
        yield
        return
    with _PIXEL_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _declared(path: Path) -> tuple[str | None, tuple[int, int]]:
    """The file's format and declared size, read from its header only (nothing is decoded)."""
    with _pillow_limit(2**62), Image.open(path) as img:
        return img.format, img.size


def load_image(path: str | Path, *, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> LoadedImage:
    """Read ``path`` as RGB uint8 with EXIF orientation applied; raise ``ImageError`` naming the file and the fix.

    Large JPEGs (up to ``MAX_JPEG_PIXELS``) are decoded at reduced size; anything declaring more pixels than its
    format's limit is refused before a byte of it is decoded."""
    path = Path(path)
    if not path.exists():
        raise ImageError(path, "no such file; check the path (for the book's datasets: `facekit data status`)")
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image file")
    size = path.stat().st_size
    if size == 0:
        raise ImageError(path, "empty file (0 bytes): an interrupted copy or download; fetch it again")
    notes: list[str] = []
    # Truncated files must fail loudly here, whatever another library set globally.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        fmt, (width, height) = _declared(path)
        limit = MAX_JPEG_PIXELS if fmt == "JPEG" else MAX_OTHER_PIXELS
        if width * height > limit:
            raise ImageError(path, f"too large to decode safely: {width}x{height} = {width * height / 1e6:.0f} MP "
                                   f"declared, the limit for {fmt} is {limit / 1e6:.0f} MP (a decompression bomb, or "
                                   "a photo to downscale first)")
        with warnings.catch_warnings(), _pillow_limit(limit if width * height > MAX_OTHER_PIXELS else None):
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.verify()  # cheap structural check (PNG CRCs and the like); needs a fresh handle after
            with Image.open(path) as img:
                if max_side and max(width, height) > max_side and img.format == "JPEG":
                    # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 10,000 px photo never fills memory.
                    img.draft("RGB", (max(1, width * max_side // max(width, height)),
                                      max(1, height * max_side // max(width, height))))
                img.load()
                orientation = img.getexif().get(0x0112, 1)
                decoded_size = img.size
                img = ImageOps.exif_transpose(img)
                if orientation not in (None, 1):
                    notes.append(f"EXIF orientation {orientation} applied")
                pixels = _to_rgb(img, notes)
    except UnidentifiedImageError:
        head = path.read_bytes()[:16]
        raise ImageError(path, f"not an image file (unrecognised content starting {head!r}); "
                               "replace it with the real image or delete it") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(path, f"too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(path, f"truncated or corrupt image ({exc}); fetch the file again") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous

    # Size in the file after EXIF rotation; draft() may already have reduced the decoded size.
    swap = orientation in (5, 6, 7, 8)
    original = (height, width) if swap else (width, height)
    scale = pixels.shape[1] / original[0]
    if decoded_size != (width, height):
        notes.append(f"decoded at reduced size {decoded_size[0]}x{decoded_size[1]}")
    h, w = pixels.shape[:2]
    if min(h, w) < min_side:
        raise ImageError(path, f"too small: {original[0]}x{original[1]} px (min_side={min_side}); "
                               "no face can be found in it")
    if max_side and max(h, w) > max_side:
        factor = max_side / max(h, w)
        new = (max(1, round(w * factor)), max(1, round(h * factor)))
        pixels = np.asarray(Image.fromarray(pixels).resize(new, Image.Resampling.LANCZOS), dtype=np.uint8)
        scale = new[0] / original[0]
    if pixels.shape[1] != original[0]:
        notes.append(f"downscaled {original[0]}x{original[1]} -> {pixels.shape[1]}x{pixels.shape[0]} "
                     f"(max_side={max_side})")
    return LoadedImage(pixels=np.ascontiguousarray(pixels), path=path, original_size=original,
                       scale=float(scale), notes=tuple(notes))


def read_image(path: str | Path, *, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read ``path`` as an HxWx3 uint8 RGB array (see ``load_image`` for the policy and the errors)."""
    return load_image(path, max_side=max_side, min_side=min_side).pixels


def list_images(folder: str | Path, *, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` by suffix, sorted, hidden files left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(folder, "folder not found")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def iter_images(paths: Iterable[str | Path], skipped: list[Skipped], *, max_side: int = MAX_SIDE,
                min_side: int = MIN_SIDE) -> Iterator[LoadedImage]:
    """Yield each readable image; unreadable ones are appended to ``skipped`` with their reason and the run goes on."""
    for p in paths:
        try:
            yield load_image(p, max_side=max_side, min_side=min_side)
        except ImageError as exc:
            skipped.append(Skipped(exc.path, exc.reason))


def read_folder(folder: str | Path, *, recursive: bool = True, max_side: int = MAX_SIDE,
                min_side: int = MIN_SIDE) -> FolderRead:
    """Read every image under ``folder``; bad files are recorded in ``skipped``, never raised, never dropped."""
    out = FolderRead()
    out.images.extend(iter_images(list_images(folder, recursive=recursive), out.skipped,
                                  max_side=max_side, min_side=min_side))
    return out
