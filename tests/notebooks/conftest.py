"""Notebook stage: papermill executes every lesson once (test_execute.py), then the figure bands are checked.

At the end of the session every notebook's time is printed (and merged into ``_build/executed/timings.json``),
so CI logs show where the minutes went even when everything passed.

The band files' ``metrics`` fixture runs each band test twice (issue 27): ``[smoke]`` against this run's
figures (``_build/metrics.json``, or ``$SBERT_LESSONS_METRICS``), and ``[full_record]`` against the committed
full record (``records/full/metrics.json``, file reads only). In the full-record pass a test that reads a
figure of a lesson that is stale or has no full run skips, naming the lesson and why; the session ends with a
summary of the record (which lessons are current, stale or missing). ``-k full_record`` runs only that pass
(no notebook has to execute); ``-k smoke`` only the other.
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
    tr = terminalreporter
    reports = [r for kind in ("passed", "failed", "skipped") for r in tr.stats.get(kind, [])]
    if any("full_record" in getattr(r, "nodeid", "") for r in reports):
        _full_record_summary(tr)
    mod = sys.modules.get("test_execute")
    timings = getattr(mod, "TIMINGS", None)
    if not timings:
        return
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


def _full_record_module():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import full_record
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return full_record


class RecordFigures(dict):
    """The committed full record's figures of the lessons that are current. Asking for a figure of a lesson
    that is stale or has no full run skips the test, saying which lesson and why (``-rs`` lists them)."""

    def __init__(self, figures: dict, absent: dict[str, tuple[str, str]]):
        super().__init__(figures)
        self.absent = absent  # chapter ("03") -> (lesson stem, why)

    def _skip_if_absent(self, key):
        if isinstance(key, str) and key.startswith("ch") and key[2:4] in self.absent:
            stem, why = self.absent[key[2:4]]
            pytest.skip(f"full record: {stem}: {why}")

    def __contains__(self, key):
        self._skip_if_absent(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self._skip_if_absent(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._skip_if_absent(key)
        return super().get(key, default)


@pytest.fixture(scope="session")
def full_record():
    """The committed full record (records/full/metrics.json) and each lesson's status against the code."""
    fr = _full_record_module()
    data = fr.load()
    return data, fr.statuses(data)


@pytest.fixture(scope="session")
def full_metrics(full_record):
    """The figures of the committed full record, for the lessons that are current (see RecordFigures)."""
    fr = _full_record_module()
    data, status = full_record
    current = [stem for stem, (state, _) in status.items() if state == "current"]
    absent = {stem[:2]: (stem, why) for stem, (state, why) in status.items() if state != "current"}
    return RecordFigures(fr.figures(data, current), absent)


@pytest.fixture(scope="session")
def smoke_metrics():
    """The recorded figures, read once the notebooks have executed (the execution tests run first)."""
    from sbert_lessons.report import load_metrics

    m = load_metrics()
    if not m:
        pytest.fail("_build/metrics.json is empty: the notebooks did not run (run `make test`)")
    return m


@pytest.fixture(scope="session", params=["smoke", "full_record"])
def metrics(request):
    """The figures a band test holds: this run's (``[smoke]``, whatever profile ran) or the committed full
    record's (``[full_record]``)."""
    return request.getfixturevalue("smoke_metrics" if request.param == "smoke" else "full_metrics")


def _full_record_summary(tr):
    try:
        fr = _full_record_module()
        status = fr.statuses(fr.load())
    except Exception as exc:  # noqa: BLE001 -- the record test itself fails; say so here too
        tr.write_line(f"full record unreadable: {exc}")
        return
    bad = {s: v for s, v in status.items() if v[0] != "current"}
    tr.section("full record (records/full/metrics.json)")
    tr.write_line(f"{len(status) - len(bad)} of {len(status)} lessons current; their full bands and verdicts "
                  "ran in the [full_record] tests")
    for stem, (state, why) in bad.items():
        tr.write_line(f"  {stem:<28} {state:<8} {why}")


@pytest.fixture(scope="session", autouse=True)
def _metrics_env():
    os.environ.setdefault("SBERT_LESSONS_METRICS", str(ROOT / "_build" / "metrics.json"))
    yield
