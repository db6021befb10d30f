import json
import math

import pytest

from sbert_lessons import profile, report


def test_record_writes_value_with_provenance(monkeypatch, tmp_path):
    monkeypatch.setattr(profile, "cuda_available", lambda: False)
    profile.setup("smoke")
    assert report.record("ch99.test.value", 1.5, ref=2.0, ref_source="a paper") == 1.5
    report.record("ch99.test.other", 3)
    data = json.loads((tmp_path / "metrics.json").read_text())
    e = data["ch99.test.value"]
    assert e["value"] == 1.5 and e["ref"] == 2.0 and e["ref_source"] == "a paper"
    assert e["profile"] == "smoke" and e["device"] == "cpu" and "torch" in e["versions"]
    assert set(data) == {"ch99.test.value", "ch99.test.other"}
    report.record("ch99.test.value", 2.5)  # re-recording replaces
    assert report.load_metrics()["ch99.test.value"]["value"] == 2.5


def test_record_accepts_numpy_scalars():
    import numpy as np

    report.record("ch99.test.np", np.float32(0.25))
    assert report.load_metrics()["ch99.test.np"]["value"] == 0.25


@pytest.mark.parametrize("key", ["stsb", "ch1.a.b", "ch01.Upper.b", "ch01.only"])
def test_bad_keys(key):
    with pytest.raises(report.MetricError, match="chNN"):
        report.record(key, 1.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, "82", None])
def test_bad_values(value):
    with pytest.raises(report.MetricError):
        report.record("ch99.test.bad", value)


def test_claim_rows_verdict_is_computed():
    rows = report.claim_rows([("a", 0.6964, 0.7035, 0.005), ("b", 82.03, 82.0, 0.1)])
    assert [r["held"] for r in rows] == [False, True]
    assert rows[0]["difference"] == pytest.approx(0.0071)
    md = report.claim_table([("a", 1.0, 1.2, 0.1)], source="s").data
    assert "**no**" in md and "+0.2000" in md


def test_metrics_path_finds_book_root(monkeypatch, tmp_path):
    monkeypatch.delenv("SBERT_LESSONS_METRICS")
    (tmp_path / "_toc.yml").write_text("")
    (tmp_path / "_config.yml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert report.metrics_path() == tmp_path / "_build" / "metrics.json"


def test_drop_stale_removes_only_this_chapters_older_figures(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({
        "ch06.old.x": {"value": 1, "recorded_at": "2026-12-06T03:00:00+00:00"},
        "ch06.new.x": {"value": 2, "recorded_at": "2026-12-06T05:00:00+00:00"},
        "ch07.old.x": {"value": 3, "recorded_at": "2026-12-06T03:00:00+00:00"}}))
    assert report.drop_stale("06", "2026-12-06T04:00:00", path) == ["ch06.old.x"]
    assert sorted(json.loads(path.read_text())) == ["ch06.new.x", "ch07.old.x"]
    with pytest.raises(report.MetricError, match="two digits"):
        report.drop_stale("6", "2026", path)
