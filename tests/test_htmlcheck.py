"""The built-HTML check: a clean tree passes; a broken link, a missing or empty image, a traceback in an output
and a blank screenshot each fail with the page named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facekit.htmlcheck import check_html, chromium, is_blank, screenshots

PAGE = """<html><body><main id="main-content">
<h1 id="title">Chapter</h1>
<a href="../index.html">home</a> <a href="#title">top</a> <a href="https://example.org/x">out</a>
<a href="other.html#part">other</a>
<img src="../_images/fig.png" alt="a figure">
<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi"><pre>fine</pre></div></div>
{extra}
</main></body></html>"""


def _tree(root, extra=""):
    (root / "book").mkdir(parents=True)
    (root / "_images").mkdir()
    Image.fromarray(np.full((4, 4, 3), 128, np.uint8)).save(root / "_images" / "fig.png")
    (root / "index.html").write_text('<html><body><a href="book/page.html">page</a></body></html>')
    (root / "book" / "page.html").write_text(PAGE.format(extra=extra))
    (root / "book" / "other.html").write_text('<html><body><section id="part"><h1>Other chapter</h1>'
                                              + '<p>Some text.</p>' * 20 + '</section></body></html>')
    return root


def test_clean_tree_passes(tmp_path):
    assert check_html(_tree(tmp_path)) == []


def test_broken_link_is_found(tmp_path):
    root = _tree(tmp_path, '<a href="missing.html">gone</a> <a href="other.html#nowhere">anchor</a>')
    problems = check_html(root)
    assert len(problems) == 2
    assert "book/page.html: link to missing.html does not resolve" in problems[0]
    assert "no element with id 'nowhere'" in problems[1]


def test_missing_and_empty_images_are_found(tmp_path):
    root = _tree(tmp_path, '<img src="../_images/absent.png">')
    (root / "_images" / "empty.png").write_bytes(b"")
    (root / "book" / "other.html").write_text('<html><body><section id="part"><img src="../_images/empty.png">'
                                              '</section></body></html>')
    problems = check_html(root)
    assert any("page.html: image ../_images/absent.png is missing" in p for p in problems)
    assert any("other.html: image ../_images/empty.png is empty" in p for p in problems)
    assert len(problems) == 2


@pytest.mark.parametrize("output", [
    '<div class="cell_output docutils container"><div class="output traceback highlight-ipythontb"><pre>'
    "---------------------------------------------------------------------------\nValueError    "
    "Traceback (most recent call last)\nCell In[3], line 1</pre></div></div>",
    '<div class="cell_output docutils container"><div class="output stderr"><pre>Traceback (most recent call last):'
    '\n  File "x.py", line 1\nKeyError: 1</pre></div></div>',
])
def test_traceback_in_an_output_is_found(tmp_path, output):
    problems = check_html(_tree(tmp_path, output))
    assert len(problems) == 1 and "book/page.html: a cell output holds a traceback" in problems[0]
    assert check_html(tmp_path, allow_tracebacks={"page"}) == []  # a chapter rendered with --keep-going


def test_traceback_words_in_prose_are_not_an_error(tmp_path):
    assert check_html(_tree(tmp_path, "<p>Traceback (most recent call last) is what Python prints.</p>")) == []


def test_blank_screenshot_detection(tmp_path):
    flat, page = tmp_path / "flat.png", tmp_path / "page.png"
    Image.fromarray(np.full((50, 50, 3), 255, np.uint8)).save(flat)
    img = np.full((50, 50, 3), 255, np.uint8)
    img[10:20, 5:45] = 0  # a line of text
    Image.fromarray(img).save(page)
    assert is_blank(flat) and not is_blank(page)


def test_screenshots_skip_is_reported_without_a_browser(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    res = screenshots(_tree(tmp_path))
    assert res.problems == [] and res.files == [] and "screenshots skipped: no Chromium" in res.summary


@pytest.mark.skipif(chromium() is None, reason="no Chromium on PATH: screenshots are not taken on this machine")
def test_screenshots_with_a_browser(tmp_path):
    res = screenshots(_tree(tmp_path))
    if "screenshots skipped" in res.summary:
        pytest.skip(res.summary)  # a Chromium that cannot start in this sandbox
    assert res.problems == [] and len(res.files) == 3


def test_a_browser_that_cannot_run_is_a_recorded_skip(tmp_path):
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'zygote failed' >&2\nexit 133\n")
    fake.chmod(0o755)
    res = screenshots(_tree(tmp_path / "html"), browser=str(fake))
    assert res.problems == [] and "screenshots skipped" in res.summary and "exit 133: zygote failed" in res.summary


def test_a_blank_page_fails_the_screenshot_check(tmp_path):
    """A stand-in browser that renders every page white: each page is reported as blank."""
    fake = tmp_path / "white-chromium"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do case $a in --screenshot=*) out=${a#--screenshot=};; esac; done\n"
                    f"cp {tmp_path / 'white.png'} \"$out\"\n")
    fake.chmod(0o755)
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(tmp_path / "white.png")
    res = screenshots(_tree(tmp_path / "html"), browser=str(fake))
    assert len(res.problems) == 3 and all("renders blank" in p for p in res.problems)
