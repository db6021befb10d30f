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
    total = cpu = 0.0
    tr.write_line(f"{'notebook':<32} {'wall':>9}  {'kernel CPU':>10}  {'budget':>7}  {'load':>5}  profile  status")
    for t in timings:
        total += t["seconds"]
        cpu += t.get("cpu_seconds") or 0.0
        c = f"{t['cpu_seconds']:.1f} s" if t.get("cpu_seconds") is not None else "-"
        load = f"{t['load']:.1f}" if t.get("load") is not None else "-"
        tr.write_line(f"{t['notebook']:<32} {t['seconds']:>7.1f} s  {c:>10}  {t['budget_s'] / 60:>3.0f} min  "
                      f"{load:>5}  {t['profile']:<7}  {t['status']}")
    tr.write_line(f"{'total':<32} {total:>7.1f} s  {cpu:>8.1f} s")
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
