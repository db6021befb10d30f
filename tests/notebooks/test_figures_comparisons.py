"""Every recorded comparison is well formed, and the lessons compare enough with intervals (issue: every
comparison a lesson states carries its uncertainty). Run after the notebooks executed."""

import re

import pytest

VERDICT = re.compile(r"^(no detectable difference|.+ ahead)$")
LESSONS_THAT_COMPARE = [f"{n:02d}" for n in range(11)]


def _comparisons(metrics):
    return {k: e for k, e in metrics.items() if isinstance(e.get("comparison"), dict)}


def test_every_comparison_has_an_interval_and_a_verdict_that_follows_from_it(metrics):
    found = _comparisons(metrics)
    assert found, "no comparison was recorded (report.record_comparison)"
    for key, e in found.items():
        c = e["comparison"]
        low, high = e["ci95"]
        assert (low, high) == pytest.approx((c["low"], c["high"])), key
        assert low <= e["value"] <= high, f"{key}: {e['value']} outside [{low}, {high}]"
        assert e["value"] == pytest.approx(c["difference"]), key
        assert VERDICT.match(e["verdict"]), key
        expected = (f"{c['a']} ahead" if low > 0 else f"{c['b']} ahead" if high < 0
                    else "no detectable difference")
        assert e["verdict"] == expected, f"{key}: verdict {e['verdict']!r} but interval [{low}, {high}]"
        assert e["detected"] == (expected != "no detectable difference"), key
        assert c["n"] >= 2 and c["method"], key


@pytest.mark.parametrize("chapter", LESSONS_THAT_COMPARE[1:])
def test_each_lesson_records_at_least_two_comparisons(metrics, chapter):
    if not any(k.startswith(f"ch{chapter}.") for k in metrics):
        pytest.skip(f"chapter {chapter} did not run in this build")
    keys = [k for k in _comparisons(metrics) if k.startswith(f"ch{chapter}.")]
    assert len(keys) >= 2, f"chapter {chapter} records {len(keys)} comparison(s): {keys}"


def test_compared_figures_carry_intervals(metrics):
    chapters = {k[2:4] for k in metrics if k.startswith("ch")}
    if not set(LESSONS_THAT_COMPARE) <= chapters:
        pytest.skip("not every lesson ran in this build")
    with_interval = [k for k, e in metrics.items() if e.get("ci95")]
    assert len(with_interval) >= 60, f"only {len(with_interval)} figures carry an interval"
