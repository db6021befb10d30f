"""Site checks, after the book is built (``make site-check``): the built site served on 127.0.0.1.

``$SBERT_SITE_DIR`` names the built HTML (default ``_build/html``), ``$SBERT_BROWSER`` the Chromium binary
(default: ``chromium`` on the PATH; Debian's package, installed by ``make site-deps``). Outputs land in
``$SBERT_SITE_OUT`` (default ``_build``): ``screenshots/`` and ``site-check.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _serve import serve

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("SBERT_SITE_DIR") or ROOT / "_build" / "html")
OUT = Path(os.environ.get("SBERT_SITE_OUT") or ROOT / "_build")


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.site)


def pytest_configure(config):
    config.addinivalue_line("markers", "site: checks the built site in a browser (make site-check)")


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (SITE / "index.html").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no built site in {SITE}: run `make book` before `make site-check`")
        pytest.skip(f"no built site in {SITE} (`make book` builds it)")
    return SITE


@pytest.fixture(scope="session")
def base_url(site_dir):
    with serve(site_dir) as url:
        yield url
