"""The dataset registry: verification, mirror copies, refusal of corrupt files, real downloads on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekit import cli
from facekit.data import sources
from facekit.data.sources import DataError, Dataset, Item, Remote


# ------------------------------------------------------------------------------------------ a toy dataset
def _make_toy(folder: Path) -> None:
    (folder / "images").mkdir(parents=True)
    for k in range(3):
        arr = np.full((12, 12, 3), 40 * k, np.uint8)
        Image.fromarray(arr).save(folder / "images" / f"{k}.png")
    (folder / "labels.txt").write_text("0 a\n1 b\n2 a\n")


def _toy_dataset(src: Path, name: str = "toy", remotes: tuple[Remote, ...] = ()) -> Dataset:
    digest, n = sources.tree_digest(src / "images")
    return Dataset(name=name, title="toy", items=(
        Item("images", "dir", digest, count=n),
        Item("labels.txt", sha256=sources.file_sha256(src / "labels.txt"), annotation=True),
    ), remotes=remotes, homepage="http://example.invalid/toy")


@pytest.fixture()
def registry(monkeypatch):
    """A registry holding only what the test registers."""
    reg: dict[str, Dataset] = {}
    monkeypatch.setattr(sources, "REGISTRY", reg)
    monkeypatch.setattr(sources, "get", lambda name: reg[name])
    monkeypatch.setattr(sources, "all_datasets", lambda: list(reg.values()))
    return reg


def test_mirror_copy_verified_and_stamped(isolated, registry, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    _make_toy(mirror / "toy")
    registry["toy"] = _toy_dataset(mirror / "toy")
    monkeypatch.setenv("FACEKIT_MIRROR", str(mirror))
    assert sources.status(registry["toy"]).source == "mirror"
    root = sources.fetch("toy", progress=False)
    assert root == isolated / "raw" / "toy"
    assert (root / "labels.txt").read_text() == "0 a\n1 b\n2 a\n"
    st = sources.status(registry["toy"])
    assert (st.state, st.source) == ("verified", "local")
    # a later edit of the local copy is noticed although a verification stamp exists
    (root / "labels.txt").write_text("0 b\n")
    st = sources.status(registry["toy"])
    assert st.state == "verified" and st.source == "mirror"  # local is corrupt, the mirror still fine
    local = sources.check_item(registry["toy"].items[1], root)
    assert local.state == "corrupt" and "sha256 mismatch" in local.detail


def test_corrupt_mirror_file_reported_and_refused(isolated, registry, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    _make_toy(mirror / "toy")
    registry["toy"] = _toy_dataset(mirror / "toy")
    (mirror / "toy" / "labels.txt").write_text("0 a\n1 b\n2 b\n")  # one label altered
    monkeypatch.setenv("FACEKIT_MIRROR", str(mirror))
    st = sources.status(registry["toy"])
    assert st.state == "corrupt"
    assert [c.item.path for c in st.problems] == ["labels.txt"]
    with pytest.raises(DataError, match="refusing .*labels.txt.*sha256 mismatch"):
        sources.fetch("toy", progress=False)
    assert not (isolated / "raw" / "toy" / "labels.txt").exists()


def test_missing_image_in_mirror_folder_is_corrupt(isolated, registry, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    _make_toy(mirror / "toy")
    registry["toy"] = _toy_dataset(mirror / "toy")
    (mirror / "toy" / "images" / "1.png").unlink()
    monkeypatch.setenv("FACEKIT_MIRROR", str(mirror))
    check = sources.status(registry["toy"]).problems[0]
    assert check.state == "corrupt" and "2 files, expected 3" in check.detail


# ------------------------------------------------------------------------------------------ downloads
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture()
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (folder, base URL, stop function)."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            server.shutdown()
            server.server_close()
            stopped.append(True)

    yield www, f"http://127.0.0.1:{server.server_address[1]}", stop
    stop()


def _archive(src: Path, dest: Path) -> str:
    with tarfile.open(dest, "w:gz") as t:
        t.add(src, arcname="toy-1.0")
    return hashlib.sha256(dest.read_bytes()).hexdigest()


def _served_archive(registry, tmp_path: Path, http_root) -> None:
    """The toy dataset as a .tgz on the local server, registered with its checksum."""
    www, base, _ = http_root
    _make_toy(tmp_path / "src")
    sha = _archive(tmp_path / "src", www / "toy.tgz")
    registry["toy"] = _toy_dataset(tmp_path / "src", remotes=(
        Remote(f"{base}/toy.tgz", ("images", "labels.txt"), checksum=f"sha256:{sha}", archive=True,
               archive_root="toy-1.0/"),))


def test_download_archive_checksum_ok(isolated, registry, monkeypatch, tmp_path, http_root):
    _served_archive(registry, tmp_path, http_root)
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    root = sources.fetch("toy", progress=False, timeout=5)
    assert sorted(p.name for p in (root / "images").iterdir()) == ["0.png", "1.png", "2.png"]
    assert sources.status(registry["toy"]).state == "verified"
    assert (isolated / "cache" / "downloads" / "toy" / "toy.tgz").exists()


def test_download_checksum_wrong_is_refused(isolated, registry, monkeypatch, tmp_path, http_root):
    www, base, _ = http_root
    _make_toy(tmp_path / "src")
    _archive(tmp_path / "src", www / "toy.tgz")
    registry["toy"] = _toy_dataset(tmp_path / "src", remotes=(
        Remote(f"{base}/toy.tgz", ("images", "labels.txt"), checksum="sha256:" + "0" * 64, archive=True,
               archive_root="toy-1.0/"),))
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    with pytest.raises(DataError, match="expected 0000.*refused"):
        sources.fetch("toy", progress=False, timeout=5)
    assert not (isolated / "raw" / "toy" / "images").exists()
    assert not list((isolated / "cache" / "downloads" / "toy").glob("*"))  # no half file kept


def test_download_single_file_and_md5(isolated, registry, monkeypatch, tmp_path, http_root):
    www, base, _ = http_root
    (www / "labels.txt").write_text("0 a\n")
    md5 = hashlib.md5(b"0 a\n").hexdigest()
    registry["one"] = Dataset("one", "one file", items=(Item("labels.txt", sha256=sources.file_sha256(
        www / "labels.txt")),), remotes=(Remote(f"{base}/labels.txt", ("labels.txt",), checksum=f"md5:{md5}"),))
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    assert (sources.fetch("one", progress=False) / "labels.txt").read_text() == "0 a\n"


def test_server_gone_names_url_and_variable(isolated, registry, monkeypatch, tmp_path, http_root):
    _served_archive(registry, tmp_path, http_root)
    http_root[2]()  # the server goes away
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    with pytest.raises(DataError) as exc:
        sources.fetch("toy", progress=False, timeout=5)
    msg = str(exc.value)
    assert f"{http_root[1]}/toy.tgz" in msg and "FACEKIT_MIRROR" in msg and "failed" in msg


def test_archive_with_wrong_content_is_caught_by_item_checksums(isolated, registry, monkeypatch, tmp_path,
                                                                 http_root):
    www, base, _ = http_root
    _make_toy(tmp_path / "src")
    expected = _toy_dataset(tmp_path / "src")
    (tmp_path / "src" / "labels.txt").write_text("changed upstream\n")
    sha = _archive(tmp_path / "src", www / "toy.tgz")  # archive checksum right, content not what we pinned
    registry["toy"] = Dataset("toy", "toy", expected.items, remotes=(
        Remote(f"{base}/toy.tgz", ("images", "labels.txt"), checksum=f"sha256:{sha}", archive=True,
               archive_root="toy-1.0/"),))
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    with pytest.raises(DataError, match="labels.txt that is corrupt"):
        sources.fetch("toy", progress=False, timeout=5)


# ------------------------------------------------------------------------------------------ the real registry
def test_status_cli_all_verified_from_shared_mirror(isolated, shared_mirror, capsys):
    assert cli.main(["data", "status", "--profile", "cpu"]) == 0
    out = capsys.readouterr().out
    for name in ("lfw", "celeba_subset", "300w_subset", "widerface_val_gt", "facenet_test_images"):
        assert f"{name}" in out
    assert out.count("verified (mirror)") == 5


def test_status_cli_corrupt_annotation_and_fetch_refuses(isolated, shared_mirror, monkeypatch, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_mirror / "celeba_subset", mirror / "celeba_subset")
    ident = mirror / "celeba_subset" / "subset_identity.txt"
    ident.write_text(ident.read_text().replace("000114.jpg 7256", "000114.jpg 7257"))
    monkeypatch.setenv("FACEKIT_MIRROR", str(mirror))
    assert cli.main(["data", "status"]) == 1
    out = capsys.readouterr().out
    assert "celeba_subset          corrupt" in out and "subset_identity.txt: sha256 mismatch" in out
    assert cli.main(["data", "fetch", "celeba_subset"]) == 1
    assert "refusing" in capsys.readouterr().err
    assert not (isolated / "raw" / "celeba_subset" / "subset_identity.txt").exists()


def test_status_cli_no_mirror_no_network(isolated, monkeypatch, capsys):
    monkeypatch.setenv("FACEKIT_MIRROR", "")
    assert cli.main(["data", "status"]) == 1
    out = capsys.readouterr().out
    assert "lfw                    missing" in out
    assert "Set FACEKIT_MIRROR" in out and "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz" in out


def test_registry_annotation_checksums_for_manifests():
    sha = sources.annotation_sha256("lfw")
    assert sha["lfw/pairs.txt"] == "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592"
    assert "lfw/lfw-deepfunneled" not in sha
    with pytest.raises(DataError, match="unknown dataset"):
        sources.get("nope")
