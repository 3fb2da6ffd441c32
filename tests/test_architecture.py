"""House rules read from the source: imports flow one way (DESIGN.md's layers), one registry shape for every
pluggable part, and every chapter's parameters load for every profile."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "facekit"

#: notebooks -> cli/book -> studies -> tasks -> models/detect/align -> data -> io/paths/results/weights (DESIGN.md).
#: A module may import its own layer and the ones below, never one above.
LAYERS = {
    0: ("facekit", "facekit.paths", "facekit.io", "facekit.results", "facekit.weights", "facekit.store",
        "facekit.runtime", "facekit.registry", "facekit.landmarks", "facekit.profiles", "facekit.report",
        "facekit.plots", "facekit.htmlcheck", "facekit.console", "facekit.runlog", "facekit.tally",
        "facekit.engines", "facekit.side_by_side"),
    1: ("facekit.data",),
    2: ("facekit.models", "facekit.detect", "facekit.align"),
    3: ("facekit.face_path", "facekit.embed", "facekit.extract", "facekit.verification", "facekit.metric_training",
        "facekit.batches", "facekit.augment",
        "facekit.classify", "facekit.train", "facekit.tune", "facekit.metrics", "facekit.search",
        "facekit.identification", "facekit.gallery", "facekit.arcface", "facekit.gender_classifier",
        "facekit.keypoint_training",
        "facekit.timing"),
    4: ("facekit.studies",),
    5: ("facekit.cli", "facekit.book", "facekit.status_page"),
}


def layer_of(module: str) -> int:
    """The layer of a dotted module name: its longest listed prefix."""
    best, depth = None, -1
    for layer, names in LAYERS.items():
        for n in names:
            if (module == n or module.startswith(n + ".")) and n.count(".") > depth:
                best, depth = layer, n.count(".")
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to DESIGN.md's order)")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def facekit_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every facekit import in the file, lazy ones inside functions included."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "facekit"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "facekit":
            if node.module == "facekit":  # `from facekit import paths`: the names are modules
                out += [(node.lineno, f"facekit.{a.name}") for a in node.names
                        if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()]
                out += [(node.lineno, "facekit") for a in node.names
                        if not ((PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir())]
            else:
                out.append((node.lineno, node.module))
    return out


def test_imports_flow_downwards():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        mine = layer_of(me)
        for line, target in facekit_imports(path):
            if layer_of(target) > mine:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({me}, layer {mine}) imports {target} "
                           f"(layer {layer_of(target)})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


#: What a notebook may import of facekit: the chapters' studies, the figure helpers and the page helpers. Every
#: table and decision comes from a study function; a notebook holds narrative, parameters, calls and plots.
NOTEBOOK_IMPORTS = ("facekit.studies", "facekit.plots", "facekit.report")


def notebook_violations(path: Path) -> list[str]:
    """The facekit imports of a notebook outside ``NOTEBOOK_IMPORTS``."""
    return [f"{path.name}:{line} imports {target}" for line, target in facekit_imports(path)
            if not any(target == n or target.startswith(n + ".") for n in NOTEBOOK_IMPORTS)]


def test_notebooks_import_only_studies_plots_and_report(tmp_path):
    bad = [v for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) for v in notebook_violations(nb)]
    assert not bad, "notebooks reaching below the studies:\n" + "\n".join(bad)
    sneaky = tmp_path / "99_x.py"  # the rule can fail: a task module or a dataset loader in a notebook
    sneaky.write_text("from facekit.data import lfw\nfrom facekit import tune, plots\nimport facekit.face_path\n")
    assert [v.split(" imports ")[1] for v in notebook_violations(sneaky)] == [
        "facekit.data", "facekit.tune", "facekit.face_path"]


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
    return n - (1 if a.args and a.args[0].arg in ("self", "cls") else 0)


def test_no_function_takes_more_than_eight_parameters():
    """A call of many arguments is a config waiting to be named (dataclass constructors are exempt: they are
    the configs)."""
    many = []
    for folder in ("facekit", "notebooks", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _parameters(node) > 8:
                    many.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_parameters(node)})")
    assert not many, "functions of more than 8 parameters:\n" + "\n".join(many)


def test_the_checker_sees_a_violation(tmp_path):
    """The rule can fail: a base module importing a study is caught."""
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from facekit.studies import cosine_heads\n    from facekit import book\n")
    found = [t for _, t in facekit_imports(bad)]
    assert found == ["facekit.studies", "facekit.book"]
    assert layer_of("facekit.studies.cosine_heads") == 4 > layer_of("facekit.results")


def test_one_registry_shape():
    from facekit.align import ALIGNERS
    from facekit.detect.base import DETECTORS
    from facekit.models.embedders import EMBEDDERS
    from facekit.models.losses import LOSSES
    from facekit.models.metric_nets import BACKBONES
    from facekit.registry import Registry

    for reg, some in ((DETECTORS, "retinaface"), (EMBEDDERS, "dlib-resnet"), (ALIGNERS, "arcface112"),
                      (BACKBONES, "vgg16"), (LOSSES, "arcface")):
        assert isinstance(reg, Registry) and some in reg and reg.available()[some]
        with pytest.raises(KeyError, match=f"unknown {reg.kind}"):
            reg.get("no-such-part")
    assert EMBEDDERS.weights_of("mobilefacenet-casia") == ("mobilefacenet-casia",)
    assert DETECTORS.weights_of("yolo", {"model": "yolo26n-coco"}) == ("yolo26n-coco",)


@pytest.mark.parametrize("kwargs", [{}, {"model_selection": 0}, {"model_selection": 1}])
def test_declared_weights_are_the_ones_a_built_detector_loads(kwargs, shared_weights):
    """``--check`` reads the declared weights without building anything: they must be what the build loads
    (MediaPipe's default is the full-range model)."""
    from facekit.detect.base import DETECTORS

    assert DETECTORS.weights_of("mediapipe", kwargs) == tuple(DETECTORS.get("mediapipe", **kwargs).weights)


def test_every_chapter_loads_every_profile():
    """Every notebook has one declared chapter and every declaration a notebook; each loads every profile."""
    from facekit import book, studies
    from facekit.profiles import PROFILES

    assert list(studies.chapters()) == [p.stem for p in book.chapters()]
    for name, chapter in studies.chapters().items():
        assert chapter.name == name and chapter.title
        for profile in PROFILES:
            assert chapter.params(profile) is not None
            assert chapter.needs(profile) or name == "90_synthesis"  # the synthesis reads only records


def test_a_chapter_waits_only_for_earlier_chapters():
    """``Chapter.after`` names earlier declared chapters (or every earlier one), so a side-by-side build can never
    wait in a circle; the chapters that read another's records wait for it; those that time things run alone."""
    from facekit import book, studies
    from facekit.studies.kit import EVERY_EARLIER

    names = list(studies.chapters())
    for k, chapter in enumerate(studies.chapters().values()):
        assert chapter.after == EVERY_EARLIER or set(chapter.after) <= set(names[:k]), chapter.name
    waits, alone = book.waits(names)
    assert waits["90_synthesis"] == set(names[:-1])
    assert "01_detection" in waits["05_gender_keypoints"] and "03_metric_learning" in waits["06_arcface_resnet"]
    assert waits["00_data"] == set()
    # a chapter that times something (its study module calls time_detection) runs alone
    import importlib

    timing = {importlib.import_module(f"facekit.studies.{f.stem}").CHAPTER.name
              for f in (PACKAGE / "studies").glob("*.py") if "time_detection(" in f.read_text()}
    assert timing and timing <= alone == {"01_detection", "02_cosine_heads"}


@pytest.mark.parametrize("module", ["facekit.face_path", "facekit.side_by_side", "facekit.studies.kit"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_profiles_refuse_unknown_and_missing_keys():
    from dataclasses import dataclass

    from facekit.profiles import ProfileError, resolve

    @dataclass(frozen=True)
    class Params:
        needed: int
        epochs: int = 3

    assert resolve("99_test", Params, {"cpu": {"needed": 1}}, "cpu") == Params(1, 3)
    with pytest.raises(ProfileError, match="99_test.*unknown parameter.*epoch"):
        resolve("99_test", Params, {"cpu": {"needed": 1, "epoch": 5}}, "cpu")
    with pytest.raises(ProfileError, match="99_test.*lacks.*needed"):
        resolve("99_test", Params, {}, "smoke")
    with pytest.raises(ProfileError, match="unknown profile"):
        resolve("99_test", Params, {}, "gpu")
