"""`facekit enroll` / `identify` / `gallery`: adding vs syncing, one writer at a time, saves that a kill cannot tear,
damage named with its fix, every bad photo answered with exit codes 0 / 1 / 2 and one line, never a traceback."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekit.cli import main
from facekit.gallery import MANIFEST, Gallery, GalleryError, Threshold, enroll, writing
from facekit.studies.calibration import enroll_path

ENROLLED = ("Gloria_Macapagal_Arroyo", "Jennifer_Capriati", "Vladimir_Putin")
OTHERS = ("George_W_Bush", "Colin_Powell")
STRANGER = "Serena_Williams"
THRESHOLD = "0.5"  # MobileFaceNet cosine; the chapter calibrates its own (about 0.5 at FAR 1 %)
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
_LFW: dict[str, Path] = {}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Data from the shared mirror, a cache and results of this module's own (models are built once)."""
    from facekit.data import lfw

    if not (SHARED / "data").is_dir() or not (SHARED / "weights").is_dir():
        pytest.skip(f"no shared data or weights mirror at {SHARED}")
    base = tmp_path_factory.mktemp("gallery-env")
    with pytest.MonkeyPatch.context() as mp:
        for var, value in (("FACEKIT_MIRROR", SHARED / "data"), ("FACEKIT_WEIGHTS", SHARED / "weights"),
                           ("FACEKIT_DATA", base / "raw"), ("FACEKIT_CACHE", base / "cache"),
                           ("FACEKIT_RESULTS", base / "results")):
            mp.setenv(var, str(value))
        _LFW["root"] = lfw.root()
        yield base


def _lfw(name: str, i: int) -> Path:
    from facekit.data import lfw

    return lfw.image_path(name, i, base=_LFW["root"])


def _people(folder: Path, names, photos=(1, 2)) -> Path:
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in photos:
            shutil.copy(_lfw(name, i), folder / name / f"{i}.jpg")
    return folder


def _cli(*args: str, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([*map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def good(env):
    """A gallery of the three ENROLLED people, three photos each, made once and copied by the tests."""
    folder = _people(env / "people", ENROLLED, (1, 2, 3))
    root = env / "good"
    enroll(folder, root, enroll_path("mobilefacenet-casia"), Threshold(0.5, "test"), progress=False)
    return root, folder


@pytest.fixture()
def gallery(good, tmp_path):
    root = tmp_path / "g"
    shutil.copytree(good[0], root)
    return root


# ------------------------------------------------------------------------------------------------ add, sync, remove
def test_enrolling_a_second_folder_adds_and_sync_lists_what_it_removes(env, tmp_path, capsys):
    a, b = _people(tmp_path / "A", ENROLLED), _people(tmp_path / "B", OTHERS)
    g = tmp_path / "g"
    assert _cli("enroll", a, "--gallery", g, "--threshold", THRESHOLD, "--quiet", capsys=capsys)[0] == 0
    rc, out, _ = _cli("enroll", b, "--gallery", g, "--threshold", THRESHOLD, "--quiet", capsys=capsys)
    assert rc == 0 and "5 people, 10 photos; this run: 4 embedded, 0 changed, 6 kept, 0 removed" in out
    assert Gallery.load(g).people() == sorted((*ENROLLED, *OTHERS))

    rc, out, _ = _cli("enroll", b, "--gallery", g, "--sync", "--dry-run", capsys=capsys)
    assert rc == 0 and out.count("would remove") == 6 and "(--dry-run: nothing written)" in out
    assert len(Gallery.load(g).entries) == 10
    rc, out, _ = _cli("enroll", b, "--gallery", g, "--sync", "--quiet", capsys=capsys)
    removing = [ln for ln in out.splitlines() if ln.startswith("removing ")]
    assert rc == 0 and len(removing) == 6 and out.index("removing") < out.index("people,")  # listed first
    assert all(f"/A/{n}/" in "".join(removing) for n in ENROLLED)
    assert Gallery.load(g).people() == sorted(OTHERS)

    rc, out, err = _cli("gallery", "list", "--gallery", g, capsys=capsys)
    assert rc == 0 and out.splitlines() == [f"{n}\t2" for n in sorted(OTHERS)] and "2 people, 4 photos" in err
    rc, out, _ = _cli("gallery", "remove", OTHERS[0], "--gallery", g, capsys=capsys)
    assert rc == 0 and out.count("removed ") == 2 and Gallery.load(g).people() == [OTHERS[1]]
    rc, _, err = _cli("gallery", "remove", "Nobody_Here", "--gallery", g, capsys=capsys)
    assert rc == 2 and "not enrolled: Nobody_Here" in err and len(Gallery.load(g).entries) == 2


def test_enrolling_again_embeds_only_new_or_changed_photos(good, gallery):
    _, folder = good
    fp = enroll_path("mobilefacenet-casia")
    again = enroll(folder, gallery, fp, progress=False)
    assert again.embedded == [] and again.changed == [] and again.kept == 9 and again.removed == []
    photo = folder / ENROLLED[0] / "1.jpg"
    original = photo.read_bytes()
    try:
        shutil.copy(_lfw(ENROLLED[0], 4), photo)  # the same file name, another photo
        third = enroll(folder, gallery, fp, progress=False)
    finally:
        photo.write_bytes(original)
    assert third.changed == [str(photo)] and third.kept == 8 and third.photos == 9


def test_a_gallery_of_another_face_path_is_refused(good, gallery):
    with pytest.raises(GalleryError, match="Use another --gallery"):
        enroll(good[1], gallery, enroll_path("dlib-resnet"), progress=False)


# ------------------------------------------------------------------------------------------------ identify
def test_identify_answers_known_unknown_and_names_the_threshold(gallery, capsys):
    rc, out, _ = _cli("identify", _lfw(ENROLLED[2], 4), "--gallery", gallery, capsys=capsys)
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "threshold: cosine 0.5000 (test)" and lines[1].split(": ")[1].startswith(
        ENROLLED[2])
    rc, out, _ = _cli("identify", _lfw(STRANGER, 1), "--gallery", gallery, capsys=capsys)
    assert rc == 1 and ": unknown" in out
    rc, _, err = _cli("identify", _lfw(STRANGER, 1), "--gallery", gallery.parent / "nowhere", capsys=capsys)
    assert rc == 2 and "no gallery here" in err


def _bad_images(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of photo a user may pass: file, and what identify must answer (a person, 'unknown', 'any' for a
    readable photo whose answer depends on the model, or 'error: <text>')."""
    folder.mkdir(parents=True, exist_ok=True)
    who = ENROLLED[2]
    src = Image.open(_lfw(who, 4))
    out: dict[str, tuple[Path, str]] = {}

    def put(kind: str, name: str, expect: str, write) -> None:
        path = folder / name
        write(path)
        out[kind] = (path, expect)

    put("empty", "empty.jpg", "error: empty file", lambda p: p.write_bytes(b""))
    put("text", "text.jpg", "error: not an image file", lambda p: p.write_text("<html>404</html>"))
    put("truncated", "truncated.jpg", "error: truncated or corrupt",
        lambda p: p.write_bytes(_lfw(who, 4).read_bytes()[:3000]))
    put("cmyk", "cmyk.jpg", who, lambda p: src.convert("CMYK").save(p, quality=95))
    put("rgba", "rgba.png", who, lambda p: src.convert("RGBA").save(p))
    put("16-bit", "gray16.png", "any", lambda p: Image.fromarray(
        np.asarray(src.convert("L"), np.uint16) * 257).save(p))
    put("gif", "palette.gif", "any", lambda p: src.convert("P", palette=Image.Palette.ADAPTIVE).save(p))
    put("8 px", "tiny.png", "error: too small", lambda p: src.resize((8, 6)).save(p))
    put("noise", "noise.png", "error: no face found", lambda p: Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (250, 250, 3), dtype=np.uint8)).save(p))

    def rotated(p: Path) -> None:  # pixels stored on their side; EXIF orientation 6 puts them upright
        exif = Image.Exif()
        exif[0x0112] = 6
        src.transpose(Image.Transpose.ROTATE_90).save(p, exif=exif, quality=95)

    put("exif-rotated", "rotated.jpg", who, rotated)

    def two_faces(p: Path) -> None:
        both = Image.new("RGB", (500, 250))
        both.paste(src, (0, 0))
        both.paste(Image.open(_lfw(STRANGER, 1)), (250, 0))
        both.save(p, quality=95)

    put("two faces", "two.jpg", f"{who} + unknown", two_faces)

    def phone(p: Path) -> None:  # 108 MP: decoded at reduced size, not refused
        big = Image.new("RGB", (12000, 9000), (128, 128, 128))
        big.paste(src.resize((3000, 3000), Image.Resampling.BICUBIC), (4500, 3000))
        big.save(p, quality=85)

    put("108 MP", "phone.jpg", who, phone)
    out["missing"] = (folder / "missing.jpg", "error: no such file")
    return out


def test_every_kind_of_bad_photo_gets_its_exit_code_and_one_line(gallery, tmp_path, capsys):
    cases = _bad_images(tmp_path / "photos")
    seen = {}
    for kind, (path, expect) in cases.items():
        rc, out, err = _cli("identify", path, "--gallery", gallery, capsys=capsys)
        assert "Traceback" not in out + err, kind
        results = out.splitlines()[1:]  # after the threshold line
        seen[kind] = rc
        if expect.startswith("error: "):
            assert rc == 2 and err.count("\n") == 1 and str(path) in err and expect[7:] in err, (kind, err)
        elif expect == "any":
            assert rc in (0, 1) and len(results) == 1 and not err, (kind, out, err)
        elif "+" in expect:
            assert rc == 1 and len(results) == 2 and "face 1 of 2" in results[0], (kind, out)
            assert sorted(r.split(": ")[1].split(" (")[0] for r in results) == sorted([ENROLLED[2], "unknown"])
        else:
            assert rc == 0 and len(results) == 1 and results[0].split(": ")[1].startswith(expect), (kind, out)
    # all photos at once: every one is answered, and the worst outcome is the exit code
    rc, out, err = _cli("identify", *(p for p, _ in cases.values()), "--gallery", gallery, capsys=capsys)
    assert rc == 2 and err.count("error: ") == sum(e.startswith("error") for _, e in cases.values())


def test_enrolling_bad_photos_skips_each_with_its_reason(env, tmp_path, capsys):
    cases = _bad_images(tmp_path / "people" / ENROLLED[2])
    (tmp_path / "people" / ENROLLED[2] / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    rc, out, err = _cli("enroll", tmp_path / "people", "--gallery", tmp_path / "g", "--threshold", THRESHOLD,
                        "--quiet", capsys=capsys)
    assert rc == 0 and "Traceback" not in out + err
    skipped = {ln.split(": ", 1)[0].removeprefix("skipped "): ln for ln in out.splitlines()
               if ln.startswith("skipped ")}
    bad = [p for p, e in cases.values() if e.startswith("error") and p.exists()]
    assert sorted(skipped) == sorted([*map(str, bad), str(tmp_path / "people" / ENROLLED[2] / "gone.jpg")])
    enrolled = len(cases) - 1 - len(bad)  # the missing file is not in the folder
    assert f"1 people, {enrolled} photos" in out


# ------------------------------------------------------------------------------------------------ damage
DAMAGE = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_text("this is not what it should be"),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
}


def _file(gallery: Path, which: str) -> Path:
    if which == "manifest":
        return gallery / MANIFEST
    m = json.loads((gallery / MANIFEST).read_text())
    return gallery / m[which]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("which", ["manifest", "vectors", "index"])
def test_a_damaged_gallery_file_is_named_with_its_fix_and_repaired_where_it_can_be(good, gallery, which, damage,
                                                                                   capsys):
    target = _file(gallery, which)
    DAMAGE[damage](target)
    probe = _lfw(ENROLLED[2], 4)
    identify = _cli("identify", probe, "--gallery", gallery, capsys=capsys)
    listed = _cli("gallery", "list", "--gallery", gallery, capsys=capsys)
    for _, out, err in (identify, listed):
        assert "Traceback" not in out + err
    if which == "manifest":
        for rc, _, err in (identify, listed):
            assert rc == 2 and err.count("\n") == 1 and str(target) in err
            assert ("no gallery here" if damage == "missing" else "damaged") in err
        rc, _, err = _cli("enroll", good[1], "--gallery", gallery, "--quiet", capsys=capsys)
        assert rc == 2 and str(target) in err  # nothing to repair from: the list of photos is gone
        return
    if which == "vectors":
        rc, _, err = identify
        assert rc == 2 and str(target) in err and "`facekit enroll FOLDER --gallery" in err and "repairs" in err
        assert listed[0] == 0  # the list of people needs only the manifest
        assert _cli("gallery", "remove", ENROLLED[0], "--gallery", gallery, capsys=capsys)[0] == 2
    else:  # the index is derived from the vectors: searched without it, with a note
        rc, out, err = identify
        assert rc == 0 and ENROLLED[2] in out.splitlines()[1] and f"note: {gallery}: {target.name} is missing" in err
    rc, out, err = _cli("enroll", good[1], "--gallery", gallery, "--quiet", capsys=capsys)
    assert rc == 0 and f"repaired: {target.name}" in out
    if which == "vectors":
        assert "repaired: 9 enrolled photos embedded again" in out
    rc, out, err = _cli("identify", probe, "--gallery", gallery, capsys=capsys)
    assert rc == 0 and ENROLLED[2] in out.splitlines()[1] and not err
    assert sorted(f.name for f in gallery.iterdir() if not f.name.startswith(".")) == sorted(
        [MANIFEST, _file(gallery, "vectors").name, _file(gallery, "index").name])


def test_a_torn_gallery_of_the_old_format_is_repaired(good, gallery, capsys):
    """What a kill between the two writes of the old save left: 9 entries, 5 vectors."""
    m = json.loads((gallery / MANIFEST).read_text())
    vectors = np.load(gallery / m["vectors"])
    for k in ("format", "vectors", "vectors_sha256", "index", "dim", "threshold_profile"):
        m.pop(k)
    for f in gallery.iterdir():
        f.unlink()
    (gallery / MANIFEST).write_text(json.dumps(m))
    np.save(gallery / "vectors.npy", vectors[:5])
    rc, _, err = _cli("identify", _lfw(ENROLLED[0], 4), "--gallery", gallery, capsys=capsys)
    assert rc == 2 and "vectors.npy: is damaged (holds 5 vectors for 9 photos)" in err
    rc, out, _ = _cli("enroll", good[1], "--gallery", gallery, "--quiet", capsys=capsys)
    assert rc == 0 and "9 enrolled photos embedded again" in out
    assert not (gallery / "vectors.npy").exists() and json.loads((gallery / MANIFEST).read_text())["format"] == 2
    assert _cli("identify", _lfw(ENROLLED[0], 4), "--gallery", gallery, capsys=capsys)[0] == 0


# ------------------------------------------------------------------------------------------------ one writer, no tear
SAVER = r"""
import sys
from pathlib import Path
import numpy as np
from facekit.face_path import FacePath
from facekit.gallery import Gallery, writing

root = Path(sys.argv[1])
fp = FacePath("retinaface", "mobilefacenet-casia")

def state(k):
    n = (30, 45)[k]
    entries = [{"file": f"/photos/{k}/{i}.jpg", "name": f"person{i % 7}", "sha1": f"{k}{i:039d}"} for i in range(n)]
    return entries, np.random.default_rng(k).standard_normal((n, 128)).astype(np.float32)

k = int(sys.argv[2])
while True:
    entries, vectors = state(k % 2)
    with writing(root, wait=-1, create=True):
        Gallery(root, fp, "test", "cosine", entries, vectors).save()
    if k == int(sys.argv[2]):
        print("saving", flush=True)
    k += 1
"""


def _saver(root: Path, first: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SAVER, str(root), str(first)], stdout=subprocess.PIPE,
                            text=True, env=env)


def test_a_save_killed_at_any_instant_leaves_the_old_or_the_new_gallery(tmp_path):
    root = tmp_path / "g"
    first = _saver(root, 0)  # one complete save of state 0, then killed
    assert first.stdout.readline() == "saving\n"
    first.kill()
    first.wait()
    rng = random.Random(20261129)
    state_of = {30: 0, 45: 1}  # photos -> which of the two states
    seen = set()
    for trial in range(20):
        proc = _saver(root, trial % 2)
        assert proc.stdout.readline() == "saving\n"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        g = Gallery.load(root)
        n = len(g.entries)
        assert n in (30, 45), trial
        k = state_of[n]
        expect = np.random.default_rng(k).standard_normal((n, 128)).astype(np.float32)
        assert np.array_equal(np.asarray(g.vectors), expect), trial
        assert all(e["file"].startswith(f"/photos/{k}/") for e in g.entries), trial
        assert g.index.size == n and not g.damage, trial
        seen.add(n)
    assert seen == {30, 45}  # the kills landed in both states' saves


def test_a_second_writer_is_told_the_gallery_is_busy_or_waits(gallery, good, capsys):
    with writing(gallery):
        rc, _, err = _cli("enroll", good[1], "--gallery", gallery, "--quiet", capsys=capsys)
        assert rc == 2 and "gallery busy" in err and "--wait" in err
        assert _cli("gallery", "remove", ENROLLED[0], "--gallery", gallery, capsys=capsys)[0] == 2
        assert _cli("identify", _lfw(ENROLLED[0], 4), "--gallery", gallery, capsys=capsys)[0] == 0  # readers read
        rc, _, err = _cli("gallery", "remove", ENROLLED[0], "--gallery", gallery, "--wait", "0.2", capsys=capsys)
        assert rc == 2 and "gallery busy" in err


def test_parallel_enrolments_end_with_the_union(env, tmp_path):
    a, b = _people(tmp_path / "A", ENROLLED), _people(tmp_path / "B", OTHERS)
    g = tmp_path / "g"
    cmd = [sys.executable, "-m", "facekit.cli", "enroll"]
    opts = ["--gallery", str(g), "--threshold", THRESHOLD, "--wait", "--quiet"]
    env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([*cmd, str(f), *opts], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env_vars) for f in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert Gallery.load(g).people() == sorted((*ENROLLED, *OTHERS)) and len(Gallery.load(g).entries) == 10
    reports = {next(line for line in o.splitlines() if line.startswith(str(g))).split(": ", 1)[1] for o, _ in outs}
    first_a = {"3 people, 6 photos; this run: 6 embedded, 0 changed, 0 kept, 0 removed, 0 skipped",
               "5 people, 10 photos; this run: 4 embedded, 0 changed, 6 kept, 0 removed, 0 skipped"}
    first_b = {"2 people, 4 photos; this run: 4 embedded, 0 changed, 0 kept, 0 removed, 0 skipped",
               "5 people, 10 photos; this run: 6 embedded, 0 changed, 4 kept, 0 removed, 0 skipped"}
    assert reports in (first_a, first_b)  # whichever wrote second kept the first one's photos, and said so


# ------------------------------------------------------------------------------------------------ calibration
def _calibration_record(profile: str, embedder: str, threshold: float) -> None:
    from facekit.results import write_result
    from facekit.studies.kit import LFW_PATHS

    write_result("03_metric_learning", f"{embedder}_lfw-view2", profile=profile, dataset="lfw",
                 protocol="view2-10fold", model=embedder,
                 metrics={"accuracy": 0.99, "threshold_at_far_1e-3": threshold, "pairs": 120},
                 face_path=LFW_PATHS[embedder].to_json())


def test_a_smoke_calibration_is_used_only_when_asked_for(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEKIT_RESULTS", str(tmp_path / "results"))
    a, b = _lfw(ENROLLED[0], 1), _lfw(ENROLLED[0], 2)
    _calibration_record("smoke", "mobilefacenet-casia", 0.3)
    rc, out, err = _cli("verify", a, b, "--embedder", "mobilefacenet-casia", capsys=capsys)
    assert rc == 2 and not out and "only the smoke build has one" in err and "--profile smoke" in err
    rc, out, _ = _cli("verify", a, b, "--embedder", "mobilefacenet-casia", "--profile", "smoke", capsys=capsys)
    assert rc == 0 and out.splitlines()[1].startswith("threshold: FAR 0.001 on LFW View 2, calibrated by the "
                                                      "smoke build")
    _calibration_record("cpu", "mobilefacenet-casia", 0.35)
    rc, out, _ = _cli("verify", a, b, "--embedder", "mobilefacenet-casia", capsys=capsys)
    assert rc == 0 and "calibrated by the cpu build" in out.splitlines()[1]

    rc, _, err = _cli("enroll", _people(tmp_path / "A", ENROLLED[:1]), "--gallery", tmp_path / "g", capsys=capsys)
    assert rc == 2 and "no open-set calibration of mobilefacenet-casia" in err and "--threshold" in err
    assert not (tmp_path / "g" / MANIFEST).exists()


def test_the_default_embedder_is_the_best_calibrated(env, tmp_path, monkeypatch, capsys):
    from facekit.results import write_result
    from facekit.studies.calibration import FALLBACK_EMBEDDER, best_calibrated

    monkeypatch.setenv("FACEKIT_RESULTS", str(tmp_path / "results"))
    assert best_calibrated() == (FALLBACK_EMBEDDER, "no build has calibrated an embedder yet")
    for emb, tpr in (("mobilefacenet-casia", 0.90), ("dlib-resnet", 0.95), ("sface", 0.97)):
        _calibration_record("cpu", emb, 0.4)
        write_result("03_metric_learning", f"{emb}_lfw-view2", profile="cpu", dataset="lfw", protocol="p",
                     model=emb, metrics={"accuracy": 0.99, "threshold_at_far_1e-3": 0.4, "tpr_at_far_1e-3": tpr},
                     face_path={"detector": "retinaface", "embedder": emb})
    write_result("03_metric_learning", "vgg16-triplet-mined_lfw-view2", profile="cpu", dataset="lfw", protocol="p",
                 model="trained here", metrics={"tpr_at_far_1e-3": 0.99}, face_path={})  # not a registered embedder
    name, why = best_calibrated()
    assert name == "sface" and "0.9700" in why and "cpu build" in why
    write_result("04_retrieval", "open-set_dlib-resnet", profile="cpu", dataset="lfw", protocol="open", model="x",
                 metrics={}, extra={"rows": [{"target FAR": 0.01, "threshold": 0.5}]})
    assert best_calibrated(open_set_far=0.01)[0] == "dlib-resnet"  # the only one with an open-set threshold
    assert best_calibrated(open_set_far=0.001)[0] == FALLBACK_EMBEDDER
    a, b = _lfw(ENROLLED[0], 1), _lfw(ENROLLED[0], 2)
    rc, out, _ = _cli("verify", a, b, capsys=capsys)
    assert out.splitlines()[0].startswith("embedder: sface (the highest TPR at FAR 0.001")


def test_an_existing_gallery_keeps_its_embedder(tmp_path):
    from facekit.gallery import MANIFEST, embedder_of

    assert embedder_of(tmp_path / "new") is None
    (tmp_path / MANIFEST).write_text(json.dumps({"face_path": {"detector": "retinaface", "embedder": "sface"}}))
    assert embedder_of(tmp_path) == "sface"  # enroll without --embedder adds through the gallery's own
    (tmp_path / MANIFEST).write_text("{torn")
    assert embedder_of(tmp_path) is None  # opening the gallery then reports the damage


def test_a_large_gallery_is_searched_by_its_size_rule_saved_and_loaded_as_such(tmp_path, monkeypatch):
    """Below ``APPROXIMATE_FROM`` rows a gallery is searched exactly; from there it builds, stores and reloads the
    half-precision scan with exact re-scoring (its scores are the exact ones); from ``HNSW_FROM`` an HNSW graph
    searched at the gallery's width. Each finds each enrolled vector's own person first."""
    from facekit import search
    from facekit.face_path import FacePath
    from facekit.gallery import Gallery, writing

    monkeypatch.setattr(search, "APPROXIMATE_FROM", 100)
    monkeypatch.setattr(search, "HNSW_FROM", 500)
    fp = FacePath("retinaface", "mobilefacenet-casia")
    for n, kind in ((60, "flat"), (300, "fp16"), (700, "hnsw")):
        root = tmp_path / f"g{n}"
        entries = [{"file": f"/photos/{i}.jpg", "name": f"person{i}", "sha1": f"{i:040d}"} for i in range(n)]
        vectors = np.random.default_rng(n).standard_normal((n, 64)).astype(np.float32)
        with writing(root, create=True):
            Gallery(root, fp, "test", "cosine", entries, vectors).save()
        g = Gallery.load(root)
        assert g.index.kind == kind and not g.damage
        if kind == "hnsw":
            assert g.index.index.hnsw.efSearch == search.GALLERY_EF_SEARCH
        if kind == "fp16":
            exact_scores, exact_rows = search.brute_force(vectors, vectors[:20], 5)
            scores, rows = g.index.search(vectors[:20], 5)
            assert (rows == exact_rows).all() and np.allclose(scores, exact_scores, atol=1e-6)
        assert [hits[0][0] for hits in g.search(vectors[:20], 1)] == [f"person{i}" for i in range(20)]
