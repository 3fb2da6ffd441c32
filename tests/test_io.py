"""facekit.io.read_image on the bad and odd files that public face datasets contain."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekit.io import ImageError, load_image, read_folder, read_image


def _gradient(w: int = 64, h: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)
    y = np.linspace(0, 255, h, dtype=np.float64)
    return np.stack([np.add.outer(y * 0, x), np.add.outer(y, x * 0), np.full((h, w), 128.0)], -1).astype(np.uint8)


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def test_plain_rgb_jpeg(tmp_path):
    arr = _gradient()
    out = read_image(_save(Image.fromarray(arr), tmp_path / "a.jpg", quality=95))
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert np.abs(out.astype(int) - arr).mean() < 3


def test_truncated_jpeg(tmp_path):
    good = _save(Image.fromarray(_gradient(256, 256)), tmp_path / "good.jpg")
    data = good.read_bytes()
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as exc:
        read_image(bad)
    assert exc.value.path == bad and "truncated" in exc.value.reason


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(tmp_path / "empty.jpg")


def test_text_named_jpg(tmp_path):
    p = tmp_path / "page.jpg"
    p.write_text("<html>404 Not Found</html>")
    with pytest.raises(ImageError, match="not an image") as exc:
        read_image(p)
    assert str(p) in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file; check the path"):
        read_image(tmp_path / "nope.jpg")


def test_cmyk_jpeg(tmp_path):
    rgb = Image.new("RGB", (40, 30), (200, 30, 40))
    p = _save(rgb.convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(p).mode == "CMYK"
    out = read_image(p)
    assert out.shape == (30, 40, 3)
    assert np.abs(out[15, 20].astype(int) - [200, 30, 40]).max() < 12


def test_16bit_png_is_rescaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None, :].repeat(16, 0)
    p = tmp_path / "deep.png"
    Image.fromarray(ramp).save(p)
    assert Image.open(p).mode.startswith("I")
    out = read_image(p)
    assert out.shape == (16, 64, 3)
    # a clipping conversion would make everything above 255/65535 white; a rescale keeps the ramp
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255 and 120 <= out[0, 32, 0] <= 136
    assert np.all(np.diff(out[0, :, 0].astype(int)) >= 0)


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[..., 0] = 255
    arr[:, :5, 3] = 255  # left half opaque red, right half transparent
    out = read_image(_save(Image.fromarray(arr, "RGBA"), tmp_path / "rgba.png"))
    assert out.shape == (10, 10, 3)
    assert tuple(out[5, 2]) == (255, 0, 0) and tuple(out[5, 8]) == (255, 255, 255)


def test_grayscale(tmp_path):
    g = Image.fromarray(np.full((20, 30), 77, np.uint8), "L")
    out = read_image(_save(g, tmp_path / "g.png"))
    assert out.shape == (20, 30, 3) and np.all(out == 77)


def test_exif_rotation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # landscape: 40 wide, 20 tall; red marks the top-left corner
    arr[:5, :5] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif, quality=100)
    loaded = load_image(p)
    assert loaded.pixels.shape == (40, 20, 3)  # portrait after rotation
    assert loaded.original_size == (20, 40)
    assert loaded.pixels[2, -3, 0] > 200 and loaded.pixels[2, 2, 0] < 60  # top-left moved to top-right
    assert any("EXIF orientation 6" in n for n in loaded.notes)


def test_very_wide_image_downscaled_and_recorded(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (100, 10000, 3), dtype=np.uint8)
    p = _save(Image.fromarray(arr), tmp_path / "wide.png")
    loaded = load_image(p, max_side=4096)
    assert loaded.size == (4096, 41)
    assert loaded.original_size == (10000, 100)
    assert loaded.scale == pytest.approx(0.4096)
    assert any("downscaled 10000x100" in n for n in loaded.notes)


def test_very_wide_jpeg_uses_draft_decoding(tmp_path):
    p = _save(Image.fromarray(np.full((120, 10000, 3), 90, np.uint8)), tmp_path / "wide.jpg")
    loaded = load_image(p, max_side=4096)
    assert max(loaded.size) <= 4096 and loaded.original_size == (10000, 120)
    assert loaded.scale == pytest.approx(loaded.size[0] / 10000)


def test_a_108_megapixel_phone_photo_is_decoded_at_reduced_size(tmp_path):
    img = Image.new("RGB", (12000, 9000), (120, 110, 100))
    img.paste(Image.new("RGB", (3000, 3000), (220, 30, 30)), (6000, 3000))
    loaded = load_image(_save(img, tmp_path / "phone.jpg", quality=80))
    assert loaded.size == (4096, 3072) and loaded.original_size == (12000, 9000)
    assert any(n.startswith("decoded at reduced size") for n in loaded.notes)  # libjpeg's draft, not a full decode
    y, x = round(4500 * loaded.scale), round(7500 * loaded.scale)  # the red square's centre, in the file's scale
    assert loaded.pixels[y, x, 0] > 200 and loaded.pixels[y, x, 1] < 60


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    png = tmp_path / "bomb.png"
    png.write_bytes(_png_header_only(30000, 30000))
    with pytest.raises(ImageError, match=r"too large to decode safely: 30000x30000 = 900 MP.*PNG is 89 MP"):
        read_image(png)
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, "JPEG")
    data = bytearray(small.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)  # a JPEG declaring 3.6 gigapixels
    jpg = tmp_path / "bomb.jpg"
    jpg.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"3600 MP declared, the limit for JPEG is 300 MP"):
        read_image(jpg)


def test_tiny_images(tmp_path):
    ok = read_image(_save(Image.fromarray(_gradient(8, 8)), tmp_path / "eight.png"))
    assert ok.shape == (8, 8, 3)
    with pytest.raises(ImageError, match="too small"):
        read_image(_save(Image.fromarray(_gradient(4, 40)), tmp_path / "four.png"))


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)
    (tmp_path / "p.png").write_bytes(buf.getvalue())
    out = read_image(tmp_path / "p.png")
    assert tuple(out[0, 0]) == (255, 255, 255)


def test_read_folder_records_skips_and_goes_on(tmp_path):
    _save(Image.fromarray(_gradient()), tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "c.jpg").write_text("not an image")
    sub = tmp_path / "sub"
    sub.mkdir()
    _save(Image.fromarray(_gradient()), sub / "d.png")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    out = read_folder(tmp_path)
    assert sorted(i.path.name for i in out.images) == ["a.jpg", "d.png"]
    reasons = {s.path.name: s.reason for s in out.skipped}
    assert set(reasons) == {"b.jpg", "c.jpg"}
    assert "empty" in reasons["b.jpg"] and "not an image" in reasons["c.jpg"]
