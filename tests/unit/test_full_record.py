"""tools/full_record.py (issue 27): the committed full record, its hashes, its status and its update."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import full_record as fr


def _lesson(cells: list[str], params: str = "profile = 'smoke'") -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 0. A lesson"),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    return json.loads(nbformat.writes(nb))


@pytest.fixture
def repo(tmp_path):
    pkg = tmp_path / "src" / "sbert_lessons"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""pkg"""\n')
    (pkg / "report.py").write_text("def record(*a, **k):\n    from . import profile\n")
    (pkg / "profile.py").write_text("X = 1\n")
    (pkg / "data.py").write_text("from sbert_lessons.cache import get\n")
    (pkg / "cache.py").write_text("def get():\n    pass\n")
    (pkg / "unused.py").write_text("Y = 2\n")
    (tmp_path / "notebooks").mkdir()
    nb = _lesson(["from sbert_lessons import report, data as d\nfrom sbert_lessons.report import record",
                  "!pip list  # a shell line\nrecord('ch00.a.b', 1)"])
    (tmp_path / "notebooks" / "00_first.ipynb").write_text(json.dumps(nb))
    (tmp_path / "notebooks" / "01_second.ipynb").write_text(json.dumps(_lesson(["import sbert_lessons.cache"])))
    return tmp_path


def _executed(repo: Path, stem="00_first", profile="full", at="2026-12-06T10:00:00", error=False) -> Path:
    nb = json.loads((repo / "notebooks" / f"{stem}.ipynb").read_text())
    injected = nbformat.v4.new_code_cell(f'profile = "{profile}"', metadata={"tags": ["injected-parameters"]})
    nb["cells"].insert(2, json.loads(nbformat.writes(nbformat.v4.new_notebook(cells=[injected])))["cells"][0])
    nb["metadata"]["sbert_lessons"] = {"run": {"profile": profile, "device": "cpu", "device_name": "x86_64 x2",
                                               "versions": {"torch": "2.13.0"}, "executed_at": at,
                                               "seconds": 12.5, "cpu_seconds": 20.0}}
    if error:
        nb["metadata"]["papermill"] = {"exception": True}
    out = repo / "_build" / "executed-full" / f"{stem}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb))
    return out


def _figures(repo: Path, at="2026-12-06T10:00:05+00:00", profile="full") -> Path:
    m = {"ch00.a.b": {"value": 1, "ci95": [0.5, 1.5], "profile": profile, "recorded_at": at},
         "ch00.old.gone": {"value": 2, "profile": "full", "recorded_at": "2026-01-01T00:00:00+00:00"},
         "ch01.other.x": {"value": 3, "profile": "full", "recorded_at": at}}
    path = repo / "_build" / "metrics-full.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(m))
    return path


def test_modules_are_followed_through_the_package(repo):
    nb = json.loads((repo / "notebooks" / "00_first.ipynb").read_text())
    assert fr.imported_modules(nb, repo) == ["data", "report"]
    assert list(fr.module_hashes(nb, repo)) == [f"sbert_lessons/{m}.py" for m in
                                                ("__init__", "cache", "data", "profile", "report")]
    other = json.loads((repo / "notebooks" / "01_second.ipynb").read_text())
    assert fr.imported_modules(other, repo) == ["cache"]


def test_code_hash_ignores_injected_parameters_and_trailing_blanks(repo):
    nb = json.loads((repo / "notebooks" / "00_first.ipynb").read_text())
    ran = json.loads(_executed(repo).read_text())
    assert fr.code_hash(ran) == fr.code_hash(nb)
    nb["cells"][2]["source"] += "   \n\n"
    assert fr.code_hash(nb) == fr.code_hash(ran)
    nb["cells"][1]["source"] = "profile = 'full'"  # the parameters cell counts
    assert fr.code_hash(nb) != fr.code_hash(ran)


def test_update_records_the_run_and_only_its_figures(repo):
    record = repo / "records" / "full" / "metrics.json"
    _executed(repo)
    lines = []
    done = fr.update(repo / "_build" / "executed-full", _figures(repo), None, record, repo, lines.append)
    assert done == ["00_first"] and "recorded 00_first: 1 figures" in lines[0]
    entry = fr.load(record)["lessons"]["00_first"]
    assert list(entry["figures"]) == ["ch00.a.b"]  # not the older figure, not chapter 1's
    assert entry["seconds"] == 12.5 and entry["device"] == "cpu" and entry["versions"] == {"torch": "2.13.0"}
    status = fr.statuses(fr.load(record), repo)
    assert status["00_first"][0] == "current" and status["01_second"] == ("missing", "no full run recorded")
    assert fr.figures(fr.load(record)) == {"ch00.a.b": entry["figures"]["ch00.a.b"]}


def test_a_changed_module_or_cell_makes_the_lesson_stale(repo):
    record = repo / "records" / "full" / "metrics.json"
    _executed(repo)
    fr.update(repo / "_build" / "executed-full", _figures(repo), ["00"], record, repo, lambda _: None)
    (repo / "src" / "sbert_lessons" / "unused.py").write_text("Y = 3\n")  # not imported: still current
    assert fr.statuses(fr.load(record), repo)["00_first"][0] == "current"
    (repo / "src" / "sbert_lessons" / "cache.py").write_text("def get():\n    return 1\n")
    state, why = fr.statuses(fr.load(record), repo)["00_first"]
    assert state == "stale" and "earlier version of this lesson" in why and "cache.py" in why
    nbp = repo / "notebooks" / "00_first.ipynb"
    nb = json.loads(nbp.read_text())
    nb["cells"][3]["source"] = "record('ch00.a.b', 2)"
    nbp.write_text(json.dumps(nb))
    assert "its code cells changed" in fr.statuses(fr.load(record), repo)["00_first"][1]


@pytest.mark.parametrize("kind, message", [("smoke", "not 'full'"), ("error", "stopped on an error"),
                                           ("changed", "code changed"), ("nofigures", "no ch00.* figure")])
def test_runs_that_cannot_be_recorded_say_why(repo, kind, message):
    exe = _executed(repo, profile="smoke" if kind == "smoke" else "full", error=kind == "error")
    metrics = json.loads(_figures(repo).read_text())
    if kind == "changed":
        nbp = repo / "notebooks" / "00_first.ipynb"
        nb = json.loads(nbp.read_text())
        nb["cells"].append(nbformat.v4.new_code_cell("x = 1"))
        nbp.write_text(json.dumps(nb))
    if kind == "nofigures":
        metrics = {}
    with pytest.raises(fr.RecordError, match=message):
        fr.run_entry(exe, metrics, repo)


def test_a_missing_module_is_a_clear_error(repo):
    nb = _lesson(["from sbert_lessons.nothere import x"])
    with pytest.raises(fr.RecordError, match="nothere"):
        fr.module_closure(["nothere"], repo)
    assert fr.imported_modules(nb, repo) == ["nothere"]


def test_check_refuses_stale_unless_allowed(repo, monkeypatch, capsys):
    monkeypatch.setattr(fr, "ROOT", repo)
    monkeypatch.setattr(fr, "lessons", lambda root=repo: sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    record = repo / "records" / "full" / "metrics.json"
    orig = fr.statuses
    monkeypatch.setattr(fr, "statuses", lambda data=None, root=repo: orig(data, repo))
    assert fr.main(["check", "--record", str(record)]) == 1
    assert "stale or missing (00, 01)" in capsys.readouterr().err
    assert fr.main(["check", "--allow-stale", "--record", str(record)]) == 0
    out = repo / "x.json"
    assert fr.main(["export", str(out), "--record", str(record)]) == 0
    assert json.loads(out.read_text()) == {}


def test_the_committed_record_reads(tmp_path):
    data = fr.load()  # the repository's own record: valid, and every entry names a lesson that exists
    stems = {p.stem for p in fr.lessons()}
    assert set(data["lessons"]) <= stems
    assert fr.load(tmp_path / "none.json") == {"lessons": {}}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(fr.RecordError, match="not valid JSON"):
        fr.load(tmp_path / "bad.json")


def test_book_pages_say_when_the_full_record_is_stale_or_missing():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import sbert_book

    assert sbert_book.record_note("current", "full run of 2026-12-06 on cpu") == ""
    stale = sbert_book.record_note("stale", "full figures from an earlier version of this lesson (run 2026-12-06; "
                                   "its code cells changed)")
    assert "full figures from an earlier version of this lesson" in stale and "sbert-record" in stale
    assert "no full run recorded" in sbert_book.record_note("missing", "no full run recorded")
    assert "shows the smoke profile" in sbert_book.record_note("current", "", fallback=True)
    status = sbert_book.full_record_status(ROOT)
    assert set(status) == {p.stem for p in fr.lessons()}
