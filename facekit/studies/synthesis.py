"""The synthesis chapter's study (90_synthesis): one row per quantitative claim of the five reports, our figure read
from this build's records (and a full run's, when present), and a verdict computed by a stated rule.

Rule (``VERDICT_RULE``): a claim whose records are absent in this profile is *not run here*. A claim about a number
(the report's figure for its model on its data) is *not comparable* when our record used a substitute model,
other training data or another dataset; otherwise it is *reproduced* when the report's figure lies inside our 95 %
interval. A claim about a direction (A beats B, a wrong normalisation collapses accuracy) is *reproduced* when the
direction holds with our intervals apart, and *not reproduced* when the intervals overlap (no difference found) or
the order is reversed. A claim whose published figures this book has not transcribed (the report's text is not on
these machines) is *not comparable*, with our figures beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from facekit.metrics import bootstrap_by_group, classification_metrics, mean_interval, wilson
from facekit.results import read_result, read_results, read_table
from facekit.studies import arcface_resnet, detection, gender_keypoints, metric_learning, retrieval
from facekit.studies import cosine_heads as heads
from facekit.studies.kit import EVERY_EARLIER, Chapter, Study

_RULE = __doc__.split("Rule (``VERDICT_RULE``): ", 1)[1].strip().replace("\n", " ")
VERDICT_RULE = _RULE[0].upper() + _RULE[1:]
Verdict = Literal["reproduced", "not reproduced", "not comparable", "not run here"]


@dataclass(frozen=True)
class Params:
    """The synthesis chapter has no parameters of its own: it reads the other chapters' records."""

    full_profile: str = "full"  # whose records fill the "ours (full)" column when present


OVERRIDES: dict[str, dict[str, Any]] = {}
CHAPTER = Chapter("90_synthesis", "Synthesis: what the five reports claimed, and what this build found", Params,
                  OVERRIDES, after=EVERY_EARLIER)  # nothing to download: it reads the other chapters' records


class Missing(LookupError):
    """A record a claim needs is absent in this profile."""


@dataclass(frozen=True)
class Figure:
    """A number with its 95 % interval and the records it came from."""

    value: float
    lo: float
    hi: float
    source: str

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@dataclass(frozen=True)
class Outcome:
    """Our figure, the verdict and the reason the rule gave it."""

    ours: str
    verdict: Verdict
    why: str
    figure: Figure | None = None  # the number plotted beside the report's, when there is one
    pair: tuple[Figure, Figure] | None = None  # a direction claim's (better, worse) as the report ordered them


class Records:
    """Read access to one profile's records; a missing one raises ``Missing`` naming it."""

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def get(self, chapter: str, name: str) -> dict[str, Any]:
        try:
            return read_result(self.profile, chapter, name)
        except FileNotFoundError:
            raise Missing(f"{chapter}/{name}") from None

    def table(self, chapter: str, name: str) -> pd.DataFrame:
        """A per-item table a chapter wrote beside its records."""
        try:
            return read_table(chapter, name, profile=self.profile)
        except FileNotFoundError:
            raise Missing(f"{chapter}/{name} (table)") from None

    def records(self, chapter: str) -> list[dict[str, Any]]:
        return read_results(self.profile, chapter)

    def first(self, chapter: str, names: list[str]) -> dict[str, Any]:
        for n in names:
            try:
                return self.get(chapter, n)
            except Missing:
                continue
        raise Missing(f"{chapter}/{' or '.join(names)}")


# ------------------------------------------------------------------------------------------------ intervals
def proportion(rec: dict[str, Any], metric: str, n_key: str) -> Figure:
    """A proportion with its Wilson interval on the record's count (or the record's own bootstrap interval)."""
    m = rec["metrics"]
    p = float(m[metric])
    if f"{metric}_lo" in m and f"{metric}_hi" in m:
        lo, hi = float(m[f"{metric}_lo"]), float(m[f"{metric}_hi"])
    else:
        lo, hi = wilson(p, int(m[n_key]))
    return Figure(p, lo, hi, f"{rec['study']}/{rec['name']}")


def folds(rec: dict[str, Any]) -> Figure:
    """LFW accuracy: the mean over test folds and its normal interval (mean +- 1.96 sd / sqrt(folds))."""
    values = rec["extra"].get("fold_accuracy") or [rec["metrics"]["accuracy"]]
    m, lo, hi = mean_interval(values)
    return Figure(m, lo, hi, f"{rec['study']}/{rec['name']}")


def seeds(recs: list[dict[str, Any]], metric: str = "accuracy") -> Figure:
    """A row trained with several seeds: the mean and the seeds' range (the chapter's own rule)."""
    v = [float(r["metrics"][metric]) for r in recs]
    return Figure(float(np.mean(v)), min(v), max(v), ", ".join(f"{r['study']}/{r['name']}" for r in recs))


# ------------------------------------------------------------------------------------------------ verdicts
def not_comparable_because(rec: dict[str, Any], report_dataset: str | None = None,
                           report_training: str | None = None) -> str | None:
    """Why a record's number is not the report's quantity: a substitute model, another dataset or other training
    data; None when it is the same quantity."""
    if rec.get("substitute_for"):
        ours = (rec.get("extra") or {}).get("embedder") or rec["model"]
        return f"our {ours} stands in for {rec['substitute_for']}"
    if report_dataset and rec.get("dataset") != report_dataset:
        return f"measured on {rec.get('dataset')}, the report on {report_dataset}"
    if report_training:
        return f"trained on other data than the report's ({report_training})"
    return None


def value_outcome(reported: float, fig: Figure, why_not: str | None) -> Outcome:
    if why_not:
        return Outcome(fig.text(), "not comparable", why_not, fig)
    inside = fig.lo <= reported <= fig.hi
    return Outcome(fig.text(), "reproduced" if inside else "not reproduced",
                   f"the report's {reported:g} is {'inside' if inside else 'outside'} our interval", fig)


def direction_outcome(better: Figure, worse: Figure, better_name: str, worse_name: str) -> Outcome:
    """The report says ``better`` > ``worse``."""
    ours = f"{better_name} {better.text()} vs {worse_name} {worse.text()}"
    pair = (better, worse)
    if better.lo > worse.hi:
        return Outcome(ours, "reproduced", f"{better_name} above {worse_name}, intervals apart", pair=pair)
    if worse.lo > better.hi:
        return Outcome(ours, "not reproduced", f"reversed: {worse_name} above {better_name}, intervals apart",
                       pair=pair)
    return Outcome(ours, "not reproduced", "intervals overlap: no difference found at this scale", pair=pair)


# ------------------------------------------------------------------------------------------------ claims
@dataclass(frozen=True)
class Claim:
    """One quantitative claim of a report, as the report stated it, and how our records test it."""

    key: str
    report: str
    statement: str
    reported: str
    reported_value: float | None  # the number the figure plots beside ours (None for a direction claim)
    protocol: str
    evaluate: Callable[[Records], Outcome]


def _head_embedders(r: Records) -> list[str]:
    """The embedders the profile's heads ran on, in its order (the report's own model first where it ran)."""
    return [fp.embedder for fp in heads.CHAPTER.params(r.profile).embedders]


def _heads(kind: str, metric: str, n_key: str = "samples") -> Callable[[Records], Outcome]:
    def run(r: Records) -> Outcome:
        rec = r.first(heads.CHAPTER.name, [heads.head_record(kind, e) for e in _head_embedders(r)])
        return value_outcome(heads.REPORTED[kind][metric], proportion(rec, metric, n_key),
                             not_comparable_because(rec, heads.REPORT_DATASET))
    return run


def _multi_lowers_identity(r: Records) -> Outcome:
    outs = []
    for emb in _head_embedders(r):
        try:
            single = proportion(r.get(heads.CHAPTER.name, heads.head_record("single", emb)), "accuracy", "samples")
            multi = proportion(r.get(heads.CHAPTER.name, heads.head_record("multi", emb)), "accuracy", "samples")
        except Missing:
            continue
        outs.append((emb, direction_outcome(single, multi, f"single ({emb})", f"multi ({emb})")))
    if not outs:
        raise Missing(f"{heads.CHAPTER.name}/single-head_* and multi-head_*")
    verdict = "reproduced" if all(o.verdict == "reproduced" for _, o in outs) else "not reproduced"
    return Outcome("; ".join(o.ours for _, o in outs), verdict, "; ".join(f"{e}: {o.why}" for e, o in outs),
                   pair=outs[0][1].pair)


def _bootstrapped(values: Callable[..., dict[str, float]], key: str, groups: Any, *arrays: Any,
                  source: str) -> Figure:
    """A metric of a chapter's per-item table with a percentile interval over ``groups`` (200 draws, seeded)."""
    ci = bootstrap_by_group(values, groups, *arrays, n_boot=200, seed=0)
    if key not in ci:
        raise Missing(f"{source}: too few items for an interval of {key}")
    return Figure(float(values(*arrays)[key]), *ci[key], source)


def _macro_f1(truth: Any, pred: Any) -> dict[str, float]:
    return {"macro_f1": float(classification_metrics(truth, pred)["macro_f1"])}


def _head_f1(kind: str, truth: str, pred: str, groups: str, reported: float) -> Callable[[Records], Outcome]:
    """A head's macro F1 on its test split, from its test predictions, resampled by ``groups`` (images for
    identity, people for sex)."""
    def run(r: Records) -> Outcome:
        rec = r.first(heads.CHAPTER.name, [heads.head_record(kind, e) for e in _head_embedders(r)])
        t = r.table(heads.CHAPTER.name, f"{rec['name']}_test_predictions")
        fig = _bootstrapped(_macro_f1, "macro_f1", t[groups].astype(str).to_numpy(), t[truth].astype(str).to_numpy(),
                            t[pred].astype(str).to_numpy(), source=f"{heads.CHAPTER.name}/{rec['name']}")
        return value_outcome(reported, fig, not_comparable_because(rec, heads.REPORT_DATASET))
    return run


def _yolo_record(r: Records) -> dict[str, Any] | None:
    """The person step's record; None where the profile does not run it."""
    if not heads.CHAPTER.params(r.profile).yolo_images:
        return None
    recs = [x for x in r.records(heads.CHAPTER.name) if x["name"].startswith("yolo-person_")]
    if not recs:
        raise Missing(f"{heads.CHAPTER.name}/yolo-person_*")
    return recs[0]


def _no_person_step(r: Records) -> Outcome:
    return Outcome("", "not run here", f"profile {r.profile} does not run the person step: YOLO's COCO weights are "
                                       "not on these machines (the full profile runs it)")


def _yolo_found(r: Records) -> Outcome:
    rec = _yolo_record(r)
    if rec is None:
        return _no_person_step(r)
    return value_outcome(heads.REPORTED["yolo_person"]["found_share"], proportion(rec, "found_share", "images"),
                         not_comparable_because(rec, heads.REPORT_DATASET, f"our {rec['model']}"))


def _yolo_confidence(r: Records) -> Outcome:
    rec = _yolo_record(r)
    if rec is None:
        return _no_person_step(r)
    t = r.table(heads.CHAPTER.name, f"{rec['name']}_confidence")
    conf = t.confidence.astype(float).to_numpy()
    conf = conf[np.isfinite(conf)]
    if len(conf) < 2:
        raise Missing(f"{heads.CHAPTER.name}/{rec['name']}: fewer than two person boxes")
    m, lo, hi = mean_interval(conf)
    fig = Figure(m, lo, hi, f"{heads.CHAPTER.name}/{rec['name']}")
    out = value_outcome(heads.REPORTED["yolo_person"]["confidence_mean"], fig,
                        not_comparable_because(rec, heads.REPORT_DATASET, f"our {rec['model']}"))
    return Outcome(f"{out.ours}, sd {conf.std():.3f}", out.verdict, out.why, fig)


def _untranscribed(what: str, ours: Callable[[Records], str]) -> Callable[[Records], Outcome]:
    """A claim with published figures this book has not transcribed: ours shown, judged *not comparable*."""
    def run(r: Records) -> Outcome:
        return Outcome(ours(r), "not comparable", f"{what} are not transcribed in this book (the report's text is "
                                                  "not on these machines); ours are beside the claim")
    return run


def _tpr_at_far(r: Records) -> str:
    rows = []
    for spec in metric_learning.REPORT_001:
        m = r.get(metric_learning.CHAPTER.name, f"{spec.name}_lfw-folds6-10")["metrics"]
        rows.append(f"{spec.name} " + " / ".join(f"{m[f'tpr_at_far_{far}']:.3f}" for far in ("1e-1", "1e-2", "1e-3")))
    return "TPR at FAR 0.1 / 0.01 / 0.001: " + "; ".join(rows)


def _detection_figures(r: Records) -> str:
    """The report's test where the profile ran it (full CelebA's boxes), else the detectors on 300-W."""
    recs = [x for x in r.records("01_detection") if x["name"].endswith("_celeba-boxes")]
    where = f"on {recs[0]['metrics']['images']:,} CelebA images" if recs else "on 300-W (not the report's CelebA)"
    recs = recs or [x for x in r.records("01_detection") if x["name"].endswith("_300w")]
    if not recs:
        raise Missing("01_detection/*_celeba-boxes or *_300w")

    def figures(m: dict[str, Any]) -> str:
        shown = (("precision", "precision"), ("recall", "recall"), ("mean_iou_matched", "mean IoU"))
        return ", ".join(f"{label} {m[k]:.3f}" for k, label in shown if m.get(k) is not None)
    # the backend's label names the record (two backends may share a model, e.g. RetinaFace with and without its
    # second landmark pass)
    return where + ": " + "; ".join(f"{x['name'].rsplit('_', 1)[0]}: {figures(x['metrics'])}" for x in recs)


def _top5_top10(r: Records) -> str:
    emb = retrieval.REPORT_MODELS["Facenet"][0]
    m = r.get(retrieval.CHAPTER.name, f"report002_{emb}")["metrics"]
    return f"{emb}: top-1 {m['rank1']:.3f}, top-5 {m['top5']:.3f}, top-10 {m.get('top10', float('nan')):.3f}"


def _extraction(r: Records) -> Outcome:
    rec = r.first(heads.CHAPTER.name, ["extraction_retinaface+dlib-chip150"])
    m = rec["metrics"]
    kept = proportion(rec, "accepted_share", "images")
    images = "" if rec["dataset"] == heads.REPORT_DATASET else f"other images ({rec['dataset']}, not Kaggle Pins) and "
    return Outcome(f"{m['seconds_per_image_mean']:.3f} s per image (mean), {kept.text()} kept",
                   "not comparable", f"{images}other hardware")


def _ranking(r: Records) -> Outcome:
    figs = {}
    for spec in metric_learning.REPORT_001:
        figs[spec.name] = folds(r.get(metric_learning.CHAPTER.name, f"{spec.name}_lfw-folds6-10"))
    names = [s.name for s in metric_learning.REPORT_001]  # the report's order, best first
    pairs = [direction_outcome(figs[a], figs[b], a, b) for a, b in zip(names, names[1:], strict=False)]
    verdict = "reproduced" if all(p.verdict == "reproduced" for p in pairs) else "not reproduced"
    ours = ", ".join(f"{n} {figs[n].text()}" for n in names)
    return Outcome(ours, verdict, "; ".join(p.why for p in pairs), pair=(figs[names[0]], figs[names[-1]]))


def _arcface_value(r: Records) -> Outcome:
    spec = metric_learning.REPORT_001[0]
    rec = r.get(metric_learning.CHAPTER.name, f"{spec.name}_lfw-folds6-10")
    training = rec["extra"].get("params", "")
    where = "CASIA-WebFace" if "casia" in training else "LFW people outside the test folds"
    return value_outcome(spec.reported_accuracy, folds(rec),
                         not_comparable_because(rec, "lfw", f"ours: {where}, a budget sized for this machine"))


def _report002_best(r: Records) -> Outcome:
    recs = [r.get(retrieval.CHAPTER.name, f"report002_{e}") for e in retrieval.CHAPTER.params(r.profile).embedders
            if _has(r, retrieval.CHAPTER.name, f"report002_{e}")]
    if not recs:
        raise Missing(f"{retrieval.CHAPTER.name}/report002_*")
    ours_for = retrieval.REPORT_MODELS[REPORT_002_BEST["model"]][0]  # the book's model for the report's best
    same = [x for x in recs if x["model"] == ours_for]
    best = same[0] if same else max(recs, key=lambda x: x["metrics"]["rank1"])
    fig = proportion(best, "rank1", "queries")
    model = (f"{best['model']} ({retrieval.REPORT_MODELS[REPORT_002_BEST['model']][1]})" if same else
             f"our best embedder {best['model']}, standing in for DeepFace's {REPORT_002_BEST['model']}")
    why = f"{model}; measured on LFW people, not on the report's own gallery and queries"
    return value_outcome(REPORT_002_BEST["top-1"], fig, why)


def _normalisation(r: Records) -> Outcome:
    recs = {x["name"].rsplit("_", 1)[1]: x for x in r.records(retrieval.CHAPTER.name)
            if x["name"].startswith("normalisation_")}
    if "own" not in recs or len(recs) < 2:
        raise Missing(f"{retrieval.CHAPTER.name}/normalisation_*")
    own = proportion(recs["own"], "rank1", "queries")
    worst_key = min((k for k in recs if k != "own"), key=lambda k: recs[k]["metrics"]["rank1"])
    worst = proportion(recs[worst_key], "rank1", "queries")
    model = recs["own"]["model"]
    ours = f"{model}: own {own.text()}, worst ({worst_key}) {worst.text()}"
    if worst.hi < own.lo and worst.value <= own.value / 2:
        return Outcome(ours, "reproduced", "the wrong normalisation's top-1 is below half of the right one's, "
                                           "intervals apart", pair=(own, worst))
    return Outcome(ours, "not reproduced", "no collapse: the worst normalisation keeps over half the top-1",
                   pair=(own, worst))


#: Report 002's best crop pairing (its Table 1): queries cut by YOLOv8-face, the gallery by MTCNN
REPORT_002_PAIRING = ("yolov8-face", "mtcnn")


def _grid_cell(row: pd.Series) -> Figure:
    lo, hi = wilson(float(row.rank1), int(row.queries))
    return Figure(float(row.rank1), lo, hi, f"{retrieval.CHAPTER.name}/report002_grid "
                  f"({row['query detector']} queries, {row['gallery detector']} gallery)")


def _best_pairing(r: Records) -> Outcome:
    """Report 002: YOLOv8-face queries against an MTCNN gallery is the best pairing, for its best model (Facenet)
    in DeepFace's default cosine metric; judged against the best other pairing of our grid."""
    grid = r.table(retrieval.CHAPTER.name, "report002_grid")
    emb = retrieval.REPORT_MODELS["Facenet"][0]
    sel = grid[(grid.embedder == emb) & (grid.metric == "cosine")]
    qd, gd = REPORT_002_PAIRING
    mine = sel[(sel["query detector"] == qd) & (sel["gallery detector"] == gd)]
    if mine.empty:
        raise Missing(f"{retrieval.CHAPTER.name}/report002_grid: {emb}, {qd} queries x {gd} gallery")
    others = sel.drop(mine.index)
    best = others.loc[others.rank1.idxmax()]
    out = direction_outcome(_grid_cell(mine.iloc[0]), _grid_cell(best), f"{qd} x {gd}",
                            f"best other ({best['query detector']} x {best['gallery detector']})")
    return Outcome(f"{emb}, cosine: {out.ours}", out.verdict, out.why, pair=out.pair)


def _facenet_beats_facenet512(r: Records) -> Outcome:
    """Report 002: Facenet (128-d) retrieves better than Facenet512, each through the book's model for it."""
    names = {k: retrieval.REPORT_MODELS[k][0] for k in ("Facenet", "Facenet512")}
    recs = {k: r.get(retrieval.CHAPTER.name, f"report002_{v}") for k, v in names.items()}
    return direction_outcome(proportion(recs["Facenet"], "rank1", "queries"),
                             proportion(recs["Facenet512"], "rank1", "queries"),
                             f"Facenet ({names['Facenet']})", f"Facenet512 ({names['Facenet512']})")


def _arcface_stable(r: Records) -> Outcome:
    """Report 002: ArcFace keeps its top-1 under every normalisation; run where the profile's normalisation study
    runs on the book's model for ArcFace."""
    emb = retrieval.REPORT_MODELS["ArcFace"][0]
    p = retrieval.CHAPTER.params(r.profile)
    if p.normalisation_embedder != emb:
        return Outcome("", "not run here", f"the normalisation study runs on {p.normalisation_embedder} only "
                                           f"(the report's collapse), not on {emb}, the book's ArcFace")
    raise Missing("the ArcFace normalisation rule")  # pragma: no cover (no profile runs it yet)


def _gender_value(name_of: Callable[[Any], str | None], reported_key: str,
                  metric: str) -> Callable[[Records], Outcome]:
    """A report-003 figure against the record ``name_of(params)`` names in the judged profile."""
    def run(r: Records) -> Outcome:
        name = name_of(gender_keypoints.CHAPTER.params(r.profile))
        if name is None:
            raise Missing(f"{gender_keypoints.CHAPTER.name}: no such model in profile {r.profile}")
        rec = r.get(gender_keypoints.CHAPTER.name, name)
        if metric not in rec["metrics"]:  # an R-CNN that found fewer than two test faces has no figures
            raise Missing(f"{gender_keypoints.CHAPTER.name}/{name}: no {metric} (fewer than two test faces found)")
        return value_outcome(gender_keypoints.REPORTED_003[reported_key][metric],
                             proportion(rec, metric, "samples"), not_comparable_because(
                                 rec, gender_keypoints.CHAPTER.params(r.profile).celeba))
    return run


def _rcnn_name(face_trunk: bool) -> Callable[[Any], str | None]:
    def name_of(p: Any) -> str | None:
        b = gender_keypoints.rcnn_backbone(p, face_trunk)
        return None if b is None else gender_keypoints.rcnn_record(b)
    return name_of


def _nme(r: Records, backbone: str) -> Figure:
    """One R-CNN's keypoint error on the LFW test faces it found (inter-ocular NME against the teacher's points):
    the mean and its normal interval over faces."""
    name = gender_keypoints.rcnn_record(backbone)
    t = r.table(gender_keypoints.CHAPTER.name, name)
    values = t.loc[t.found.astype(bool), "nme"].astype(float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        raise Missing(f"{gender_keypoints.CHAPTER.name}/{name}: fewer than two faces found")
    m, lo, hi = mean_interval(values.to_numpy())
    return Figure(m, lo, hi, f"{gender_keypoints.CHAPTER.name}/{name}")


def _plain_rcnn_places_keypoints_better(r: Records) -> Outcome:
    """Report 003: the ResNet-50 R-CNN places keypoints better than the FaceNet-trunk one (lower NME)."""
    p = gender_keypoints.CHAPTER.params(r.profile)
    plain, face = (gender_keypoints.rcnn_backbone(p, f) for f in (False, True))
    if plain is None or face is None:
        raise Missing(f"{gender_keypoints.CHAPTER.name}: both R-CNNs in profile {r.profile}")
    a, b = _nme(r, plain), _nme(r, face)
    # lower is better: the report's order holds when the face trunk's NME lies above the plain one's
    out = direction_outcome(b, a, f"NME of the {face} trunk", f"NME of the {plain} trunk")
    ours = f"NME {plain} {a.text()} vs {face} {b.text()}"
    verdict, why = out.verdict, out.why
    if verdict == "reproduced":
        why = f"{plain}'s keypoints closer to the teacher's, intervals apart"
    elif why.startswith("reversed"):
        why = f"reversed: {face}'s keypoints closer, intervals apart"
    return Outcome(ours, verdict, why)  # no pair: the direction figure plots accuracies, where higher is better


def _ablation(variant: str) -> Callable[[Records], Outcome]:
    def run(r: Records) -> Outcome:
        recipe = [x for x in r.records(arcface_resnet.CHAPTER.name) if (x.get("extra") or {}).get("variant")
                  == "report recipe"]
        other = [x for x in r.records(arcface_resnet.CHAPTER.name) if (x.get("extra") or {}).get("variant") == variant]
        if not recipe or not other:
            raise Missing(f"{arcface_resnet.CHAPTER.name}: rows 'report recipe' and {variant!r}")
        out = direction_outcome(seeds(recipe), seeds(other), "recipe", variant)
        if arcface_resnet.same_training(recipe, other):
            return Outcome(out.ours + f" (seed range, {len(recipe)} seeds)", "not run here",
                           f"'{variant}' trained exactly as the recipe in profile {r.profile} (same loss, validation "
                           "score, margin and learning rate at every epoch): its rule never changed the training, "
                           "so the comparison did not happen")
        return Outcome(out.ours + f" (seed range, {len(recipe)} seeds)", out.verdict, out.why, pair=out.pair)
    return run


def _threshold(r: Records) -> Outcome:
    recs = [x for x in r.records(arcface_resnet.CHAPTER.name)
            if (x.get("extra") or {}).get("variant") == "report recipe" and "calibrated_threshold" in x["metrics"]]
    if not recs:
        raise Missing(f"{arcface_resnet.CHAPTER.name}: report recipe with a calibrated threshold")
    fig = seeds(recs, "calibrated_threshold")
    return value_outcome(arcface_resnet.REPORT_THRESHOLD, fig, not_comparable_because(recs[0]))


def _never_run(why: str) -> Callable[[Records], Outcome]:
    """A claim no profile of this book can test (its data or weights cannot be obtained here): said, with why."""
    return lambda r: Outcome("", "not run here", why)


def _has(r: Records, chapter: str, name: str) -> bool:
    try:
        r.get(chapter, name)
        return True
    except Missing:
        return False


#: the reports' figures, read from the constants the chapters show them from (one place for each number)
REPORT_002_BEST = retrieval.REPORTED_002["rows"][0]
_SFACE = {r["normalisation"]: r["top-1"] for r in retrieval.REPORTED_002["rows"] if r["model"] == "SFace"}
_H, _G = heads.REPORTED, gender_keypoints.REPORTED_003
_R001 = " > ".join(f"{s.reported_accuracy:g}" for s in metric_learning.REPORT_001)


def _by_profile(chapter: Chapter, describe: Callable[[Any], str], profiles: tuple[str, ...] = ("cpu", "full")) -> str:
    """A protocol difference written from each profile's parameters ("cpu: ...; full: ...")."""
    return "; ".join(f"{prof}: {describe(chapter.params(prof))}" for prof in profiles)


def _heads_data(p: Any) -> str:
    return (f"{', '.join(fp.embedder for fp in p.embedders)} features on "
            + (f"{p.dataset}" if p.dataset else f"LFW people with >= {p.min_images} images"))


def _rcnn_trunk(face_trunk: bool) -> Callable[[Any], str]:
    def describe(p: Any) -> str:
        b = gender_keypoints.rcnn_backbone(p, face_trunk)
        return "not trained" if b is None else f"{b} trunk at min_size {p.rcnn_min_size}"
    return describe


_T = {  # each claim's figure as the report stated it
    "single": f"identity accuracy {_H['single']['accuracy']:g}",
    "multi": f"{_H['multi']['accuracy']:g} (identity + sex) vs {_H['single']['accuracy']:g} (identity only)",
    "sex": f"sex accuracy {_H['multi']['sex_accuracy']:g}",
    "extraction": (f"{_H['extraction']['seconds_per_image']:g} s per image, "
                   f"{_H['extraction']['accepted_share']:.1%} kept"),
    "arcface": f"accuracy {metric_learning.REPORT_001[0].reported_accuracy:g}",
    "best002": f"{REPORT_002_BEST['model']} top-1 {REPORT_002_BEST['top-1']:g}",
    "sface": f"SFace top-1 {_SFACE['its own']:g} -> {_SFACE['a wrong one']:g}",
    "facenet": f"accuracy {_G['facenet-gender']['accuracy']:g} (kappa {_G['facenet-gender']['cohen_kappa']:g})",
    "rcnn": f"accuracy {_G['keypoint-rcnn']['accuracy']:g}, ROC AUC {_G['keypoint-rcnn']['roc_auc']:g}",
    "rcnn_facenet": (f"accuracy {_G['keypoint-rcnn-facenet']['accuracy']:g}, "
                     f"ROC AUC {_G['keypoint-rcnn-facenet']['roc_auc']:g}"),
    "rcnn_keypoints": "the ResNet-50 R-CNN's keypoints are better placed (the report's conclusion)",
    "threshold": f"threshold {arcface_resnet.REPORT_THRESHOLD:g}",
    "macro": f"macro F1 {_H['single']['macro_f1']:g} (P {_H['single']['macro_precision']:g}, "
             f"R {_H['single']['macro_recall']:g})",
    "sex_f1": f"sex F1 {_H['multi']['sex_f1']:g}",
    "yolo": f"a person box on {_H['yolo_person']['found_share']:.2%} of the photos",
    "yolo_conf": (f"confidence {_H['yolo_person']['confidence_mean']:.1%} +- "
                  f"{_H['yolo_person']['confidence_std']:.1%} (Fig. 1)"),
    "kappa": f"Cohen's kappa {_G['facenet-gender']['cohen_kappa']:g}",
    "rcnn_auc": f"ROC AUC {_G['keypoint-rcnn']['roc_auc']:g}",
    "rcnn_facenet_auc": f"ROC AUC {_G['keypoint-rcnn-facenet']['roc_auc']:g}",
}

CLAIMS: tuple[Claim, ...] = (
    Claim("000-single-head", "000", "A cosine-softmax head on frozen face features identifies 105 people",
          _T["single"], heads.REPORTED["single"]["accuracy"],
          "the report: VGG-M-Face-BN on Kaggle Pins; ours: " + _by_profile(heads.CHAPTER, _heads_data),
          _heads("single", "accuracy")),
    Claim("000-multi-head", "000", "Adding a sex head to the identity head lowers identity accuracy",
          _T["multi"], None,
          "same substitutes and split for both heads", _multi_lowers_identity),
    Claim("000-sex-head", "000", "The multi-task head tells sex apart", _T["sex"],
          heads.REPORTED["multi"]["sex_accuracy"], "sex labels from LFW's gender lists or the Pins folder "
          "names; " + _by_profile(heads.CHAPTER, _heads_data),
          _heads("multi", "sex_accuracy")),
    Claim("000-single-head-macro-f1", "000", "The identity head's macro F1 over the 105 people", _T["macro"],
          heads.REPORTED["single"]["macro_f1"], "macro F1 over the people of our test split, 95 % interval over "
          "200 resamples of its images; " + _by_profile(heads.CHAPTER, _heads_data),
          _head_f1("single", "name", "pred_name", "path", heads.REPORTED["single"]["macro_f1"])),
    Claim("000-sex-f1", "000", "The multi-task head's sex F1", _T["sex_f1"], heads.REPORTED["multi"]["sex_f1"],
          "macro F1 over the two sexes on our test split, 95 % interval over 200 resamples of its people; "
          + _by_profile(heads.CHAPTER, _heads_data),
          _head_f1("multi", "sex", "pred_sex", "name", heads.REPORTED["multi"]["sex_f1"])),
    Claim("000-yolo-person", "000", "YOLO finds a person in nearly every photo (the person step's reliability)",
          _T["yolo"], heads.REPORTED["yolo_person"]["found_share"], "the first photos of the closed set, COCO class 0; "
          + _by_profile(heads.CHAPTER, lambda p: f"{p.yolo_images} photos" if p.yolo_images else "not run"),
          _yolo_found),
    Claim("000-yolo-confidence", "000", "YOLO's person boxes come with a high confidence", _T["yolo_conf"],
          heads.REPORTED["yolo_person"]["confidence_mean"], "the best person box per photo, mean with its normal "
          "interval; the same photos as the reliability claim", _yolo_confidence),
    Claim("000-extraction", "000", "RetinaFace + dlib alignment with sanity checks is slow and keeps few faces",
          _T["extraction"], None, "this machine's CPU (the report: its hardware); images: "
          + _by_profile(heads.CHAPTER, lambda p: p.dataset or "LFW's closed-set photos"),
          _extraction),
    Claim("001-arcface", "001", "MobileNetV3 + ArcFace verifies LFW pairs", _T["arcface"],
          metric_learning.REPORT_001[0].reported_accuracy,
          "trained on LFW people outside the test folds (cpu) or CASIA-WebFace (full); tested on folds 6-10",
          _arcface_value),
    Claim("001-ranking", "001", "ArcFace > random-triplet InceptionV2 > mined-triplet VGG16 on LFW",
          _R001, None, "the same three models trained here on the same data and budget",
          _ranking),
    Claim("001-tpr-at-far", "001", "The three models' TPR at FAR 0.1, 0.01 and 0.001 on LFW",
          "TPR at FAR 0.1 / 0.01 / 0.001 per model (the report's verification table)", None,
          "the same three models trained here; tested on LFW folds 6-10",
          _untranscribed("report 001's TPR at FAR figures", _tpr_at_far)),
    Claim("001-mining-convergence", "001", "Online triplet mining speeds convergence",
          "mining converges faster (qualitative)", None,
          "needs two runs that differ only in mining; the book's mined model (VGG16) and its random-triplet one "
          "(InceptionV2) differ in trunk, input and embedding too",
          _never_run("no run isolates mining: the mined (VGG16) and random-triplet (InceptionV2) models differ in "
                     "trunk, input size and embedding as well, so their training curves cannot credit mining")),
    Claim("001-detection", "001", "Face detectors scored by precision, recall and IoU on 1,000 CelebA images",
          "precision, recall and mean IoU per detector (the report's detection table)", None,
          "the detection chapter's detectors at IoU 0.5: " + _by_profile(
              detection.CHAPTER, lambda p: f"{p.celeba_boxes:,} full-CelebA images" if p.celeba_boxes else
              "300-W only (the full CelebA's boxes are not here)"),
          _untranscribed("report 001's detector figures", _detection_figures)),
    Claim("001-landmarks", "001", "ADNet and STAR locate facial landmarks on WFLW",
          "NME on WFLW (the report's landmark table)", None,
          "not run in any profile: WFLW and the ADNet / STAR weights cannot be obtained on these machines; the "
          "detection chapter scores its detectors' five points on 300-W instead",
          _never_run("WFLW and the ADNet / STAR weights are not on these machines, in any profile")),
    Claim("002-best", "002", "The best embedder finds the right person first", _T["best002"], REPORT_002_BEST["top-1"],
          "the book's model for the report's Facenet (a Keras FaceNet-128, checkpoint unnamed); a gallery of "
          "3,000 LFW images, 107 queries", _report002_best),
    Claim("002-normalisation", "002", "A wrong pixel normalisation collapses retrieval",
          _T["sface"], None, "the chapter's normalisation embedder (SFace, the model the report saw collapse, in "
          "the cpu and full profiles): its own scaling vs each other one",
          _normalisation),
    Claim("002-pairing", "002", "Queries cut by YOLOv8-face against a gallery cut by MTCNN retrieve best",
          "YOLOv8 queries x MTCNN gallery: the best pairing (Table 1)", None,
          "the book's model for the report's Facenet (" + retrieval.REPORT_MODELS["Facenet"][0] + "), cosine, our "
          "grid of " + " / ".join(retrieval.GRID_DETECTORS) + " crops, against the best other pairing",
          _best_pairing),
    Claim("002-facenet-vs-512", "002", "Facenet (128-d) retrieves better than Facenet512",
          "Facenet above Facenet512 (Table 1)", None,
          f"{retrieval.REPORT_MODELS['Facenet'][0]} for Facenet and {retrieval.REPORT_MODELS['Facenet512'][0]} "
          "(a stand-in) for Facenet512, each on its main face path; report 002's protocol on LFW",
          _facenet_beats_facenet512),
    Claim("002-top5-top10", "002", "Top-5 and top-10 of every model and normalisation (Table 1)",
          "top-1 / top-5 / top-10 for seven rows (Table 1)", None,
          "the book's model for the report's Facenet on report 002's protocol on LFW",
          _untranscribed("Table 1's top-5 and top-10 (and four of its seven rows)", _top5_top10)),
    Claim("002-arcface-stable", "002", "ArcFace keeps its accuracy under every pixel normalisation",
          "ArcFace stable across normalisations", None,
          "the normalisation study's embedder per profile: " + _by_profile(retrieval.CHAPTER,
                                                                            lambda p: p.normalisation_embedder),
          _arcface_stable),
    Claim("003-facenet-gender", "003", "A FaceNet-based classifier predicts gender on CelebA",
          _T["facenet"], gender_keypoints.REPORTED_003["facenet-gender"]["accuracy"],
          "fine-tuned on LFW people, tested on the CelebA subset (the report: 50 test images of an image split); "
          + _by_profile(gender_keypoints.CHAPTER, lambda p: f"{p.finetune} for {p.finetune_epochs} epochs"),
          _gender_value(lambda p: gender_keypoints.finetune_record(p, "celeba"), "facenet-gender", "accuracy")),
    Claim("003-facenet-kappa", "003", "The FaceNet classifier's agreement beyond chance", _T["kappa"],
          gender_keypoints.REPORTED_003["facenet-gender"]["cohen_kappa"],
          "the same classifier and test set as the accuracy claim; interval over people",
          _gender_value(lambda p: gender_keypoints.finetune_record(p, "celeba"), "facenet-gender", "cohen_kappa")),
    Claim("003-rcnn-gender", "003", "Keypoint R-CNN with a gender head predicts gender",
          _T["rcnn"], gender_keypoints.REPORTED_003["keypoint-rcnn"]["accuracy"],
          "trained from scratch on LFW people with teacher keypoints; "
          + _by_profile(gender_keypoints.CHAPTER, _rcnn_trunk(False)),
          _gender_value(_rcnn_name(False), "keypoint-rcnn", "accuracy")),
    Claim("003-rcnn-facenet", "003", "Keypoint R-CNN on a face-recognition trunk predicts gender",
          _T["rcnn_facenet"], gender_keypoints.REPORTED_003["keypoint-rcnn-facenet"]["accuracy"],
          "LFW people with teacher keypoints; " + _by_profile(gender_keypoints.CHAPTER, _rcnn_trunk(True)),
          _gender_value(_rcnn_name(True), "keypoint-rcnn-facenet", "accuracy")),
    Claim("003-rcnn-auc", "003", "The plain Keypoint R-CNN ranks gender well", _T["rcnn_auc"],
          gender_keypoints.REPORTED_003["keypoint-rcnn"]["roc_auc"],
          "P(man) on the LFW test faces it found; interval over people; "
          + _by_profile(gender_keypoints.CHAPTER, _rcnn_trunk(False)),
          _gender_value(_rcnn_name(False), "keypoint-rcnn", "roc_auc")),
    Claim("003-rcnn-facenet-auc", "003", "The FaceNet-trunk Keypoint R-CNN ranks gender well",
          _T["rcnn_facenet_auc"], gender_keypoints.REPORTED_003["keypoint-rcnn-facenet"]["roc_auc"],
          "P(man) on the LFW test faces it found; interval over people; "
          + _by_profile(gender_keypoints.CHAPTER, _rcnn_trunk(True)),
          _gender_value(_rcnn_name(True), "keypoint-rcnn-facenet", "roc_auc")),
    Claim("003-rcnn-keypoints", "003", "The ResNet-50 Keypoint R-CNN places keypoints better than the FaceNet one",
          _T["rcnn_keypoints"], None, "mean inter-ocular NME against the teacher's five points on the LFW test "
          "faces each found; " + _by_profile(gender_keypoints.CHAPTER, lambda p: " vs ".join(
              f"{b}" for b in (gender_keypoints.rcnn_backbone(p, False), gender_keypoints.rcnn_backbone(p, True)))),
          _plain_rcnn_places_keypoints_better),
    Claim("004-warm-up", "004", "Warming the ArcFace margin up (0 -> 0.35) trains better than a fixed margin",
          "no figure (qualitative)", None, "ResNet18 on LFW people (cpu), 2 seeds per row", _ablation(
              "fixed margin 0.35")),
    Claim("004-delayed-decay", "004", "Delaying the LR decay until the margin is reached trains better",
          "no figure (qualitative)", None, "ResNet18 on LFW people (cpu), 2 seeds per row", _ablation(
              "no delayed decay")),
    Claim("004-threshold", "004", "Cosine similarity 0.45 separates same from different people",
          _T["threshold"], arcface_resnet.REPORT_THRESHOLD,
          "our recipe model's threshold at the best k-fold accuracy on LFW folds 6-10", _threshold),
)


def claims_sentence() -> str:
    """How many claims the synthesis judges and where each chapter lists its report's (``Chapter.claims``)."""
    from facekit.studies import chapters

    parts = [f"{len(ch.claims)} in `{ch.name}`" for ch in chapters().values() if ch.claims]
    return (f"**{len(CLAIMS)} claims**, each listed beside its chapter's reported figures ({', '.join(parts)}); "
            "a test checks that the lists and the rows below are the same set.")


def evaluate(profile: str) -> pd.DataFrame:
    """Every claim evaluated on ``profile``'s records: our figure, the verdict and its reason."""
    r = Records(profile)
    rows = []
    for c in CLAIMS:
        try:
            out = c.evaluate(r)
        except Missing as exc:
            out = Outcome("", "not run here", f"record absent in profile {profile}: {exc}")
        except (KeyError, ValueError) as exc:  # a record written by an older chapter lacks a field
            out = Outcome("", "not run here", f"record incomplete in profile {profile}: {exc!r}")
        fig = out.figure
        rows.append({"key": c.key, "report": c.report, "claim": c.statement, "reported": c.reported,
                     "reported_value": c.reported_value, "ours": out.ours, "verdict": out.verdict, "why": out.why,
                     "protocol difference": c.protocol,
                     "ours_value": fig.value if fig else None, "ours_lo": fig.lo if fig else None,
                     "ours_hi": fig.hi if fig else None, "source": fig.source if fig else "",
                     "pair": out.pair})
    return pd.DataFrame(rows)


def write_verdicts(st: Study, table: pd.DataFrame, full: pd.DataFrame | None) -> None:
    """One record per claim (the verdicts themselves are results of this build)."""
    for _, row in table.iterrows():
        metrics = {"ours_value": row.ours_value, "ours_lo": row.ours_lo, "ours_hi": row.ours_hi}
        metrics = {k: float(v) for k, v in metrics.items() if v is not None and not pd.isna(v)}
        extra = {"verdict": row.verdict, "why": row.why, "ours": row.ours, "claim": row.claim}
        if full is not None:
            f = full.set_index("key").loc[row.key]
            extra.update({"full_verdict": f.verdict, "full_ours": f.ours})
        st.write(row.key, dataset="records", protocol=VERDICT_RULE[:200], model=None, metrics=metrics,
                 reported={"source": f"report {row.report}", "figure": row.reported}, extra=extra, datasets=())


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Verdict counts per report."""
    return (table.groupby(["report", "verdict"]).size().unstack(fill_value=0)
            .reindex(columns=["reproduced", "not reproduced", "not comparable", "not run here"], fill_value=0))


def paragraph(report: str, table: pd.DataFrame) -> str:
    """What the evidence supports for one report, written from its verdicts (no typed numbers)."""
    rows = table[table.report == report]
    parts = []
    for verdict in ("reproduced", "not reproduced", "not comparable", "not run here"):
        sel = rows[rows.verdict == verdict]
        if len(sel):
            parts.append(f"**{verdict}** ({len(sel)}): " + "; ".join(f"{c} ({w})" for c, w in zip(sel.claim, sel.why,
                                                                                                  strict=True)))
    return f"Report {report}. " + " ".join(p + "." for p in parts)
