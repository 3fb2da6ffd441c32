"""Project contract: pins agree, the README's two commands exist and CI runs the test one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _reqs(path: Path) -> set[str]:
    return {ln.split("#")[0].strip() for ln in path.read_text().splitlines() if ln.split("#")[0].strip()}


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert set(pip) == _reqs(ROOT / "requirements.txt")
    assert "python>=3.11,<3.13" in env["dependencies"]
    assert "requirements-nodeps.txt" in (ROOT / "environment.yml").read_text()
    assert all("==" in r or "<" in r for r in _reqs(ROOT / "requirements.txt")), "every requirement is pinned"


def test_key_pins_from_environment_md():
    reqs = _reqs(ROOT / "requirements.txt")
    for pin in ("torch==2.14.1", "torchvision==0.29.1", "numpy==1.26.4", "mediapipe==0.10.21",
                "jupyter-book==1.0.4.post1", "dlib-bin==20.0.1.post1", "protobuf==4.25.9", "setuptools<81"):
        assert pin in reqs
    assert "facenet-pytorch==2.6.0" in _reqs(ROOT / "requirements-nodeps.txt")


def test_readme_commands_and_ci():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    assert block.splitlines()[0].startswith("make book") and block.splitlines()[1].startswith("make test")
    assert readme.index("```bash") < 600  # right after the two-line summary
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_toc_lists_every_chapter(tmp_path, monkeypatch):
    """The table of contents is generated (not kept in git): every chapter in book order, the status page last."""
    from facekit import book

    monkeypatch.setenv("FACEKIT_ROOT", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"):
        (tmp_path / "notebooks" / p.name).write_text(p.read_text())
    toc = yaml.safe_load(book.write_toc([c.stem for c in book.chapters()]).read_text())
    listed = [c["file"] for c in toc["chapters"]]
    chapters = sorted(f"book/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert listed == [*chapters, "book/status"] and toc["root"] == "book/intro"
    assert subprocess.run(["git", "ls-files", "--error-unmatch", "_toc.yml"], cwd=ROOT, capture_output=True
                          ).returncode != 0  # generated, never committed


def test_notebooks_have_parameters_cell():
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"):
        text = nb.read_text()
        assert '# %% tags=["parameters"]\nprofile = "cpu"' in text, nb
