"""The synthesis chapter's verdicts follow the stated rule, from records only: absent records are 'not run here',
a substitute's number is 'not comparable', a number inside/outside our interval and a direction with intervals
apart/overlapping/reversed get the verdicts the rule says."""

from __future__ import annotations

import pytest

from facekit import results
from facekit.studies import synthesis as sy


def test_value_rule():
    fig = sy.Figure(0.95, 0.93, 0.97, "x/y")
    assert sy.value_outcome(0.96, fig, None).verdict == "reproduced"
    assert sy.value_outcome(0.90, fig, None).verdict == "not reproduced"
    assert sy.value_outcome(0.96, fig, "our model stands in").verdict == "not comparable"


def test_direction_rule():
    hi, lo, mid = sy.Figure(0.9, 0.88, 0.92, "a"), sy.Figure(0.5, 0.45, 0.55, "b"), sy.Figure(0.87, 0.8, 0.9, "c")
    assert sy.direction_outcome(hi, lo, "A", "B").verdict == "reproduced"
    out = sy.direction_outcome(lo, hi, "A", "B")
    assert out.verdict == "not reproduced" and out.why.startswith("reversed")
    out = sy.direction_outcome(hi, mid, "A", "B")
    assert out.verdict == "not reproduced" and "overlap" in out.why


def test_substitute_and_dataset_make_a_number_not_comparable():
    rec = {"model": "m", "substitute_for": None, "dataset": "lfw", "extra": {}}
    assert sy.not_comparable_because(rec, "lfw") is None
    assert "measured on lfw" in sy.not_comparable_because(rec, "kaggle_pins")
    assert "stands in for VGG" in sy.not_comparable_because({**rec, "substitute_for": "VGG"})


def _write(study, name, metrics, **kw):
    results.write_result(study, name, profile="cpu", dataset=kw.pop("dataset", "lfw"), protocol="p",
                         model=kw.pop("model", "m"), metrics=metrics, **kw)


def test_evaluate_reads_records_and_says_what_did_not_run(isolated):
    from facekit.studies import metric_learning, retrieval

    for spec, accs in zip(metric_learning.REPORT_001, ([0.95, 0.96, 0.97], [0.85, 0.86, 0.87], [0.7, 0.72, 0.71]),
                          strict=True):
        _write(metric_learning.CHAPTER.name, f"{spec.name}_lfw-folds6-10", {"accuracy": sum(accs) / 3},
               extra={"fold_accuracy": accs})
    for norm, top1 in (("own", 0.95), ("raw", 0.05), ("div255", 0.94)):
        _write(retrieval.CHAPTER.name, f"normalisation_mobilefacenet-casia_{norm}", {"rank1": top1, "queries": 300})
    table = sy.evaluate("cpu").set_index("key")
    assert table.loc["001-ranking", "verdict"] == "reproduced"  # 0.96 > 0.86 > 0.71, intervals apart
    assert table.loc["002-normalisation", "verdict"] == "reproduced"
    assert "raw" in table.loc["002-normalisation", "ours"]
    assert table.loc["000-single-head", "verdict"] == "not run here"
    assert "record absent in profile cpu" in table.loc["000-single-head", "why"]
    assert set(table.verdict) <= {"reproduced", "not reproduced", "not comparable", "not run here"}
    assert len(table) == len(sy.CLAIMS) and {c.report for c in sy.CLAIMS} == {"000", "001", "002", "003", "004"}


def test_verdicts_are_written_as_records(isolated):
    table = sy.evaluate("cpu")
    st = sy.CHAPTER.study("cpu")
    sy.write_verdicts(st, table, None)
    recs = st.records()
    assert len(recs) == len(sy.CLAIMS)
    assert all(r["extra"]["verdict"] == "not run here" and r["reported"]["source"].startswith("report ")
               for r in recs)


@pytest.mark.parametrize("claim", sy.CLAIMS, ids=lambda c: c.key)
def test_every_claim_names_its_report_figure_and_protocol(claim):
    assert claim.reported and claim.protocol and claim.statement
    assert claim.reported_value is None or 0 <= claim.reported_value <= 1


@pytest.mark.parametrize("profile", ["cpu", "full"])
def test_synthesis_judges_the_records_each_profile_writes(isolated, profile):
    """Reports 000 and 003 are judged on the record names and datasets the profile's own parameters give (a full
    run writes VGG-M-Face-BN heads on Pins and FaceNet-CASIA / ResNet-50 / FaceNet-trunk records, not cpu's)."""
    import numpy as np
    import pandas as pd

    from facekit.studies import cosine_heads as heads
    from facekit.studies import gender_keypoints as gk

    hp = heads.CHAPTER.params(profile)
    hst = heads.CHAPTER.study(profile)
    first = hp.embedders[0].embedder
    rng = np.random.default_rng(0)
    people = [f"p{i}" for i in range(50)]
    truth = np.repeat(people, 8)
    pred = np.where(rng.random(len(truth)) < 0.9, truth, rng.choice(people, len(truth)))
    sex = np.array(["man" if int(n[1:]) % 3 else "woman" for n in truth])
    for kind, acc in (("single", 0.99), ("multi", 0.80)):
        name = heads.head_record(kind, first)
        hst.write(name, dataset=hp.dataset or "lfw", protocol="p", model=f"{kind} head",
                  metrics={"accuracy": acc, "sex_accuracy": 0.94, "samples": 2000}, datasets=(),
                  substitute_for=None if first == heads.ORIGINAL_EMBEDDER else "VGG-M-Face-BN")
        preds = pd.DataFrame({"path": [f"{i}.jpg" for i in range(len(truth))], "name": truth, "sex": sex,
                              "pred_name": pred})
        if kind == "multi":
            preds["pred_sex"] = np.where(rng.random(len(truth)) < 0.93, sex, "man")
        hst.write_table(f"{name}_test_predictions", preds)
    if hp.yolo_images:  # the person step's record and table as run_yolo_person_timing writes them
        from facekit.detect.base import Detection

        dets = [[Detection(np.array([0, 0, 9, 9.0]), float(c))] if c > 0.2 else [] for c in rng.random(hp.yolo_images)]
        reliability, best = heads.person_confidences(dets)
        hst.write("yolo-person_yolo26n-coco", dataset=hp.dataset or "lfw", protocol="p", model="yolo26n-coco",
                  metrics={"images": hp.yolo_images, **reliability}, datasets=())
        hst.write_table("yolo-person_yolo26n-coco_confidence", pd.DataFrame({"confidence": best}))
    gp, gst = gk.CHAPTER.params(profile), gk.CHAPTER.study(profile)
    y = rng.integers(0, 2, 200)
    prob, people = np.clip(y * 0.8 + rng.random(200) * 0.3, 0, 1), np.arange(200) % 40
    for split, ds in (("lfw-test", "lfw"), ("celeba", "celeba_subset")):
        gk.scored(gst, gk.finetune_record(gp, split), y, prob, people, dataset=ds, protocol="p", model="m",
                  datasets=())
    for face_trunk in (False, True):
        name = gk.rcnn_record(gk.rcnn_backbone(gp, face_trunk))
        gk.scored(gst, name, y, prob * 0.5 + 0.25, people, dataset="lfw", protocol="p", model="m", datasets=())
        nme = rng.normal(0.08 if face_trunk else 0.04, 0.01, 200)  # the plain R-CNN's points closer
        gst.write_table(name, pd.DataFrame({"found": np.arange(200) % 10 > 0, "nme": np.where(
            np.arange(200) % 10 > 0, nme, np.inf)}))
    table = sy.evaluate(profile).set_index("key")
    judged = ["000-single-head", "000-multi-head", "000-sex-head", "000-single-head-macro-f1", "000-sex-f1",
              "003-facenet-gender", "003-facenet-kappa", "003-rcnn-gender", "003-rcnn-facenet", "003-rcnn-auc",
              "003-rcnn-facenet-auc", "003-rcnn-keypoints"]
    assert (table.loc[judged, "verdict"] != "not run here").all(), table.loc[judged, "why"].to_dict()
    f1 = table.loc["000-single-head-macro-f1"]
    assert f1.ours_lo < f1.ours_value < f1.ours_hi and 0.8 < f1.ours_value < 0.95
    yolo = table.loc[["000-yolo-person", "000-yolo-confidence"]]
    if hp.yolo_images:
        assert (yolo.verdict != "not run here").all(), yolo.why.to_dict()
        assert yolo.loc["000-yolo-person", "ours_value"] == pytest.approx(reliability["found_share"])
        assert yolo.loc["000-yolo-confidence", "ours_value"] == pytest.approx(reliability["confidence_mean"])
    else:
        assert (yolo.verdict == "not run here").all() and "person step" in yolo.loc["000-yolo-person", "why"]
    assert table.loc["003-rcnn-keypoints", "verdict"] == "reproduced", table.loc["003-rcnn-keypoints", "why"]
    if profile == "full":  # the report's own model on the report's own data: a number that can be judged
        assert table.loc["000-single-head", "verdict"] in ("reproduced", "not reproduced")
        assert table.loc["000-single-head", "source"].endswith(heads.head_record("single", "vgg-m-face-bn"))
        assert "facenet-casia" in table.loc["003-facenet-gender", "source"]
    else:
        assert table.loc["000-single-head", "verdict"] == "not comparable"


def test_report_002_direction_claims_read_the_grid_and_the_report_models(isolated):
    import pandas as pd

    from facekit.studies import retrieval

    st = retrieval.CHAPTER.study("cpu")
    dets = retrieval.GRID_DETECTORS
    rows = [{"embedder": "facenet-128", "metric": "cosine", "query detector": q, "gallery detector": g,
             "rank1": 0.95 if (q, g) == sy.REPORT_002_PAIRING else 0.40, "queries": 107} for q in dets for g in dets]
    st.write_table("report002_grid", pd.DataFrame(rows))
    for emb, top1 in (("facenet-128", 0.9), ("facenet-casia", 0.6)):
        st.write(f"report002_{emb}", dataset="lfw", protocol="p", model=emb, datasets=(),
                 metrics={"rank1": top1, "queries": 107})
    table = sy.evaluate("cpu").set_index("key")
    assert table.loc["002-pairing", "verdict"] == "reproduced", table.loc["002-pairing", "why"]
    assert table.loc["002-facenet-vs-512", "verdict"] == "reproduced"
    assert table.loc["002-arcface-stable", "verdict"] == "not run here"
    assert "sface" in table.loc["002-arcface-stable", "why"]
    rows[0]["rank1"] = 0.99  # another pairing above the report's best
    st.write_table("report002_grid", pd.DataFrame(rows))
    assert sy.evaluate("cpu").set_index("key").loc["002-pairing", "verdict"] == "not reproduced"


def test_every_chapters_list_of_claims_is_judged_by_the_synthesis_and_nothing_else():
    """The claims listed beside each chapter's reported figures (``Chapter.claims``) and the synthesis's claims
    are the same set, each once, each under its report; every one gets a verdict or 'not run here' with a why."""
    from facekit.studies import chapters

    listed = {ch.name: ch.claims for ch in chapters().values() if ch.claims}
    keys = [k for ks in listed.values() for k in ks]
    assert len(keys) == len(set(keys)), "a claim listed twice"
    assert sorted(keys) == sorted(c.key for c in sy.CLAIMS)
    by_key = {c.key: c for c in sy.CLAIMS}
    for name, ks in listed.items():
        report = chapters()[name].report
        assert all(by_key[k].report == k.split("-")[0] and report in (None, by_key[k].report) for k in ks), name
    assert {by_key[k].report for k in listed["01_detection"]} == {"001"}  # report 001's detectors and landmarks


def test_a_decay_ablation_that_never_fired_is_said_not_to_have_tested_anything(isolated):
    """A plateau rule that never cut the learning rate makes 'no delayed decay' the recipe's own training run
    again: the synthesis says the comparison did not happen (not 'no difference found'), the chapter's table and
    closing sentence say the same; a row whose training differs is judged as before."""
    from facekit.studies import arcface_resnet as ar

    def hist(lrs, vals):
        return [{"epoch": k, "loss": 10.0 - k, "val": v, "margin": 0.35, "lr": lr, "seconds": 60.0}
                for k, (lr, v) in enumerate(zip(lrs, vals, strict=True))]

    flat, cut = hist([0.1] * 3, [0.6, 0.65, 0.7]), hist([0.1, 0.1, 0.01], [0.6, 0.65, 0.72])
    for variant, seed, acc, h in (("report recipe", 0, 0.70, flat), ("report recipe", 1, 0.68, flat),
                                  ("no delayed decay", 0, 0.70, flat), ("no delayed decay", 1, 0.68, flat),
                                  ("fixed margin 0.35", 0, 0.60, cut), ("fixed margin 0.35", 1, 0.61, cut)):
        _write(ar.CHAPTER.name, f"{ar.slug(variant)}_s{seed}",
               {"accuracy": acc, "tpr_at_far_1e-3": 0.02, "roc_auc": 0.75, "best_epoch": 2, "epochs": 3},
               timings={"train_seconds": 180.0},
               extra={"variant": variant, "change": "c", "seed": seed, "history": h})
    table = sy.evaluate("cpu").set_index("key")
    assert table.loc["004-delayed-decay", "verdict"] == "not run here"
    assert "trained exactly as the recipe" in table.loc["004-delayed-decay", "why"]
    assert table.loc["004-warm-up", "verdict"] == "reproduced"  # a row that trained differently is judged
    st = ar.CHAPTER.study("cpu")
    ablation = ar.ablation_table(st)
    assert ablation.loc["no delayed decay", "vs_recipe"] == ar.SAME
    assert ablation.loc["fixed margin 0.35", "vs_recipe"] == "worse than the recipe"
    assert "**no delayed decay** trained exactly as the recipe did" in ar.closing_sentences(st, ablation)[0]
    # one differing epoch (here the last learning rate and score) makes it another training
    assert not ar.same_training([{"extra": {"seed": 0, "history": flat}}], [{"extra": {"seed": 0, "history": cut}}])
    assert not ar.same_training([], [])
