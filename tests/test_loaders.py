"""Loaders read the real datasets of the mirror correctly, and say which file and line is wrong otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from facekit.data import celeba, lfw, sources, summary, w300, wider
from facekit.data.folders import read_identity_folders


@pytest.fixture()
def lfw_root(mirror_data):
    return sources.fetch("lfw", progress=False)


def test_lfw_counts_pairs_and_folds(lfw_root):
    s = summary.lfw_summary()
    assert s.check().ok.all(), s.check()
    assert s.counts["people_with_ge20_images"] == 62 and s.counts["images_of_ge20_people"] == 3023
    assert s.counts["cross_fold_identity_overlap"] == 0
    pairs = lfw.pairs()
    assert pairs.groupby("fold").same.agg(["sum", "size"]).eq([300, 600]).all().all()
    first = pairs.iloc[0]
    assert (first.name1, first.index1, first.index2, first.same) == ("Abel_Pacheco", 1, 4, True)
    assert first.path1.name == "Abel_Pacheco_0001.jpg" and first.path1.exists()
    assert all(p.exists() for p in pairs.path2)


def test_lfw_gender_quirks_reported_not_dropped(lfw_root):
    g = lfw.gender()
    assert g.conflicts == ["Allison_Searing_0001", "Claudia_Coslovich_0001", "Elizabeth_Hill_0001",
                           "Erika_Reyes_0001", "Tatiana_Shchegoleva_0001"]
    assert g.unlabelled == ["Robert_Evans_0001", "Robert_Evans_0002", "Tara_Kirk_0001", "Yasser_Arafat_0005"]
    assert len(g.table) == 13233 and g.table.sex.isna().sum() == 9
    assert g.by_person()["Serena_Williams"] == "female" and g.by_person()["George_W_Bush"] == "male"


def test_lfw_identities_outside_folds(lfw_root):
    pairs = lfw.pairs()
    train = set(lfw.identities_outside_folds(pairs, [6, 7, 8, 9, 10]))
    held = set().union(*(lfw.fold_identities(pairs)[f] for f in range(6, 11)))
    assert not train & held and len(train) + len(held) == 5749


def test_lfw_malformed_pairs_names_line(tmp_path):
    (tmp_path / "pairs.txt").write_text("1\t1\nA\t1\t2\nA\t1\tB\n")
    with pytest.raises(sources.DataError, match=r"pairs.txt: line 3 'A 1 B' does not fit fold 1's mismatched"):
        lfw.pairs(tmp_path)


def test_celeba_subset(mirror_data):
    imgs = celeba.subset_images()
    assert len(imgs) == 319 and imgs.identity.nunique() == 40
    assert celeba.identity_sex(imgs).value_counts().to_dict() == {"female": 20, "male": 20}
    attrs = celeba.attributes(celeba.root())
    assert attrs.shape == (20000, 40) and attrs.dtypes.eq(bool).all()
    assert celeba.landmarks(celeba.root()) is None  # not in the subset: reported as absent


def test_celeba_list_formats(tmp_path):
    (tmp_path / "list_bbox_celeba.txt").write_text("2\nimage_id x_1 y_1 width height\n"
                                                    "000001.jpg 95 71 226 313\n000002.jpg 72 94 221 306\n")
    (tmp_path / "list_landmarks_celeba.txt").write_text(
        "1\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
        "rightmouth_y\n000001.jpg 165 184 244 176 196 249 194 271 266 260\n")
    boxes = celeba.boxes(tmp_path)
    assert boxes.loc["000002.jpg"].tolist() == [72, 94, 221, 306]
    lm = celeba.landmarks_array(celeba.landmarks(tmp_path).loc["000001.jpg"])
    assert lm.shape == (5, 2) and lm[0].tolist() == [165, 184] and lm[4].tolist() == [266, 260]


def test_300w_faces_and_five_points(mirror_data):
    faces = w300.faces()
    assert len(faces) == 180 and faces.image.nunique() == 134
    first = faces.iloc[0]
    raw = w300.read_pts(first.pts, zero_based=False)
    assert raw[0].tolist() == pytest.approx([266.308960, 353.499651])
    assert np.allclose(first.landmarks, raw - 1)
    five = w300.five_points(first.landmarks)
    assert five.shape == (5, 2)
    assert five[0, 0] < five[1, 0] and five[3, 0] < five[4, 0]  # image-left eye and mouth corner first
    assert five[2, 1] > five[0, 1] and five[3, 1] > five[2, 1]  # nose below the eyes, mouth below the nose


def test_pts_with_header(tmp_path):
    body = "\n".join(f"{i}.5 {i * 2}.0" for i in range(68))
    (tmp_path / "a.pts").write_text(f"version: 1\nn_points:  68\n{{\n{body}\n}}\n")
    pts = w300.read_pts(tmp_path / "a.pts")
    assert pts.shape == (68, 2) and pts[1].tolist() == [0.5, 1.0]
    (tmp_path / "b.pts").write_text("1 2\n3 4\n")
    with pytest.raises(sources.DataError, match="b.pts: expected 68 points, found 2"):
        w300.read_pts(tmp_path / "b.pts")


def test_wider_ground_truth(mirror_data, tmp_path):
    base = wider.root()
    gt = wider.read_ground_truth(base / "wider_face_val.mat")
    assert (len(gt), gt.event.nunique(), sum(len(b) for b in gt.boxes)) == (3226, 61, 39708)
    first = gt.iloc[0]
    assert first.event == "0--Parade" and first.image == "0_Parade_marchingband_1_465"
    assert first.boxes[0].tolist() == [345, 211, 4, 4]
    easy = wider.read_ground_truth(base / "wider_face_val.mat", base / "wider_easy_val.mat")
    hard = wider.read_ground_truth(base / "wider_face_val.mat", base / "wider_hard_val.mat")
    assert sum(k.sum() for k in easy.keep) < sum(k.sum() for k in hard.keep) <= 39708
    with pytest.raises(sources.DataError, match="not a WIDER FACE"):
        wider.read_ground_truth(_not_wider(tmp_path))


def _not_wider(tmp):
    import scipy.io

    p = tmp / "x.mat"
    scipy.io.savemat(p, {"a": np.zeros(3)})
    return p


def test_identity_folders_pins_layout(tmp_path):
    from PIL import Image

    for name, n in (("pins_Adriana Lima", 3), ("pins_Alex_Lawther", 2), ("pins_Empty", 0)):
        d = tmp_path / name
        d.mkdir()
        for k in range(n):
            Image.new("RGB", (20, 20)).save(d / f"{k}.jpg")
    (tmp_path / "readme_folder").mkdir()
    skipped = []
    df = read_identity_folders(tmp_path, prefix="pins_", min_images=1, skipped=skipped)
    assert df.identity.value_counts().to_dict() == {"Adriana Lima": 3, "Alex Lawther": 2}
    assert {s.path.name for s in skipped} == {"pins_Empty", "readme_folder"}
