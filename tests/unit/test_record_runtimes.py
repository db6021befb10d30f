"""tools/record_runtimes.py: the runtime page's recorded runs (one run per profile and device)."""

import importlib.util
import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("record_runtimes", ROOT / "tools" / "record_runtimes.py")
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)


def _executed(folder: Path, stem: str, profile: str, seconds: float) -> None:
    nb = nbformat.v4.new_notebook(metadata={"sbert_lessons": {"run": {
        "profile": profile, "device": "cpu", "device_name": "x86_64 x2", "seconds": seconds,
        "executed_at": "2026-11-25T19:00:00", "cpu_count": 2}}})
    nbformat.write(nb, folder / f"{stem}.ipynb")


def test_budget_status_applies_to_smoke_only_and_failures_are_kept(tmp_path):
    full, smoke = tmp_path / "full", tmp_path / "smoke"
    full.mkdir()
    smoke.mkdir()
    _executed(full, "09_clustering", "full", 640.5)
    (full / "timings.json").write_text(json.dumps({
        "09_clustering": {"seconds": 640.5, "status": "over budget"},
        "08_domain_adaptation": {"seconds": 99.0, "status": "failed"}}))
    notebooks, env = rr.collect(full)
    assert notebooks["09_clustering"]["status"] == "ok"          # smoke's 3-minute budget is not full's
    assert notebooks["08_domain_adaptation"] == {"seconds": 99.0, "status": "failed", "executed_at": ""}
    assert env["profile"] == "full"

    _executed(smoke, "09_clustering", "smoke", 200.0)
    (smoke / "timings.json").write_text(json.dumps({"09_clustering": {"seconds": 200.0, "status": "over budget"}}))
    assert rr.collect(smoke)[0]["09_clustering"]["status"] == "over budget"


def test_a_new_run_replaces_the_same_profile_and_device_only(tmp_path):
    out = tmp_path / "runtimes.json"
    out.write_text(json.dumps({"runs": [
        {"label": "old CPU", "profile": "full", "device": "cpu (x86_64 x2)", "note": "", "notebooks": {}},
        {"label": "GPU", "profile": "full", "device": "cuda (H100)", "note": "", "notebooks": {"00_x": {}}}]}))
    folder = tmp_path / "exe"
    folder.mkdir()
    _executed(folder, "00_intro", "full", 12.0)
    assert rr.main([str(folder), "--out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["label"] for r in runs] == ["GPU", "Full profile on a CPU"]
    assert runs[1]["device"] == "cpu (x86_64 x2)" and runs[1]["note"] == "2 CPU cores"
    assert runs[1]["notebooks"]["00_intro"]["seconds"] == 12.0


def test_a_rerun_keeps_the_note_unless_given_a_new_one(tmp_path):
    out = tmp_path / "runtimes.json"
    out.write_text(json.dumps({"runs": [
        {"label": "CPU", "profile": "full", "device": "cpu (x86_64 x2)", "note": "run beside another", "notebooks": {}}]}))
    folder = tmp_path / "exe"
    folder.mkdir()
    _executed(folder, "00_intro", "full", 12.0)
    assert rr.main([str(folder), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["runs"][0]["note"] == "run beside another"
    assert rr.main([str(folder), "--out", str(out), "--note", "alone"]) == 0
    assert json.loads(out.read_text())["runs"][0]["note"] == "alone"


def test_an_empty_folder_is_an_error(tmp_path, capsys):
    assert rr.main([str(tmp_path), "--out", str(tmp_path / "r.json")]) == 1
    assert "no executed notebooks" in capsys.readouterr().err


def test_a_rerun_of_some_lessons_keeps_the_others(tmp_path):
    out = tmp_path / "runtimes.json"
    out.write_text(json.dumps({"runs": [
        {"label": "CPU", "profile": "full", "device": "cpu (x86_64 x2)", "note": "", "notebooks": {
            "03_cross": {"seconds": 2770.0, "status": "stopped by hand", "executed_at": ""},
            "00_intro": {"seconds": 99.0, "status": "ok", "executed_at": "2026-11-25T19:00:00"}}}]}))
    folder = tmp_path / "exe"
    folder.mkdir()
    _executed(folder, "00_intro", "full", 12.0)
    assert rr.main([str(folder), "--out", str(out)]) == 0
    notebooks = json.loads(out.read_text())["runs"][0]["notebooks"]
    assert notebooks["00_intro"]["seconds"] == 12.0  # replaced by the new copy
    assert notebooks["03_cross"]["status"] == "stopped by hand"  # not in the folder: kept
