"""Execute each lesson end to end (the smoke profile on a CPU) and store the result in the jupyter-cache
that `jupyter-book build` reads, so that the book build right after `make test` executes nothing again.

This mirrors myst-nb's cache execution (``myst_nb.core.execute.cache``): same cache folder, same
hashing of the notebook, same working directory (the notebook's folder).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

CACHE = ROOT / "_build" / ".jupyter_cache"
TIMEOUT_S = 1800  # per cell, as in _config.yml


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = nbformat.read(path, as_version=4)
    cache = get_cache(str(CACHE))
    record = cache.add_nb_to_project(str(path))
    start = time.perf_counter()
    result = single_nb_execution(nb, cwd=str(path.parent), allow_errors=False, timeout=TIMEOUT_S,
                                 meta_override=True)
    elapsed = time.perf_counter() - start
    if result.err is not None:
        pytest.fail(f"{path.name} failed after {elapsed:.0f} s:\n{result.exc_string}", pytrace=False)
    cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": result.time}),
                                check_validity=False, overwrite=True)
    print(f"{path.name}: executed in {result.time:.1f} s")
