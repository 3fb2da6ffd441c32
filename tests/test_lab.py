"""Where users work: JupyterLab opens the paired `notebooks/*.py` as notebooks (jupytext's viewer is the default
inside the project's environment), the built book publishes to a gh-pages branch, and the forge workflow file is
valid. Slow parts start a real JupyterLab server and, when a Chromium is installed, look at the page it serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on the project, with this environment's settings and nobody's user settings."""
    if not OVERRIDES.exists():
        pytest.fail(f"{OVERRIDES} missing: `make setup` writes it (jupytext's viewer as the default for .py)")
    home = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), "facekit-test"
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={ROOT}", "--ServerApp.ip=127.0.0.1", "--allow-root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(base: str, token: str, path: str) -> dict:
    req = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"token {token}"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def test_the_paired_notebooks_open_as_notebooks_by_default(lab):
    base, token = lab
    viewers = _get(base, token, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert viewers["schema"]["properties"]["defaultViewers"]["default"].get("python") == "Jupytext Notebook"
    model = _get(base, token, "/api/contents/notebooks/02_cosine_heads.py?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"].startswith("# Report 000")
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)


def test_a_browser_sees_rendered_markdown_cells(lab, tmp_path):
    """The page JupyterLab serves for a double-clicked chapter, rendered by headless Chromium: notebook cells with
    rendered markdown, not a text editor (a screenshot is kept beside the DOM)."""
    from facekit.htmlcheck import chromium, is_blank

    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium on PATH (`apt install chromium` adds one)")
    base, token = lab
    url = f"{base}/lab/tree/notebooks/02_cosine_heads.py?token={token}"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--window-size=1280,1600",
             "--virtual-time-budget=30000"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, env=env).stdout
    if "jp-LabShell" not in dom:
        pytest.skip(f"{browser} rendered no JupyterLab page here")
    assert dom.count("jp-MarkdownCell") >= 5 and "jp-RenderedMarkdown" in dom
    assert "Report 000: a frozen embedder" in dom
    png = tmp_path / "lab.png"
    subprocess.run([*flags, f"--screenshot={png}", url], capture_output=True, timeout=120, env=env)
    assert png.exists() and not is_blank(png)


def test_publish_pushes_the_built_book_to_a_gh_pages_branch(tmp_path, monkeypatch, capsys):
    from facekit.cli import main

    def git(*args: str, cwd: Path) -> str:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout

    project, remote = tmp_path / "project", tmp_path / "remote.git"
    project.mkdir()
    git("init", "-q", "-b", "main", cwd=project)
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    (project / "README.md").write_text("demo\n")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "README.md", cwd=project)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "init", cwd=project)
    monkeypatch.setenv("FACEKIT_ROOT", str(project))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    assert main(["publish", "--remote", str(remote)]) == 2  # nothing built yet
    assert "no built book" in capsys.readouterr().err

    html = project / "book" / "_build" / "html"
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text("<html><body>book</body></html>")
    (html / "_static" / "style.css").write_text("body {}")
    assert main(["publish", "--remote", str(remote)]) == 0
    files = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split()
    assert sorted(files) == [".nojekyll", "_static/style.css", "index.html"]
    assert "facekit book of" in git("log", "-1", "--format=%s", "gh-pages", cwd=remote)
    (html / "index.html").write_text("<html><body>book, second edition</body></html>")
    assert main(["publish", "--remote", str(remote)]) == 0
    assert git("rev-list", "--count", "gh-pages", cwd=remote).strip() == "2"  # history kept, one commit each
    assert "second edition" in git("show", "gh-pages:index.html", cwd=remote)


def test_the_forge_workflow_is_valid(tmp_path):
    """The Pages workflow against the GitHub Actions schema (vendored in check-jsonschema); it builds the smoke book
    on every push and the cpu book on demand, with the README's commands."""
    wf = ROOT / ".github" / "workflows" / "book.yml"
    exe = Path(sys.executable).with_name("check-jsonschema")
    proc = subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", str(wf)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = wf.read_text()
    assert "make test" in text and "make book" in text and "actions/deploy-pages" in text
    bad = tmp_path / "broken.yml"
    bad.write_text(text.replace("runs-on:", "run-on:", 1))
    assert subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", str(bad)],
                          capture_output=True).returncode != 0  # the check can fail
