"""`facekit enroll` / `facekit identify`: incremental enrolment, known / unknown / error exit codes."""

from __future__ import annotations

import shutil

import pytest

from facekit.cli import main
from facekit.gallery import Gallery, GalleryError, enroll
from facekit.studies.retrieval import enroll_path

ENROLLED = ("Gloria_Macapagal_Arroyo", "Jennifer_Capriati", "Vladimir_Putin")
STRANGER = "Serena_Williams"
THRESHOLD = "0.5"  # MobileFaceNet cosine; the chapter calibrates its own (about 0.5 at FAR 1 %)


@pytest.fixture()
def people(mirror_data, shared_weights, tmp_path):
    """Three LFW people with three photos each in person folders, and a fourth image of each kept aside."""
    from facekit.data import lfw

    folder = tmp_path / "people"
    for name in ENROLLED:
        (folder / name).mkdir(parents=True)
        for i in (1, 2, 3):
            shutil.copy(lfw.image_path(name, i), folder / name / f"{i}.jpg")
    return folder, {n: lfw.image_path(n, 4) for n in (*ENROLLED, STRANGER)}


def test_enroll_is_incremental_and_identify_answers(people, tmp_path, capsys):
    folder, probes = people
    gallery = tmp_path / "gallery"
    assert main(["enroll", str(folder), "--gallery", str(gallery), "--threshold", THRESHOLD, "--quiet"]) == 0
    g = Gallery.load(gallery)
    assert len(g.entries) == 9 and g.people() == sorted(ENROLLED)

    again = enroll(folder, gallery, enroll_path("mobilefacenet-casia"), progress=False)
    assert again.embedded == [] and again.kept == 9 and again.removed == []  # nothing new: nothing embedded
    shutil.copy(probes[ENROLLED[0]], folder / ENROLLED[0] / "4.jpg")
    (folder / ENROLLED[1] / "3.jpg").unlink()
    third = enroll(folder, gallery, enroll_path("mobilefacenet-casia"), progress=False)
    assert len(third.embedded) == 1 and third.kept == 8 and len(third.removed) == 1

    capsys.readouterr()
    assert main(["identify", str(probes[ENROLLED[2]]), "--gallery", str(gallery)]) == 0
    assert capsys.readouterr().out.split(": ", 1)[1].startswith(ENROLLED[2])
    assert main(["identify", str(probes[STRANGER]), "--gallery", str(gallery)]) == 1
    assert ": unknown" in capsys.readouterr().out
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert main(["identify", str(text), "--gallery", str(gallery)]) == 2
    assert str(text) in capsys.readouterr().err
    assert main(["identify", str(probes[STRANGER]), "--gallery", str(tmp_path / "nowhere")]) == 2


def test_a_gallery_of_another_face_path_is_refused(people, tmp_path):
    folder, _ = people
    gallery = tmp_path / "gallery"
    enroll(folder, gallery, enroll_path("mobilefacenet-casia"), threshold=0.5, progress=False)
    with pytest.raises(GalleryError, match="Use another --gallery"):
        enroll(folder, gallery, enroll_path("dlib-resnet"), progress=False)
