"""Benchmark of the data layer: facekit.io.read_image against bare PIL, and dataset verification cold vs warm.

Run: ``.venv/bin/python benchmarks/bench_data.py [--images 500]`` (needs the mirror). Prints numbers and ratios;
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facekit.data import lfw, sources
from facekit.io import read_image


def _bare_pil(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    files = list(lfw.images().path[: args.images])

    for p in files:  # warm the page cache so that neither side pays for the disk
        p.read_bytes()
    rows = []
    for name, fn in (("PIL open+convert (baseline)", _bare_pil), ("facekit.io.read_image", read_image)):
        t0 = time.perf_counter()
        for p in files:
            fn(p)
        rows.append((name, (time.perf_counter() - t0) / len(files)))
    base = rows[0][1]
    print(f"reading {len(files)} LFW 250x250 JPEGs")
    for name, sec in rows:
        print(f"  {name:32s} {sec * 1e3:7.2f} ms/image   ratio to baseline {sec / base:5.2f}")

    ds = sources.get("lfw")
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["FACEKIT_DATA"] = tmp
        t0 = time.perf_counter()
        sources.fetch("lfw", progress=False)
        copy = time.perf_counter() - t0
        t0 = time.perf_counter()
        sources.status(ds)
        warm = time.perf_counter() - t0
        (Path(tmp) / "lfw" / ".facekit-verified.json").unlink()
        t0 = time.perf_counter()
        sources.status(ds)
        cold = time.perf_counter() - t0
    print("LFW verification (13,233 images + 4 annotation files)")
    print(f"  fetch from mirror (copy + hash)  {copy:6.2f} s")
    print(f"  status, cold (hash everything)   {cold:6.2f} s")
    print(f"  status, warm (stamp unchanged)   {warm:6.3f} s   ratio warm/cold {warm / cold:.3f}")


if __name__ == "__main__":
    main()
