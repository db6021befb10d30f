"""Notebook stage: execute every lesson once, into the book's jupyter-cache, then check its figures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.notebooks)


@pytest.fixture(scope="session")
def metrics():
    """The recorded figures, read once the notebooks have executed (the execution tests run first)."""
    from sbert_lessons.report import load_metrics

    m = load_metrics()
    if not m:
        pytest.fail("_build/metrics.json is empty: the notebooks did not run (run `make test`)")
    return m


@pytest.fixture(scope="session", autouse=True)
def _metrics_env():
    os.environ.setdefault("SBERT_LESSONS_METRICS", str(ROOT / "_build" / "metrics.json"))
    yield
