"""The chapter kit: a ``Chapter`` declares a chapter once; a ``Study`` writes and reads one chapter's results
records, says which of its models and datasets can run here (and why not), and names content-keyed checkpoint
folders.

Every chapter's study module declares ``CHAPTER = Chapter(...)``: its name (the notebook's and the results
folder's), title, report, parameters with the cpu defaults and per-profile overrides, what it needs, and the
report's published figures. The book's order, its table of contents and the status page are read from these
declarations; a notebook starts with ``CHAPTER.study(profile, seed)`` and reads records through the ``Study``
instead of globbing file names:

>>> @dataclass(frozen=True)
... class Params:
...     epochs: int = 10
>>> demo = Chapter("99_demo", "A demo", Params, overrides={"smoke": {"epochs": 1}}, datasets=("lfw",),
...                needs_of=lambda p: ["weights:dlib-resnet"], reported={"source": "report 999", "accuracy": 0.9})
>>> demo.params("smoke"), demo.needs("cpu")
(Params(epochs=1), [Need(kind='dataset', name='lfw'), Need(kind='weights', name='dlib-resnet')])
>>> demo.study("cpu", seed=3).params.epochs
10
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from facekit import paths, results, weights
from facekit.data import lfw, sources
from facekit.face_path import FacePath
from facekit.profiles import resolve
from facekit.runtime import core_share, describe, device, device_kind
from facekit.store import fingerprint

State = Literal["verified", "missing", "corrupt"]

#: The LFW face paths several chapters share: dlib's HOG box (RetinaFace's where HOG finds none) feeding dlib's
#: 5-point chip and ResNet; RetinaFace's landmarks feeding MobileFaceNet's 96x112 warp. The face nearest the
#: centre (LFW's rule), the set's mean face where no detector finds one.
LFW_DLIB = FacePath("dlib-hog", "dlib-resnet", backup="retinaface", policy=lfw.FACE_POLICY)
LFW_MOBILEFACENET = FacePath("retinaface", "mobilefacenet-casia", policy=lfw.FACE_POLICY)
#: The book's LFW face path per pretrained embedder (the verification chapter's, so embeddings are shared).
LFW_PATHS = {
    "dlib-resnet": LFW_DLIB,
    "mobilefacenet-casia": LFW_MOBILEFACENET,
    "facenet-vggface2": FacePath("retinaface", "facenet-vggface2", policy=lfw.FACE_POLICY),
    # the reports' own models from pinned wheels (issue #21), each on its publisher's detector (OpenCV Zoo's
    # YuNet for SFace, InsightFace's SCRFD for its model: an ONNX path that never loads torch), RetinaFace where
    # that one finds no face; the FaceNets on MTCNN's boxes, the detector they were trained on
    "sface": FacePath("yunet", "sface", backup="retinaface", policy=lfw.FACE_POLICY),
    "insightface-mbf": FacePath("scrfd", "insightface-mbf", backup="retinaface", policy=lfw.FACE_POLICY),
    "facenet-128": FacePath("mtcnn", "facenet-128", backup="retinaface", policy=lfw.FACE_POLICY),
    "facenet-casia": FacePath("mtcnn", "facenet-casia", backup="retinaface", policy=lfw.FACE_POLICY),
}


def weights_table(face_paths: Mapping[str, FacePath]) -> pd.DataFrame:
    """Every weights file the face paths use: where it comes from and its licence (a page that shows a model's
    number names its terms beside it, e.g. InsightFace's non-commercial research licence)."""
    rows = {}
    for label, fp in face_paths.items():
        for w in fp.weights():
            spec = weights.get_spec(w)
            row = rows.setdefault(w, {"weights": w, "file": spec.filename, "source": spec.url or spec.package,
                                      "licence": spec.licence, "used by": []})
            row["used by"].append(label)
    return pd.DataFrame([{**r, "used by": ", ".join(r["used by"])} for r in rows.values()])


@dataclass(frozen=True)
class Need:
    """One thing a run needs: a registered weights file or dataset."""

    kind: Literal["weights", "dataset"]
    name: str


@dataclass(frozen=True)
class NeedStatus:
    """Whether a ``Need`` is on this machine: verified / missing / corrupt, where it is or how to get it."""

    need: Need
    state: State
    detail: str


def needs_of(face_path: FacePath) -> list[Need]:
    """The weights a ``FacePath`` loads, read from the registries (nothing is built)."""
    return [Need("weights", w) for w in face_path.weights()]


def check(need: Need) -> NeedStatus:
    """The state of one need, without running anything (datasets: local copy or mirror, by checksum)."""
    if need.kind == "weights":
        try:
            return NeedStatus(need, "verified", str(weights.resolve(need.name)))
        except weights.WeightsMissing as exc:
            return NeedStatus(need, "missing", str(exc))
        except weights.WeightsCorrupt as exc:
            return NeedStatus(need, "corrupt", str(exc))
        except KeyError as exc:
            return NeedStatus(need, "missing", str(exc))
    try:
        st = sources.status(sources.get(need.name))
    except sources.DataError as exc:
        return NeedStatus(need, "missing", str(exc))
    if st.state == "verified":
        return NeedStatus(need, "verified", f"{st.source}: {sources.local_root(st.dataset)}")
    problems = "; ".join(f"{c.location}: {c.detail}" for c in st.problems[:2])
    return NeedStatus(need, st.state, f"{problems}. {sources.how_to_get(st.dataset)}")


def _as_needs(spec: Any) -> list[Need]:
    if isinstance(spec, Need):
        return [spec]
    if isinstance(spec, FacePath):
        return needs_of(spec)
    if isinstance(spec, str):
        kind, _, name = spec.partition(":")
        if kind not in ("weights", "dataset") or not name:
            raise ValueError(f"a need is 'weights:NAME' or 'dataset:NAME', got {spec!r}")
        return [Need(kind, name)]  # type: ignore[arg-type]
    if isinstance(spec, Iterable):
        return [n for s in spec for n in _as_needs(s)]
    raise TypeError(f"cannot read a need from {spec!r}")


@dataclass(frozen=True)
class TrainingData:
    """Where a chapter's trained models learn (reports 001 and 004): by default LFW people outside the pairs of
    folds 5-10 (``max_people`` of them; smoke), the epoch chosen on ``val_pairs`` pairs of fold 5 and the test on
    folds 6-10 (``pairs_per_fold`` of each; smoke); ``train_dataset`` (a registered identity-per-folder set, with
    its ``train_subfolder``) or ``train_folder`` (a path) trains on that set instead and tests on all ten folds."""

    max_people: int | None = None
    pairs_per_fold: int | None = None
    train_dataset: str | None = None
    train_subfolder: str = ""
    train_folder: str | None = None
    val_pairs: int = 600


#: ``Chapter.after`` of a chapter that reads every earlier chapter's records (the synthesis)
EVERY_EARLIER = ("*",)


@dataclass(frozen=True)
class Chapter:
    """One chapter, declared once in its study module.

    ``parameters`` is the chapter's frozen dataclass of parameters whose defaults are the cpu profile, and
    ``overrides`` names, per profile, only what differs (an unknown or missing name fails at load, naming the
    chapter). ``datasets`` are the registered datasets it always reads (a tuple, or a function of the profile);
    ``needs_of`` maps the resolved parameters to what else it needs (``FacePath``s, ``Need``s, "dataset:NAME" /
    "weights:NAME", or lists of them), read without running anything. ``reported`` holds the report's published
    figures and ``claims`` the keys of every quantitative or directional claim of the report this chapter tests
    (the synthesis judges each, a test counts them); ``renamed_from`` the chapter's former names, whose results
    and checkpoints a build moves over. ``after`` names the earlier chapters whose records it reads
    (``EVERY_EARLIER``: all of them): a build that runs chapters side by side (``facekit book --jobs``) starts it
    only when those have ended; ``alone``: the chapter times something, so such a build runs it with nothing
    beside it and every core."""

    name: str
    title: str
    parameters: type
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    datasets: tuple[str, ...] | Callable[[str], Iterable[str]] = ()
    needs_of: Callable[[Any], Iterable[Any]] = lambda p: ()
    report: str | None = None
    reported: Mapping[str, Any] = field(default_factory=dict)
    claims: tuple[str, ...] = ()
    renamed_from: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    alone: bool = False

    def params(self, profile: str) -> Any:
        """The chapter's parameters under ``profile`` (ProfileError names the chapter and the key)."""
        return resolve(self.name, self.parameters, self.overrides, profile)

    def needs(self, profile: str) -> list[Need]:
        """Every dataset and weights file the chapter needs under ``profile`` (nothing is loaded or run)."""
        datasets = self.datasets(profile) if callable(self.datasets) else self.datasets
        return list(dict.fromkeys([*(Need("dataset", d) for d in datasets),
                                   *_as_needs(list(self.needs_of(self.params(profile))))]))

    def study(self, profile: str, seed: int = 0) -> Study:
        """The chapter's ``Study`` for one run: its records, parameters and checkpoints."""
        datasets = tuple(n.name for n in self.needs(profile) if n.kind == "dataset")
        return Study(self.name, profile, seed, self.params(profile), datasets)


@dataclass
class Study:
    """One chapter's records under ``results/<profile>/<name>/`` and its checkpoints under the cache."""

    name: str
    profile: str
    seed: int = 0
    params: Any = None
    datasets: tuple[str, ...] = ()
    _device: str | None = field(default=None, repr=False)

    @property
    def device(self) -> str:
        """Where torch work runs (``facekit.device()``, fixed for the study's life)."""
        if self._device is None:
            self._device = device()
        return self._device

    def header(self) -> str:
        """The line every chapter prints first: profile, seed, device."""
        return f"chapter {self.name}: profile={self.profile} seed={self.seed} device={describe(self.device)}"

    def start(self, **style: Any) -> Study:
        """A chapter's first call: the book's table and figure style (``plots.book_style``), then the header."""
        from facekit.plots import book_style  # matplotlib only for chapters, not for the CLI's lookups

        book_style(**style)
        print(self.header())
        return self

    # ------------------------------------------------------------------------------------------ records
    def write(self, name: str, *, face_path: FacePath | None = None, weights_used: Sequence[str] = (),
              datasets: Sequence[str] | None = None, **record: Any) -> Path:
        """One results record (``record``: dataset, protocol, model, metrics and the optional fields of
        ``results.write_result``) with its manifest: data checksums of ``datasets`` (default: the record's
        ``dataset`` when registered), weights checksums of ``weights_used`` and of the ``face_path``, the
        device."""
        data_sha: dict[str, str] = {}
        for ds in (datasets if datasets is not None else (record.get("dataset"),)):
            try:
                data_sha.update(sources.annotation_sha256(ds))
            except sources.DataError:
                continue  # not a registered dataset (a synthetic set, a user's folder)
        used = [*weights_used, *face_path.weights()] if face_path is not None else weights_used
        weights_sha = {}
        for w in dict.fromkeys(used):
            try:
                weights_sha[w] = weights.sha256_of(w)
            except (weights.WeightsMissing, KeyError):
                continue
        return results.write_result(
            self.name, name, profile=self.profile,
            provenance=results.Provenance(self.seed, data_sha, weights_sha, self.device),
            face_path=face_path.to_json() if face_path is not None else None, **record)

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        """A per-item CSV beside the records."""
        return results.write_table(self.name, name, df, profile=self.profile)

    def read(self, name: str) -> dict[str, Any]:
        """One record of this study (FileNotFoundError names the notebook that writes it)."""
        return results.read_result(self.profile, self.name, name)

    def read_table(self, name: str) -> pd.DataFrame:
        return results.read_table(self.name, name, profile=self.profile)

    def records(self, names: Iterable[str] | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
        """This study's records: all, those named in ``names`` (in that order), or those starting with
        ``prefix``."""
        recs = results.read_results(self.profile, self.name)
        if names is not None:
            by_name = {r["name"]: r for r in recs}
            return [by_name[n] for n in names if n in by_name]
        return [r for r in recs if prefix is None or r["name"].startswith(prefix)]

    def table(self, names: Iterable[str] | None = None, prefix: str | None = None) -> pd.DataFrame:
        """``records`` flattened to one row each (``facekit.results.table``)."""
        return results.table(self.records(names, prefix))

    # ------------------------------------------------------------------------------------------ what can run
    def runnable(self, specs: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """Which of ``specs`` (label -> FacePath, Need, 'weights:NAME', 'dataset:NAME' or a list of them) have
        everything on this machine; the others with the reason (the first thing missing or corrupt)."""
        ok, why = [], {}
        for label, spec in specs.items():
            bad = [s for s in map(check, _as_needs(spec)) if s.state != "verified"]
            if bad:
                why[label] = f"{bad[0].need.kind} {bad[0].need.name} {bad[0].state}: {bad[0].detail}"
            else:
                ok.append(label)
        return ok, why

    # ------------------------------------------------------------------------------------------ checkpoints
    def checkpoint_dir(self, *parts: Any) -> Path:
        """``cache/checkpoints/<profile>/<study>/<first part>-<key of all parts>``: a folder that a change in
        anything that shapes the run (data, parameters, face path, seed, a device other than the CPU, a share of the
        CPU's cores) leaves behind, so a changed run starts fresh instead of resuming an old one (a CPU run never
        resumes a GPU's, nor a run with every core one that had a share: ``runtime.core_share``)."""
        label = str(parts[0]) if parts else "run"
        kind = device_kind(self.device)
        share = core_share() if kind == "cpu" else None
        on = (() if kind == "cpu" else ({"device": kind},)) + (({"cores": share},) if share else ())
        key = fingerprint(self.seed, *[_plain(p) for p in parts], *on)
        return paths.cache_dir() / "checkpoints" / self.profile / self.name / f"{label}-{key}"


def _plain(x: Any) -> Any:
    """A JSON-able fingerprint input: dataclasses as dicts, FacePaths as JSON, frames by content."""
    if isinstance(x, FacePath):
        return x.to_json()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.asdict(x)
    if isinstance(x, pd.DataFrame | pd.Series):
        return pd.util.hash_pandas_object(x, index=False).sum().item()
    if hasattr(x, "tobytes") and hasattr(x, "shape"):  # numpy arrays
        import hashlib

        return hashlib.sha1(x.tobytes()).hexdigest()
    return x
