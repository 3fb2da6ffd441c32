"""A machine with internet and no mirror: the mirror's subsets are rebuilt from pinned public repositories by
their selection rules and checked against the mirror's digests. Tested end to end against a loopback HTTP server
laid out like those repositories (built from the shared mirror's own files): right digest, wrong digest, server
gone."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facekit.data import selections, sources


class FakeGitHub:
    """Serves ``/repos/<repo>/git/trees/<commit>`` (the listing) and ``/<repo>/<commit>/<path>`` (raw files)."""

    def __init__(self, repos: dict[tuple[str, str], dict[str, bytes | Path]]) -> None:
        self.repos = repos
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = outer.answer(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _bytes(v: bytes | Path) -> bytes:
        return v if isinstance(v, bytes) else v.read_bytes()

    def answer(self, path: str) -> bytes | None:
        for (repo, commit), files in self.repos.items():
            if path == f"/repos/{repo}/git/trees/{commit}":
                tree = [{"path": p, "type": "blob", "size": len(self._bytes(v))} for p, v in files.items()]
                return json.dumps({"sha": commit, "tree": tree, "truncated": False}).encode()
            prefix = f"/{repo}/{commit}/"
            if path.startswith(prefix) and path[len(prefix):] in files:
                return self._bytes(files[path[len(prefix):]])
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def no_mirror(isolated, shared_mirror, monkeypatch):
    """No mirror for facekit (fresh data and cache folders); the shared mirror's path, to lay out the sources."""
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    return shared_mirror


def _w300_repo(mirror: Path) -> dict[str, bytes | Path]:
    root = mirror / "300w_helen_afw_subset"
    files: dict[str, bytes | Path] = {}
    for r in csv.DictReader((root / "index.csv").read_text().splitlines()):
        files[r["source_image_path"]] = root / r["image"]
        files[r["source_pts_path"]] = root / r["pts"]
        if r["image"].startswith("afw/"):  # the source repeats each AFW image per face
            k = r["pts"].rsplit("_", 1)[1].split(".")[0]
            files[f"afw/afw/{Path(r['image']).stem}_{k}.jpg"] = root / r["image"]
    files["helen/testset/0000000_unannotated.jpg"] = b"\xff\xd8 not in the rule: no .pts"
    files["helen/trainset/1.jpg"] = b"\xff\xd8 other component"
    return files


def _serve(monkeypatch, repos):
    gh = FakeGitHub(repos)
    monkeypatch.setenv("FACEKIT_GITHUB_API", gh.url)
    monkeypatch.setenv("FACEKIT_GITHUB_RAW", gh.url)
    return gh


def test_w300_subset_rebuilt_with_the_mirror_digests(no_mirror, monkeypatch):
    shared_mirror = no_mirror
    gh = _serve(monkeypatch, {(selections.W300.repo, selections.W300.commit): _w300_repo(shared_mirror)})
    try:
        root = sources.fetch("300w_subset", progress=False)
    finally:
        gh.stop()
    assert sources.status(sources.get("300w_subset")).state == "verified"
    assert (root / "index.csv").read_bytes() == (shared_mirror / "300w_helen_afw_subset" / "index.csv").read_bytes()
    assert not any("unannotated" in r or "trainset" in r for r in gh.requests)  # the rule, not the whole repo


def test_a_changed_upstream_file_is_refused(no_mirror, monkeypatch):
    files = _w300_repo(no_mirror)
    first_pts = next(p for p in files if p.endswith(".pts"))
    files[first_pts] = b"1 2\n" * 68  # upstream changed one annotation
    gh = _serve(monkeypatch, {(selections.W300.repo, selections.W300.commit): files})
    try:
        with pytest.raises(sources.DataError, match="mismatch"):
            sources.fetch("300w_subset", progress=False)
    finally:
        gh.stop()
    assert sources.status(sources.get("300w_subset")).state != "verified"


def test_server_gone_is_a_clear_error(no_mirror, monkeypatch):
    gh = _serve(monkeypatch, {})
    gh.stop()
    with pytest.raises(sources.DataError) as exc:
        sources.fetch("300w_subset", progress=False, timeout=3)
    msg = str(exc.value)
    assert "download of http://127.0.0.1" in msg and "failed" in msg and "FACEKIT_MIRROR" in msg


def test_celeba_subset_and_lfw_gender_rebuilt(no_mirror, monkeypatch):
    """The CelebA rule (>= 8 images, one sex, 20 + 20 identities, attributes first, a file held twice) over the
    mirror's images laid out like the source, with the source's header line and full-length attribute file."""
    shared_mirror = no_mirror
    c = shared_mirror / "celeba_subset"
    images = {f"Celeb/{p.name}": p for p in sorted((c / "img_celeba").iterdir())}
    images["CelebA/019532.jpg"] = c / "img_celeba" / "019532.jpg"
    images["Celeb/999999.jpg"] = b"\xff\xd8 an identity with one image"
    identity = b"img label\r\n" + (c / "identity_CelebA.txt").read_bytes()
    attr = (c / "list_attr_celeba_000001-020000.txt").read_bytes()
    attr += b"\r\n020001.jpg" + b"  1" * 40 + b"\r\n"  # the full file goes on past 20,000: those rows are cut
    lfw = shared_mirror / "lfw" / "gender"
    gh = _serve(monkeypatch, {
        (selections.CELEBA_IMAGES.repo, selections.CELEBA_IMAGES.commit): images,
        (selections.CELEBA_IDENTITY.repo, selections.CELEBA_IDENTITY.commit): {"identity_CelebA.txt": identity},
        (selections.CELEBA_ATTR.repo, selections.CELEBA_ATTR.commit): {"list_attr_celeba.txt": attr},
        (selections.LFW_GENDER.repo, selections.LFW_GENDER.commit): {
            "male_names.txt": lfw / "male_names.txt", "female_names.txt": lfw / "female_names.txt"},
    })
    try:
        sources.fetch("celeba_subset", progress=False)
        with pytest.raises(sources.DataError, match="lfw-deepfunneled"):  # images come from UMass, not served
            sources.fetch("lfw", progress=False, timeout=3)
    finally:
        gh.stop()
    assert sources.status(sources.get("celeba_subset")).state == "verified"
    lfw_root = sources.local_root(sources.get("lfw"))
    for f in ("male_names.txt", "female_names.txt"):
        assert (lfw_root / "gender" / f).read_bytes() == (lfw / f).read_bytes()


def test_book_fetches_what_its_chapters_need_before_running(no_mirror, monkeypatch):
    """`facekit book` without a mirror first fetches the datasets of the chapters it will run; what cannot be
    fetched (here: LFW's images, not served) is reported, not fatal, and the rest is verified."""
    from facekit import book
    from facekit.studies import detection

    needed = {n.name for n in detection.CHAPTER.needs("cpu") if n.kind == "dataset"}
    assert "300w_subset" in needed
    gh = _serve(monkeypatch, {(selections.W300.repo, selections.W300.commit): _w300_repo(no_mirror)})
    try:
        problems = book.fetch_missing("cpu", ["01_detection"])
    finally:
        gh.stop()
    assert sources.status(sources.get("300w_subset")).state == "verified"
    assert {p.split(":")[0] for p in problems} == needed - {"300w_subset"}
