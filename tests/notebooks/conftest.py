"""Notebook stage: papermill executes every lesson once (test_execute.py), then the figure bands are checked.

At the end of the session every notebook's time is printed (and merged into ``_build/executed/timings.json``),
so CI logs show where the minutes went even when everything passed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.notebooks)


def pytest_terminal_summary(terminalreporter):
    mod = sys.modules.get("test_execute")
    timings = getattr(mod, "TIMINGS", None)
    if not timings:
        return
    tr = terminalreporter
    tr.section("notebook times (papermill)")
    total = 0.0
    for t in timings:
        total += t["seconds"]
        tr.write_line(f"{t['notebook']:<32} {t['seconds']:>7.1f} s   budget {t['budget_s'] / 60:>3.0f} min   "
                      f"profile {t['profile']:<5}  {t['status']}")
    tr.write_line(f"{'total':<32} {total:>7.1f} s")
    path = mod.write_timings()
    if path is not None:
        tr.write_line(f"timings written to {path}")


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
