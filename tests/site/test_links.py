"""Zero broken internal links: Debian's ``linkchecker`` (a maintained link checker) crawls the served site.

Every page, stylesheet, script and image reachable from the home page is fetched from 127.0.0.1; links to
other hosts are not fetched (there is no network). Anchors (``page.html#fragment``) are checked here, by
parsing each built page once: linkchecker's AnchorCheck plugin downloads and parses the whole target page
again for every anchor link (about 480 of them, 88 MB), which took four of CI's minutes for what this does
in a second.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _serve import serve

RC = Path(__file__).with_name("linkcheckerrc")


def _linkchecker(url: str, home: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("linkchecker")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("linkchecker is not installed: `make site-deps`")
        pytest.skip("linkchecker is not installed (`make site-deps` installs Debian's package)")
    return subprocess.run([exe, "--config", str(RC), "--no-status", url], capture_output=True, text=True, check=False,
                          timeout=900, env={**os.environ, "HOME": str(home)})


def _checked(stdout: str) -> int:
    m = re.search(r"(\d+) links? in (\d+) URLs? checked", stdout)
    return int(m.group(2)) if m else 0


class _Page(HTMLParser):
    """The ids a page defines (``id=``, ``<a name=>``) and the links it makes (``href``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if a.get("href"):
            self.hrefs.append(a["href"])


def broken_anchors(site: Path) -> tuple[int, list[str]]:
    """How many links to a fragment of a local page there are, and ``"page.html -> target.html#frag"`` for
    each one whose page lacks that fragment."""
    site = site.resolve()
    pages: dict[Path, _Page] = {}
    for f in sorted(site.rglob("*.html")):
        parser = _Page()
        parser.feed(f.read_text(encoding="utf-8", errors="replace"))
        pages[f.resolve()] = parser
    checked, broken = 0, []
    for f, page in pages.items():
        for href in page.hrefs:
            u = urlsplit(href)
            if u.scheme or u.netloc or not u.fragment:
                continue  # another host, mailto:, or no fragment
            target = (f.parent / unquote(u.path)).resolve() if u.path else f
            if target.is_dir():
                target = target / "index.html"
            if target.suffix != ".html" or target not in pages:
                continue  # a missing page is linkchecker's to report
            checked += 1
            if unquote(u.fragment) not in pages[target].ids:
                broken.append(f"{f.relative_to(site)} -> {href}")
    return checked, broken


def test_no_broken_internal_links(base_url, tmp_path):
    r = _linkchecker(f"{base_url}/index.html", tmp_path)
    print(r.stdout[-1500:])
    assert r.returncode == 0, f"broken links (linkchecker exit {r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    assert _checked(r.stdout) > 50, f"linkchecker checked only {_checked(r.stdout)} URLs: did it crawl the site?"


def test_no_broken_anchors(site_dir):
    checked, broken = broken_anchors(site_dir)
    assert not broken, "links to fragments their page lacks:\n" + "\n".join(broken[:50])
    assert checked > 100, f"only {checked} links to a fragment: did the book build its pages?"


def test_the_link_check_catches_a_broken_link_and_anchor(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<html><body><a href="a.html">a</a> <a href="gone.html">gone</a>'
                                     '<a href="a.html#nowhere">anchor</a> <a href="a.html#here">fine</a>'
                                     '<a href="#top">self</a> <a href="https://example.org/#x">x</a>'
                                     '</body></html>')
    (site / "a.html").write_text('<html><body><h1 id="here">A</h1></body></html>')
    with serve(site) as url:
        r = _linkchecker(f"{url}/index.html", tmp_path)
    assert r.returncode == 1, r.stdout
    assert "gone.html" in r.stdout, r.stdout
    assert "example.org" not in r.stdout.split("Statistics")[0] or "ignored" in r.stdout.lower()
    assert broken_anchors(site) == (3, ["index.html -> a.html#nowhere", "index.html -> #top"])
