"""The attacks batch of issue #24, graded as an unprivileged user from a private home folder; and
`make grade` from a clone of the course in such a folder.

One batch of A1 submissions, each an attack on the grader or on other students (a forged frame, a
deeply nested and an oversized frame on the grading channel, reading the checkout's ``.git`` and the
bundle, a ``/tmp`` hand-off between two students, a host unix socket, forked children that together
exceed the memory limit, tests kept slow past the whole-submission wall clock, a process left running,
two names that differ only by an accent, a written answer left as the placeholder, a truncated file),
graded by ``python -m sbert_lessons.classroom grade`` running as ``nobody`` (uid 65534) with the bundle,
the submissions and the output in a ``0700`` home folder. As root, ``as_user.py`` drops to that user in a
private mount namespace that shows it the course's Python (which lives under ``/root`` here); as a normal
user, the batch simply runs as that user.

Expected: every row as in ``EXPECTED``, the batch finishes (exit 1: one submission is not a notebook),
no process of a submission survives, the host socket never sees a connection, and no file in the output
holds hidden-test text, plainly or base64/hex encoded.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from classroom_helpers import PY, ROOT, assert_no_hidden_text, env, hidden_markers

from sbert_lessons import classroom as C

HERE = Path(__file__).resolve().parent
UID = 65534
WALL, CALL, CELL, MEMORY = 120, 180, 60, "3G"  # a call may last past the wall clock: the wall stops it
SLEEP_MARK = "98765"  # `sleep 98765` is the process a submission tries to leave behind

pytestmark = pytest.mark.skipif(C.isolation_mode() != "bubblewrap",
                                reason="the rootless sandbox needs bubblewrap (make classroom-deps)")

FORGE = """
import os, sys, json, struct
fd = int(sys.argv[-1])                      # the worker's end of the grading channel
{body}
os.write(fd, struct.pack(">Q", len(data)) + data)
"""
FORGED = FORGE.format(body='data = json.dumps({"event": "cell_done", "index": 3, "error": "forged"}).encode()')
NESTED = FORGE.format(body='data = (\'{"event": "cell_done", "index": 3, "error": \' + "[" * 300000 '
                           '+ "]" * 300000 + "}").encode()')
OVERSIZED = """
import os, sys, struct
os.write(int(sys.argv[-1]), struct.pack(">Q", 1 << 40) + b"{")
"""
GIT_READ = """
import base64, glob, os, zlib
blob = ""
paths = (glob.glob({root!r} + "/.git/**", recursive=True) + glob.glob({root!r} + "/assignments/**", recursive=True)
         + glob.glob({home!r} + "/**", recursive=True) + glob.glob("/tmp/sbert-bundle-*/**", recursive=True)
         + [{root!r} + "/.git/packed-refs", {root!r} + "/assignments/source/A1_word_vectors.ipynb"])
for p in paths:
    try:
        raw = open(p, "rb").read()
    except OSError:
        continue
    try:
        raw = zlib.decompress(raw)
    except zlib.error:
        pass
    blob += raw.decode("latin-1")
mounts = open("/proc/self/mountinfo").read()
seen = [w for w in (".git", "assignments", "autograder", {home!r}) if w in mounts]
i = blob.find("def test_")
if i >= 0:  # smuggle the hidden tests out, base64-encoded, through this cell's error message
    raise ValueError(base64.b64encode(blob[i:i + 360].encode()).decode())
raise PermissionError(f"found nothing; mountinfo names {{seen}}")
"""
TMP_WRITE = """
for d in ("/tmp", "/var/tmp", "/dev/shm"):
    with open(d + "/handoff.txt", "w") as f:
        f.write("HANDOFF from the writer")
"""
TMP_READ = """
import os, time
found = []
for _ in range(25):
    found = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(d + "/handoff.txt")]
    if found:
        break
    time.sleep(1)
if found:
    raise ValueError("hand-off received through " + ", ".join(found))
raise FileNotFoundError("no hand-off")
"""
SOCKET = """
import socket
tried = []
for addr in ({path!r}, "\\0" + {abstract!r}):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(addr)
    except OSError as e:
        tried.append(type(e).__name__)
        continue
    raise ValueError("connected to a host socket")
raise ConnectionError("no host socket reachable: " + ", ".join(tried))
"""
FORK_MEMORY = """
import os, time
for _ in range(5):
    if os.fork() == 0:
        hog = []
        try:
            while True:
                b = bytearray(100 << 20)
                for j in range(0, len(b), 4096):
                    b[j] = 1
                hog.append(b)
        except MemoryError:
            time.sleep(120)
        os._exit(0)
time.sleep(120)
"""
SLOW = """
import time
_fast_cosine = cosine
def cosine(u, v):  # the tests' first call never ends: only the whole-submission clock stops it
    time.sleep(1000)
    return _fast_cosine(u, v)
"""
LEAVE = f"import subprocess\nsubprocess.Popen(['sleep', '{SLEEP_MARK}'], start_new_session=True)"

# student -> (expected automatic score, what the reason must say ("" = none), cell error expected)
EXPECTED = {
    "reference": (9, "", None),
    "untouched": (0, "", None),
    "forged_frame": (0, "malformed message on the grading channel", None),
    "nested_frame": (0, "nested too deeply", None),
    "oversized_frame": (0, "too large", None),
    "git_read": (9, "", ("PermissionError", "found nothing; mountinfo names []")),
    "tmp_a_writer": (9, "", None),
    "tmp_b_reader": (9, "", ("FileNotFoundError", "no hand-off")),
    "host_socket": (9, "", ("ConnectionError", "no host socket reachable")),
    "fork_memory": (0, "memory limit", None),
    # graded first (names sort "Zoé", "Zoë", "_slow_tests", "forged_frame", ...): its lane is busy for the
    # whole wall clock while the other lane grades the rest
    "_slow_tests": (1, f"longer than the {WALL} s limit for the whole submission (stopped during the tests of q1",
                    None),
    "leaves_a_process": (9, "", None),
    "Zoé": (9, "", None),
    "Zoë": (9, "", None),
    "placeholder_answer": (9, "", None),
}


def _variant(ref: dict, cells: list[str], at: int = 3) -> dict:
    nb = copy.deepcopy(ref)
    for k, src in enumerate(cells):
        nb["cells"].insert(at + k, {"cell_type": "code", "metadata": {}, "outputs": [],
                                    "execution_count": None, "source": src})
    return nb


class HostSocket:
    """A unix socket on the host, by path (world-writable) and in the abstract namespace, counting
    connections."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sbert-host-sock-"))
        os.chmod(self.dir, 0o755)
        self.path = str(self.dir / "s")
        self.abstract = f"sbert-host-{os.getpid()}"
        self.connections = 0
        self.socks = []
        for addr in (self.path, "\0" + self.abstract):
            s = socket.socket(socket.AF_UNIX)
            s.bind(addr)
            s.listen(5)
            s.settimeout(0.5)
            self.socks.append(s)
        os.chmod(self.path, 0o777)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            for s in self.socks:
                try:
                    c, _ = s.accept()
                    self.connections += 1
                    c.close()
                except (TimeoutError, OSError):
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# Not run in CI by default: its slowest submission keeps one lane busy for the whole 120 s wall clock, and
# CI's budget is spent. It also once failed without a known cause (an earlier session, one of two quiet runs: "Zoé",
# a byte-for-byte copy of the reference, ran into the wall clock with 123 s of CPU while its twin took 3 s);
# the next 8 runs passed, 4 of them after starting submissions through `prlimit` instead of a
# `preexec_fn` (which Python documents as unsafe in a threaded process). A stopped submission's reason now
# names the phase it was stopped in. Run it with SBERT_CLASSROOM_ATTACKS=1 (the teachers' guide says so).
@pytest.mark.skipif(os.environ.get("CI") == "true" and os.environ.get("SBERT_CLASSROOM_ATTACKS") != "1",
                    reason="the attacks batch takes over 2 minutes (its slow submission runs into the 120 s "
                           "wall clock); SBERT_CLASSROOM_ATTACKS=1 runs it")
def test_attacks_batch_as_unprivileged_user(bundles, tmp_path):
    b = bundles["A1"]
    ref = json.loads(Path(b["reference"]).read_text())
    home = Path(tempfile.mkdtemp(prefix="sbert-teacher-"))  # 0700: a private home folder
    sock = HostSocket()
    try:
        grader = home / "A1" / "autograder"
        grader.mkdir(parents=True)
        shutil.copy(b["zip"], grader)
        shutil.copy(b["reference"], grader)
        subs = home / "A1-submissions"
        subs.mkdir()
        nbs = {
            "reference": ref,
            "untouched": json.loads(Path(b["student"]).read_text()),
            "forged_frame": _variant(ref, [FORGED]),
            "nested_frame": _variant(ref, [NESTED]),
            "oversized_frame": _variant(ref, [OVERSIZED]),
            "git_read": _variant(ref, [GIT_READ.format(root=str(ROOT), home=str(home))]),
            "tmp_a_writer": _variant(ref, [TMP_WRITE]),
            "tmp_b_reader": _variant(ref, [TMP_READ]),
            "host_socket": _variant(ref, [SOCKET.format(path=sock.path, abstract=sock.abstract)]),
            "fork_memory": _variant(ref, [FORK_MEMORY]),
            "_slow_tests": _variant(ref, [SLOW], at=len(ref["cells"])),
            "leaves_a_process": _variant(ref, [LEAVE]),
            "Zoé": ref,
            "Zoë": ref,
        }
        placeholder = copy.deepcopy(ref)  # the written answer's solution cell removed: only the placeholder
        placeholder["cells"] = [c for c in placeholder["cells"]
                                if not (c["cell_type"] == "markdown"
                                        and "otter_assign_solution_cell" in c["metadata"].get("tags", []))]
        nbs["placeholder_answer"] = placeholder
        for name, nb in nbs.items():
            (subs / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        (subs / "truncated.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = ')
        out = home / "A1-grades"
        e = env()
        e.update({"SBERT_LESSONS_CACHE": str(home / "cache"), "MPLCONFIGDIR": str(home / ".mpl"),
                  "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(home), "TMPDIR": str(home / "tmp")})
        (home / "tmp").mkdir()
        cmd = [PY, "-m", "sbert_lessons.classroom", "grade", str(next(grader.glob("*.zip"))), str(subs), str(out),
               "--jobs", "2", "--wall", str(WALL), "--call", str(CALL), "--cell", str(CELL), "--memory", MEMORY]
        if os.geteuid() == 0:
            shutil.chown(home, UID, UID)
            for p in home.rglob("*"):
                shutil.chown(p, UID, UID)
            cmd = ["unshare", "--mount", PY, str(HERE / "as_user.py"), str(UID), str(home), "--", *cmd]
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=home, env=e, capture_output=True, text=True, timeout=1200, check=False)
        wall = time.monotonic() - t0
        print(f"\nattacks batch ({len(nbs) + 1} submissions, 2 at a time, as uid "
              f"{UID if os.geteuid() == 0 else os.geteuid()}): {wall:.0f} s\n{p.stdout[-3000:]}")
        assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        assert "1 could not be graded: truncated" in p.stderr, p.stderr[-2000:]
        with open(out / "scores.csv", encoding="utf-8") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
        assert set(rows) == {*EXPECTED, "truncated"}
        assert rows["truncated"]["status"] == "not graded" and "not valid JSON" in rows["truncated"]["reason"]
        for name, (score, reason, cell_error) in EXPECTED.items():
            r = rows[name]
            fb = (out / "feedback" / f"{r['student_id']}.md").read_text(encoding="utf-8")
            assert r["status"] == "graded" and r["isolation"] == "bubblewrap", r
            assert float(r["score"]) == score, f"{name}: {r['score']} ({r['reason']})\n{fb}"
            assert (reason in r["reason"]) if reason else r["reason"] == "", f"{name}: {r['reason']}"
            assert float(r["possible"]) == 10 and float(r["manual_pending"]) == 1 and r["q5"] == "0"
            assert f"feedback for {name}" in fb
            if cell_error:
                assert f"`{cell_error[0]}`: {cell_error[1]}" in fb, f"{name}:\n{fb}"
        assert float(rows["_slow_tests"]["seconds"]) < WALL + 20, rows["_slow_tests"]
        assert rows["Zoé"]["student_id"] != rows["Zoë"]["student_id"]
        assert len(list((out / "feedback").glob("*.md"))) == len(rows)
        with open(out / "answers.csv", encoding="utf-8") as f:
            answers = {r["student"]: r for r in csv.DictReader(f)}
        assert answers["placeholder_answer"]["answered"] == "no"
        assert answers["reference"]["answered"] == "yes" and "sum" in answers["reference"]["answer"]
        with open(out / "lms.csv", encoding="utf-8") as f:
            lms = list(csv.DictReader(f))
        assert lms[0].keys() == {"student_id", "student", "score", "max"} and len(lms) == len(rows)
        assert sock.connections == 0, "a submission reached a host socket"
        left = subprocess.run(["pgrep", "-f", f"sleep {SLEEP_MARK}"], check=False, capture_output=True)
        assert left.returncode == 1, "a process left behind by a submission outlived its grading"
        assert_no_hidden_text(out, hidden_markers(b["zip"], tmp_path))
    finally:
        sock.close()
        shutil.rmtree(home, ignore_errors=True)


def test_make_grade_from_a_checkout_in_a_private_home(bundles):
    """A teacher's layout: the course cloned under a 0700 home folder, `make grade` run there by that
    (unprivileged) user, the course package imported from the clone: the pre-flight passes (the reference
    scores full marks) and the batch is graded."""
    b = bundles["A1"]
    home = Path(tempfile.mkdtemp(prefix="sbert-teacher-"))
    try:
        course = home / "course"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(course)], check=True, capture_output=True)
        assign = course / "_build" / "assignments" / "A1" / "autograder"
        assign.mkdir(parents=True)
        shutil.copy(b["zip"], assign)
        shutil.copy(b["reference"], assign)
        subs = home / "A1-submissions"
        subs.mkdir()
        shutil.copy(b["reference"], subs / "Zoé.ipynb")
        shutil.copy(b["student"], subs / "bob.ipynb")
        (home / "tmp").mkdir()
        stamp = Path(PY).parent.parent / ".sbert-lessons-installed"
        e = env()
        e.update({"SBERT_LESSONS_CACHE": str(home / "cache"), "MPLCONFIGDIR": str(home / ".mpl"),
                  "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(home), "TMPDIR": str(home / "tmp"),
                  "PYTHONPATH": str(course / "src")})
        cmd = ["make", "--no-print-directory", "-o", str(stamp), "grade", f"VENV={Path(PY).parent.parent}",
               "ASSIGNMENT=A1", f"SUBMISSIONS={subs}", f"OUT={home / 'grades'}", "GRADE_FLAGS=--jobs 2"]
        if os.geteuid() == 0:
            for p in [home, *home.rglob("*")]:
                os.lchown(p, UID, UID)
            cmd = ["unshare", "--mount", PY, str(HERE / "as_user.py"), str(UID), str(course), "--", *cmd]
        p = subprocess.run(cmd, cwd=course, env=e, capture_output=True, text=True, timeout=900, check=False)
        assert p.returncode == 0, f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        assert "pre-flight: reference 9/9" in p.stdout
        with open(home / "grades" / "scores.csv", encoding="utf-8") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
        assert rows["Zoé"]["score"] == "9" and rows["bob"]["score"] == "0", rows
        print(f"\nmake grade from {course} as uid {UID if os.geteuid() == 0 else os.geteuid()}: ok")
    finally:
        shutil.rmtree(home, ignore_errors=True)
