"""The committed full record (records/full/metrics.json, issue 27), checked on every change in milliseconds.

- Which lessons are missing from the record, or stale (their code cells or package modules changed since
  the full run): printed as a warning and in the session summary, not a failure while issue 27 is open.
- The record itself is well formed: every entry is a finished full run with its environment, and every
  figure belongs to its lesson and came from that run.
The bands and held verdicts of every band file run against the record through the ``[full_record]``
parameter of their ``metrics`` fixture (conftest.py): a failure there fails CI.
"""

from __future__ import annotations

import warnings

NEEDED = ("profile", "device", "versions", "executed_at", "seconds", "code_hash", "modules", "figures")


def test_stale_or_missing_lessons_are_reported(full_record):
    _, status = full_record
    bad = {stem: f"{state}: {why}" for stem, (state, why) in status.items() if state != "current"}
    if bad:
        warnings.warn(UserWarning("full record: " + str(len(bad)) + " lesson(s) stale or missing:\n" +
                                  "\n".join(f"  {s}: {w}" for s, w in bad.items())))


def test_record_entries_are_finished_full_runs(full_record):
    data, status = full_record
    for stem, entry in data["lessons"].items():
        assert stem in status, f"{stem} is recorded but notebooks/{stem}.ipynb does not exist"
        missing = [k for k in NEEDED if k not in entry]
        assert not missing, f"{stem}: the record lacks {missing}"
        assert entry["profile"] == "full", stem
        assert "torch" in entry["versions"] and entry["seconds"] > 0, stem
        assert len(entry["code_hash"]) == 64 and entry["modules"], stem
        assert entry["figures"], f"{stem}: no figures"
        for key, e in entry["figures"].items():
            assert key.startswith(f"ch{stem[:2]}."), f"{stem} holds another lesson's figure {key}"
            assert e["profile"] == "full" and e["recorded_at"] >= entry["executed_at"], (stem, key)
            assert "value" in e, (stem, key)
            if "ci95" in e:
                low, high = e["ci95"]
                assert low <= e["value"] <= high, (stem, key)
