"""End-to-end classroom kit (slow stage, `make test-classroom`): otter assign, grading in the sandbox,
hostile submissions, feedback without hidden tests, and the student edition of the book.

The grading tests need a sandbox (bubblewrap, installed by `make classroom-deps`; or root with unshare)
and the data mirror; the student-site test needs neither. The attacks batch (test_attacks.py) runs as an
unprivileged user.
Timings of the reference solutions are printed and written to ``_build/classroom_timings.json``.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from classroom_helpers import ASSIGNMENTS, PY, ROOT, assert_no_hidden_text, hidden_markers
from classroom_helpers import env as _env

from sbert_lessons import classroom as C

needs_sandbox = pytest.mark.skipif(C.isolation_mode() == "none",
                                   reason="the grading sandbox needs bubblewrap (or root with unshare)")


@pytest.mark.parametrize("short", list(ASSIGNMENTS))
@needs_sandbox
def test_reference_full_marks_untouched_zero(short, bundles, tmp_path):
    b = bundles[short]
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(b["reference"], subs / "reference.ipynb")
    shutil.copy(b["student"], subs / "untouched.ipynb")
    out = tmp_path / "out"
    cmd = [PY, "-m", "sbert_lessons.classroom", "grade", str(b["zip"]), str(subs), str(out),
           "--hide", str(ROOT / "assignments"), "--no-reference-check"]  # the reference is in the batch
    if "seed" in b:
        cmd += ["--seed-cache", str(b["seed"])]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, cwd=ROOT, env=_env(), capture_output=True)
    wall = time.monotonic() - t0
    with open(out / "scores.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    ref, blank = rows["reference"], rows["untouched"]
    auto = float(ref["possible"]) - float(ref["manual_pending"])
    assert float(ref["score"]) == auto > 0, (out / "feedback" / f"{ref['student_id']}.md").read_text()
    assert ref["reason"] == "" and ref["cell_errors"] == "0"
    assert float(blank["score"]) == 0.0
    fb = (out / "feedback" / f"{blank['student_id']}.md").read_text()
    assert "Score: 0 /" in fb and "public test" in fb and "failed" in fb
    assert re.search(r"Error at line \d+ in test q1", fb), "public failures show what was checked"
    assert_no_hidden_text(out, hidden_markers(b["zip"], tmp_path))
    timings = ROOT / "_build" / "classroom_timings.json"
    timings.parent.mkdir(exist_ok=True)
    data = json.loads(timings.read_text()) if timings.is_file() else {}
    data[short] = {"reference_s": float(ref["seconds"]), "untouched_s": float(blank["seconds"]),
                   "batch_wall_s": round(wall, 1), "loadavg_1min": os.getloadavg()[0]}
    timings.write_text(json.dumps(data, indent=1))
    print(f"\n{short}: reference graded in {float(ref['seconds']):.0f} s, batch of two in {wall:.0f} s "
          f"(load {os.getloadavg()[0]:.1f})")


def _variant(ref: dict, name: str, cells: list[str], folder: Path, at: int = 3) -> None:
    nb = copy.deepcopy(ref)
    for k, src in enumerate(cells):
        nb["cells"].insert(at + k, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                    "source": src})
    (folder / f"{name}.ipynb").write_text(json.dumps(nb))


@needs_sandbox
def test_hostile_submissions_are_contained_and_the_batch_goes_on(bundles, tmp_path):
    b = bundles["A1"]
    subs = tmp_path / "subs"
    subs.mkdir()
    canary = ROOT / "_build" / "classroom-canary"
    canary.mkdir(parents=True, exist_ok=True)
    (canary / "keep.txt").write_text("the grader's files\n")
    ref = json.loads(Path(b["reference"]).read_text())
    shutil.copy(b["reference"], subs / "reference.ipynb")
    steal = f"""
import glob
stolen, errors = "", []
for p in [{str(b["zip"])!r}, {str(b["reference"])!r},
          {str(ROOT / "assignments" / "source" / "A1_word_vectors.ipynb")!r},
          *glob.glob("/tmp/sbert-bundle-*/bundle/tests/*.py"), *glob.glob("/tmp/sbert-bundle-*/**", recursive=True),
          *glob.glob({str(Path(b["zip"]).parent)!r} + "/**", recursive=True)]:
    try:
        stolen += open(p, "rb").read().decode("latin-1")
    except OSError as e:
        errors.append(type(e).__name__)
if stolen:  # smuggle it out through a public test's failure message
    def cosine(u, v):
        raise ValueError(stolen[:20000])
else:
    raise PermissionError("nothing readable: " + ", ".join(errors))
"""
    _variant(ref, "many_hostile_cells", [
        "x = bytearray(64 * 2**30)",                                          # huge allocation
        "def grow():\n    hog = []\n    while True:\n        hog.append(bytearray(2**28))\ngrow()",  # unbounded
        f"import os, shutil\nos.system('rm -rf {canary}')\nshutil.rmtree({str(canary)!r})",  # deletion
        "import socket\nsocket.create_connection(('pypi.org', 443), timeout=5)",  # network
        steal,                                                                # hidden tests
        "def broken(:\n    pass",                                             # syntax error
    ], subs)
    _variant(ref, "endless_loop", ["while True:\n    pass"], subs)
    _variant(ref, "crash", ["import ctypes\nctypes.string_at(0)"], subs)
    _variant(ref, "fork_and_leave", ["import subprocess\nsubprocess.Popen(['sleep', '9999'], start_new_session=True)"], subs)
    cheat = ("from sbert_lessons import embeddings\nimport numpy as np\n"
             "def cosine(u, v):\n    return 0.5\n"
             "embeddings.cosine = lambda u, v: 0.5\nnp.allclose = lambda *a, **k: True")
    _variant(ref, "patches_the_checks", [cheat], subs, at=len(ref["cells"]))
    (subs / "not_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = ')
    out = tmp_path / "out"
    # the endless loop runs until the cell limit: 20 s, ample for A1's reference cells (each well under 5 s)
    limits = C.Limits(wall_s=400, cell_s=20, call_s=60, memory_bytes=3 << 30)
    results = {r.student: r for r in C.grade_folder(
        b["zip"], subs, out, limits=limits, hide=[ROOT / "assignments"], check_reference=False,
        log=lambda *_: None)}
    full = results["reference"].auto_possible
    assert results["reference"].score == full

    hostile = results["many_hostile_cells"]
    errs = [e["ename"] for e in hostile.cell_errors]
    assert errs[:2] == ["MemoryError", "MemoryError"], hostile.cell_errors
    assert errs[2] in ("PermissionError", "FileNotFoundError"), hostile.cell_errors
    assert errs[3] in ("gaierror", "OSError", "ConnectionRefusedError", "TimeoutError"), hostile.cell_errors
    assert errs[4] == "PermissionError" and "nothing readable" in hostile.cell_errors[4]["evalue"]
    assert errs[5] == "SyntaxError"
    assert hostile.score == full and hostile.reason == ""  # contained: the rest of the notebook still counts
    assert (canary / "keep.txt").read_text() == "the grader's files\n"

    loop = results["endless_loop"]
    assert loop.score == 0 and f"longer than the {limits.cell_s} s limit per cell" in loop.reason
    crash = results["crash"]
    assert crash.score == 0 and "signal" in crash.reason
    assert results["fork_and_leave"].score == full
    assert subprocess.run(["pgrep", "-f", "sleep 9999"], check=False, capture_output=True).returncode == 1, \
        "a process left behind by a submission outlived it"
    assert results["patches_the_checks"].score < full  # its patches live in its own process only
    bad = results["not_json"]
    assert bad.status == "not graded" and "not valid JSON" in bad.reason and bad.score == 0

    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["student"] for r in rows} == set(results)
    fb = {r.student: (out / "feedback" / f"{r.student_id}.md").read_text() for r in results.values()}
    assert f"longer than the {limits.cell_s} s limit per cell" in fb["endless_loop"]
    assert "`MemoryError`" in fb["many_hostile_cells"] and "`SyntaxError`" in fb["many_hostile_cells"]
    assert "not valid JSON" in fb["not_json"]
    assert_no_hidden_text(out, hidden_markers(b["zip"], tmp_path))


# ------------------------------------------------------------------------------- student edition
def _solution_lines(nb_path: Path) -> tuple[set[str], set[str]]:
    """Distinctive lines of the gated solutions (code, and prose before a ``solution-end``), and every
    line outside them."""
    nb = json.loads(nb_path.read_text())
    inside, sol, other = False, set(), set()
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        lines = [ln.strip() for ln in src.splitlines() if ln.strip()]
        if c["cell_type"] == "markdown" and ("{solution-start}" in src or "{solution-end}" in src):
            for ln in lines:
                if "{solution-end}" in ln:
                    inside = False
                elif "{solution-start}" in ln:
                    inside = True
                else:
                    (sol if inside else other).add(ln)
            continue
        (sol if inside else other).update(lines)
    return {ln for ln in sol - other if len(ln) >= 30 and not ln.startswith(("#", ":", "`"))}, other


def test_student_site_has_no_solution_text(tmp_path):
    """`make book-student`'s two steps, built from a copy with execution off (nothing is executed)."""
    import html as html_mod

    src = tmp_path / "src"
    counts = C.make_student_src(ROOT, src)
    assert sum(counts.values()) > 0, "the lessons have gated solutions to remove"
    subprocess.run([str(Path(PY).with_name("jupyter-book")), "build", str(src), "--path-output", str(tmp_path)],
                   check=True, cwd=ROOT, env=_env(), capture_output=True, timeout=1500)
    site = tmp_path / "_build" / "html"
    pages = {p.relative_to(site).as_posix(): html_mod.unescape(re.sub(r"<[^>]+>", "", p.read_text()))
             for p in site.rglob("*.html")}
    checked = 0
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = pages.get(f"notebooks/{nb_path.stem}.html")
        if page is None:
            continue  # not in the toc yet
        assert "solution-start" not in page
        sol, _ = _solution_lines(nb_path)
        for line in sol:
            assert line not in page, f"{nb_path.name}: solution text reached the student site: {line!r}"
            checked += 1
    assert checked > 0, "some solution lines were checked"


def test_gradescope_autograder_zip_layout(bundles):
    """The zip `otter assign` builds is a Gradescope autograder (documented in the teachers' guide)."""
    import zipfile

    b = bundles["A1"]
    with zipfile.ZipFile(b["zip"]) as z:
        names = set(z.namelist())
        cfg = json.loads(z.read("otter_config.json"))
        run = z.read("run_autograder").decode()
    assert {"run_autograder", "setup.sh", "run_otter.py", "environment.yml", "otter_config.json"} <= names
    assert {f"tests/q{i}.py" for i in range(1, 5)} <= names and "tests/q5.py" not in names  # q5: by hand
    assert cfg["assignment_name"] == "A1" and "run_otter.py" in run


def _tiny_bundle(folder: Path) -> Path:
    """A one-question otter bundle (test file in otter's format) and its reference notebook."""
    import zipfile

    folder.mkdir(parents=True)
    test = ('from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = "q1"\npoints = None\n\n'
            '@test_case(points=1, hidden=False)\ndef test_x(x):\n    assert x == 1, "x must be 1"\n\n'
            '@test_case(points=1, hidden=True)\ndef test_double(double):\n    assert double(21) == 42\n')
    zpath = folder / "T-autograder.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("otter_config.json", json.dumps({"assignment_name": "T"}))
        z.writestr("tests/q1.py", test)
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "x = 1\ndef double(n):\n    return 2 * n"}],
          "metadata": {"otter": {"assignment_name": "T"}}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "T.ipynb").write_text(json.dumps(nb))
    return zpath


def test_unisolated_grading_says_so_in_every_feedback_file(tmp_path):
    zpath = _tiny_bundle(tmp_path / "grader")
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(tmp_path / "grader" / "T.ipynb", subs / "ann.ipynb")
    (subs / "bob.ipynb").write_text((tmp_path / "grader" / "T.ipynb").read_text().replace("x = 1", "x = 2"))
    with pytest.raises(PermissionError, match="allow-unisolated"):
        C.grade_folder(zpath, subs, tmp_path / "out", isolation="none", log=lambda *_: None)
    res = {r.student: r for r in C.grade_folder(zpath, subs, tmp_path / "out", isolation="none",
                                                  allow_unisolated=True, jobs=2, log=lambda *_: None)}
    assert res["ann"].score == 2 and res["bob"].score == 1 and res["ann"].isolation == "none"
    for r in res.values():
        fb = (tmp_path / "out" / "feedback" / f"{r.student_id}.md").read_text()
        assert "graded WITHOUT isolation" in fb


@needs_sandbox
def test_preflight_stops_before_grading_when_the_reference_fails(tmp_path):
    zpath = _tiny_bundle(tmp_path / "grader")
    (tmp_path / "grader" / "T.ipynb").write_text(
        (tmp_path / "grader" / "T.ipynb").read_text().replace("return 2 * n", "return n"))
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(tmp_path / "grader" / "T.ipynb", subs / "ann.ipynb")
    p = subprocess.run([PY, "-m", "sbert_lessons.classroom", "grade", str(zpath), str(subs), str(tmp_path / "out")],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "reference solution scores 1/2" in p.stderr and "Traceback" not in p.stderr
    assert "no submission was graded" in p.stderr and not (tmp_path / "out" / "scores.csv").exists()


@pytest.mark.skipif(C.isolation_mode() != "bubblewrap", reason="needs bubblewrap (make classroom-deps)")
def test_bubblewrap_limits_come_from_prlimit_not_preexec(tmp_path):
    """With bubblewrap, a submission starts with no Python between fork and exec (``preexec_fn`` is unsafe
    in the threaded grader): ``prlimit`` sets the limits, and they hold inside the sandbox."""
    import shutil as _shutil

    from sbert_lessons.classroom import sandbox as S

    if _shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is missing: the grader falls back to preexec_fn")
    lim = S.Limits(wall_s=100, memory_bytes=2 << 30, file_bytes=5 << 20)
    box = S.Sandbox("bubblewrap", lim, private=tmp_path)
    assert box.preexec() is None
    code = ("import resource as r; print(*(r.getrlimit(getattr(r, 'RLIMIT_' + n))[1] "
            "for n in ('AS', 'CPU', 'FSIZE', 'CORE')))")
    scratch = tmp_path / "work"
    scratch.mkdir()
    p = subprocess.run(box.command([PY, "-c", code], scratch), cwd=scratch, env=box.env(scratch, "smoke"),
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == [str(2 << 30), str(100 * 2 + 60), str(5 << 20), "0"], p.stdout
