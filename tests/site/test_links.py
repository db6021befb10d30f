"""Zero broken internal links: Debian's ``linkchecker`` (a maintained link checker) crawls the served site.

Every page, stylesheet, script, image and anchor (``#fragment``, the AnchorCheck plugin) reachable from the
home page is fetched from 127.0.0.1; links to other hosts are not fetched (there is no network).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_no_broken_internal_links(base_url, tmp_path):
    r = _linkchecker(f"{base_url}/index.html", tmp_path)
    print(r.stdout[-1500:])
    assert r.returncode == 0, f"broken links (linkchecker exit {r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    assert _checked(r.stdout) > 50, f"linkchecker checked only {_checked(r.stdout)} URLs: did it crawl the site?"


def test_the_link_check_catches_a_broken_link_and_anchor(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<html><body><a href="a.html">a</a> <a href="gone.html">gone</a>'
                                     '<a href="a.html#nowhere">anchor</a> <a href="https://example.org/">x</a>'
                                     '</body></html>')
    (site / "a.html").write_text('<html><body><h1 id="here">A</h1></body></html>')
    with serve(site) as url:
        r = _linkchecker(f"{url}/index.html", tmp_path)
    assert r.returncode == 1, r.stdout
    assert "gone.html" in r.stdout and "nowhere" in r.stdout, r.stdout
    assert "example.org" not in r.stdout.split("Statistics")[0] or "ignored" in r.stdout.lower()
