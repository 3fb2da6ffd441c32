"""The mirror's subsets rebuilt from their public sources: each builder downloads the pinned repositories' files,
applies the selection rule of the mirror folder's SOURCE.md in code, makes the same edits (a header line removed,
a file cut to its first lines), and writes the dataset's files. ``sources.fetch`` then checks every file against
the same sha256 digests as the mirror copy, so a different selection or a changed upstream file is refused.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from facekit.data.pinned import PinnedRepo

Builder = Callable[[Path, bool, float], None]
BUILDERS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn
    return deco


# ------------------------------------------------------------------------------------------------ CelebA subset
CELEBA_IMAGES = PinnedRepo("matush97/faceRecognition", "e7ba6c0951ace22b43ef32fc903a7dae1babe55d")
CELEBA_IDENTITY = PinnedRepo("dg21-stack/FaceIdentityRecognition", "dc02b67b73c7917bac48d1595b8825797b65be18")
CELEBA_ATTR = PinnedRepo("zgjsxx/face-property-detection-pytorch", "9baf27d6fdd8fcb36dcf197fdf203455d76acc5e")
CELEBA_FOLDERS = ("Celeb/", "CelebA/")  # where the source keeps CelebA files (one file is in both)
CELEBA_ATTR_ROWS = 20000  # attribute rows kept: images 000001-020000
CELEBA_PER_IDENTITY, CELEBA_PER_SEX, CELEBA_MIN_IMAGES = 8, 20, 8


def celeba_selection(listing: dict[str, int], identity: dict[str, int],
                     male: dict[str, bool]) -> list[tuple[str, str]]:
    """(source path, file name) of the subset, by the rule of SOURCE.md: identities with >= 8 images in the
    source and one ``Male`` value among their images that have attributes; the first 20 male and the first 20
    female identity ids in ascending order; per identity, images with attributes first, then by file name, 8 per
    identity (a file the source holds twice counts twice, so that identity has 7 distinct files)."""
    entries: dict[int, list[tuple[bool, str, str]]] = defaultdict(list)
    for path in sorted(listing):
        folder = next((f for f in CELEBA_FOLDERS if path.startswith(f)), None)
        name = path.rsplit("/", 1)[-1]
        if folder is None or not name.endswith(".jpg") or name not in identity:
            continue
        entries[identity[name]].append((name not in male, name, path))
    chosen: dict[bool, list[int]] = {True: [], False: []}
    for ident in sorted(entries):
        items = entries[ident]
        sexes = {male[n] for _, n, _ in items if n in male}
        if len(items) >= CELEBA_MIN_IMAGES and len(sexes) == 1:
            chosen[sexes.pop()].append(ident)
    out: dict[str, str] = {}
    for ident in sorted(chosen[True][:CELEBA_PER_SEX] + chosen[False][:CELEBA_PER_SEX]):
        for _, name, path in sorted(entries[ident])[:CELEBA_PER_IDENTITY]:
            out.setdefault(name, path)
    return [(path, name) for name, path in sorted(out.items())]


def _male_column(attr_lines: list[str]) -> dict[str, bool]:
    names = attr_lines[1].split()
    col = names.index("Male")
    out = {}
    for line in attr_lines[2:]:
        parts = line.split()
        if len(parts) == len(names) + 1:
            out[parts[0]] = parts[1 + col] == "1"
    return out


@builder("celeba_subset")
def build_celeba_subset(root: Path, progress: bool = True, timeout: float = 30.0) -> None:
    """identity_CelebA.txt without the header line its source added; list_attr cut to its first 20,002 lines
    (count, names, images 1-20,000; the last line without its line break, as the mirror has it); the
    selected images; subset_identity.txt (their identity lines, LF, by file name)."""
    raw_identity = CELEBA_IDENTITY.read("identity_CelebA.txt", timeout)
    first_break = raw_identity.index(b"\n") + 1
    if not re.match(rb"^\D", raw_identity[:first_break]):
        raise ValueError("identity_CelebA.txt source no longer starts with the header line SOURCE.md removes")
    identity_bytes = raw_identity[first_break:]
    (root / "identity_CelebA.txt").write_bytes(identity_bytes)
    raw_attr = CELEBA_ATTR.read("list_attr_celeba.txt", timeout)
    attr_bytes = b"".join(raw_attr.splitlines(keepends=True)[:CELEBA_ATTR_ROWS + 2]).rstrip(b"\r\n")  # no final break
    (root / "list_attr_celeba_000001-020000.txt").write_bytes(attr_bytes)

    identity = {}
    for line in identity_bytes.decode().splitlines():
        if line.strip():
            name, ident = line.split()
            identity[name] = int(ident)
    male = _male_column(attr_bytes.decode().splitlines())
    selection = celeba_selection(CELEBA_IMAGES.listing(timeout), identity, male)
    CELEBA_IMAGES.download({path: root / "img_celeba" / name for path, name in selection},
                           "CelebA subset images", progress, timeout)
    (root / "subset_identity.txt").write_text("".join(f"{name} {identity[name]}\n" for _, name in selection))


# ------------------------------------------------------------------------------------------------ 300-W subset
W300 = PinnedRepo("Spinkoo/Face-alignement", "e08a16aa91ad771df34e75f70bc5aaf20238ff6a")
HELEN_CAP, AFW_CAP = 22 * 2**20, 16 * 2**20  # bytes of images taken from each component
_AFW_FACE = re.compile(r"^afw/afw/(?P<image>.+)_(?P<k>\d+)\.(?P<ext>jpg|pts)$")


def _capped(names: list[str], size: Callable[[str], int], cap: int) -> list[str]:
    """Names in ascending order taken while the running total of their sizes stays <= ``cap`` (one that would
    overflow is skipped and the scan goes on)."""
    taken, total = [], 0
    for n in sorted(names):
        if total + size(n) <= cap:
            taken.append(n)
            total += size(n)
    return taken


def w300_selection(listing: dict[str, int]) -> list[dict[str, str]]:
    """Rows of index.csv (image, pts, source image, source pts) by the rule of SOURCE.md: HELEN test images with
    their .pts, ascending, under 22 MiB of images; AFW distinct images (the bytes of ``<image>_1.jpg``) with all
    their annotated faces, ascending, under 16 MiB."""
    helen = [p[len("helen/testset/"):-4] for p in listing
             if p.startswith("helen/testset/") and p.endswith(".jpg") and p[:-4] + ".pts" in listing]
    rows = [{"image": f"helen_testset/{n}.jpg", "pts": f"helen_testset/{n}.pts",
             "source_image_path": f"helen/testset/{n}.jpg", "source_pts_path": f"helen/testset/{n}.pts"}
            for n in _capped(helen, lambda n: listing[f"helen/testset/{n}.jpg"], HELEN_CAP)]
    faces: dict[str, list[int]] = defaultdict(list)
    for p in listing:
        m = _AFW_FACE.match(p)
        if m and m["ext"] == "pts":
            faces[m["image"]].append(int(m["k"]))
    images = [i for i in faces if f"afw/afw/{i}_1.jpg" in listing]
    for image in _capped(images, lambda i: listing[f"afw/afw/{i}_1.jpg"], AFW_CAP):
        for k in sorted(faces[image], key=str):  # the source order: _1, _10, _2, ...
            rows.append({"image": f"afw/{image}.jpg", "pts": f"afw/{image}_{k}.pts",
                         "source_image_path": f"afw/afw/{image}_1.jpg", "source_pts_path": f"afw/afw/{image}_{k}.pts"})
    return rows


@builder("300w_subset")
def build_w300_subset(root: Path, progress: bool = True, timeout: float = 30.0) -> None:
    """The selected images and .pts under helen_testset/ and afw/, and index.csv (LF)."""
    rows = w300_selection(W300.listing(timeout))
    files = {}
    for r in rows:
        files[r["source_image_path"]] = root / r["image"]
        files[r["source_pts_path"]] = root / r["pts"]
    W300.download(files, "300-W subset files", progress, timeout)
    cols = ("image", "pts", "source_image_path", "source_pts_path")
    (root / "index.csv").write_text(",".join(cols) + "\n" + "".join(",".join(r[c] for c in cols) + "\n"
                                                                   for r in rows))


# ------------------------------------------------------------------------------------------------ LFW gender
LFW_GENDER = PinnedRepo("Lukeli0425/Gender-Classification", "efdba063f8892f255e92412e96b9015a082a5faa")


@builder("lfw_gender")
def build_lfw_gender(root: Path, progress: bool = True, timeout: float = 30.0) -> None:
    """gender/male_names.txt and gender/female_names.txt as the source has them (no edit)."""
    LFW_GENDER.download({"male_names.txt": root / "gender" / "male_names.txt",
                         "female_names.txt": root / "gender" / "female_names.txt"}, "LFW gender lists", progress,
                        timeout)
