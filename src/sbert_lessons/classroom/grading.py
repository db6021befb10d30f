"""Grading: a folder of submitted notebooks against an otter autograder bundle.

Each submission runs in its sandbox (:mod:`.sandbox`); otter's test files run here, in the grader, and see
the submission only through the data channel (:mod:`.channel`). Written-answer questions (otter's
``manual: true``) are never scored automatically: they count 0 until the teacher grades them, and every
answer is exported to ``answers.csv``. One submission's failure, whatever it is, is that submission's
row (score 0 and the reason), never the end of the batch; every row reaches ``scores.csv`` as soon as it
is graded.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .channel import ChannelError, RemoteRef, StudentCodeError, WorkerGone, decode_value
from .sandbox import Limits, Sandbox, SandboxError, Worker, bwrap_problem, isolation_mode
from .worker import _is_grader_cell


# ------------------------------------------------------------------------------------ the bundle
@dataclass
class Bundle:
    """An otter autograder zip, unpacked into a private folder the submissions cannot see."""

    zip_path: Path
    folder: Path
    name: str
    test_files: list[Path]

    @classmethod
    def open(cls, zip_path: str | Path, workdir: Path) -> Bundle:
        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise ValueError(f"no grading bundle at {zip_path}: run 'make assignments' first")
        if not zipfile.is_zipfile(zip_path):
            raise ValueError(f"{zip_path.name} is not an otter autograder zip")
        folder = workdir / "bundle"
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(folder)
        cfg_path = folder / "otter_config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        tests = sorted((folder / "tests").glob("*.py"))
        if not tests:
            raise ValueError(f"{zip_path.name} holds no tests/*.py")
        return cls(zip_path, folder, str(cfg.get("assignment_name", zip_path.stem)), tests)


def load_test_file(path: Path):
    from otter.test_files.exception_test import ExceptionTestFile

    return ExceptionTestFile.from_file(str(path))


def test_params(tf: Any) -> list[str]:
    names: list[str] = []
    for tc in tf.test_cases:
        for p in tc.body._get_func_params():
            if p != "env" and p not in names:
                names.append(p)
    return names


def hidden_sources(bundle: Bundle) -> list[str]:
    """Source lines of hidden test cases (non-trivial ones): what must never reach feedback."""
    import inspect

    lines: set[str] = set()
    for path in bundle.test_files:
        tf = load_test_file(path)
        for tc in tf.test_cases:
            if tc.hidden:
                try:
                    src = inspect.getsource(tc.body.test_func)
                except (OSError, TypeError):
                    continue
                lines.update(ln.strip() for ln in src.splitlines() if len(ln.strip()) >= 12)
    return sorted(lines)


# ----------------------------------------------------------------------------------- submissions
class SubmissionError(ValueError):
    """The file cannot be graded at all (not JSON, not a notebook)."""


def load_notebook(path: Path) -> dict:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise SubmissionError(f"the file is not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise SubmissionError(f"the file is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                              "was the notebook saved completely?") from None
    except RecursionError:
        raise SubmissionError("the file is JSON nested too deeply to be a notebook") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError("the file is JSON but not a Jupyter notebook (no list of cells)")
    return nb


def _src(c: dict) -> str:
    s = c.get("source", "")
    return "".join(str(x) for x in s) if isinstance(s, list) else str(s)


def code_cells(nb: dict) -> list[tuple[int, str]]:
    cells, n = [], 0
    for c in nb["cells"]:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        n += 1
        src = _src(c)
        tags = (c.get("metadata") or {}).get("tags") or [] if isinstance(c.get("metadata"), dict) else []
        if "otter_ignore" in tags or _is_grader_cell(src):
            continue
        cells.append((n, src))
    return cells


def read_cells(path: Path) -> tuple[list[tuple[int, str]], str | None]:
    """Code cells ``(number, source)`` to run, and the notebook's otter assignment name."""
    nb = load_notebook(path)
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter.get("assignment_name")
    return code_cells(nb), name if isinstance(name, str) else None


# ------------------------------------------------------------------------- written-answer questions
PLACEHOLDER = "_Type your answer here, replacing this text._"
_BEGIN_Q, _END_Q = "<!-- BEGIN QUESTION -->", "<!-- END QUESTION -->"


@dataclass
class ManualQuestion:
    """A question otter marks ``manual: true`` (a written answer): graded by the teacher, never here."""

    name: str
    points: float
    prompt: str


def manual_questions(nb: dict) -> list[ManualQuestion]:
    """otter puts ``<!-- BEGIN QUESTION -->`` before the prompt of each manual question; the prompt says
    ``**Question N (…, P point(s)…)**`` (the course's masters always do)."""
    out = []
    for c in nb.get("cells", []):
        if not isinstance(c, dict) or c.get("cell_type") != "markdown":
            continue
        src = _src(c)
        if _BEGIN_Q not in src:
            continue
        prompt = src.split(_BEGIN_Q, 1)[1].strip()
        m = re.search(r"Question\s+(\w+)", prompt)
        pts = re.search(r"(\d+(?:\.\d+)?)\s+points?\b", prompt)
        name = f"q{m.group(1)}" if m else f"written{len(out) + 1}"
        out.append(ManualQuestion(name, float(pts.group(1)) if pts else 0.0, prompt[:300]))
    return out


def manual_answers(nb: dict, questions: list[ManualQuestion]) -> dict[str, str]:
    """The answer cells (``otter_answer_cell``) after each manual question's prompt in a submission."""
    answers: dict[str, list[str]] = {}
    current = None
    for c in nb.get("cells", []):
        if not isinstance(c, dict):
            continue
        src = _src(c)
        if c.get("cell_type") == "markdown" and _BEGIN_Q in src:
            prompt = src.split(_BEGIN_Q, 1)[1].strip()
            current = next((q.name for q in questions if q.prompt[:80] == prompt[:80]), None)
            if current is None:
                m = re.search(r"Question\s+(\w+)", prompt)
                current = next((q.name for q in questions if m and q.name == f"q{m.group(1)}"), None)
            continue
        if _END_Q in src or (c.get("cell_type") == "raw" and "END QUESTION" in src):
            current = None
            continue
        if current is not None and src.strip() and src.strip() != PLACEHOLDER:
            answers.setdefault(current, []).append(src.strip())
        elif current is not None:
            answers.setdefault(current, [])
    return {k: "\n\n".join(v).strip() for k, v in answers.items()}


def is_unanswered(text: str | None) -> bool:
    t = (text or "").strip()
    return t in ("", "...", PLACEHOLDER) or t.replace(PLACEHOLDER, "").strip() == ""


# --------------------------------------------------------------------------------------- results
@dataclass
class QuestionResult:
    name: str
    score: float
    possible: float
    cases: list[dict] = field(default_factory=list)  # name, hidden, passed, points, message (public only)
    manual: bool = False
    answer: str | None = None                        # written answer (manual questions)


@dataclass
class SubmissionResult:
    student: str
    status: str                  # "graded" | "not graded"
    score: float
    possible: float
    reason: str = ""
    questions: list[QuestionResult] = field(default_factory=list)
    cell_errors: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0     # the submission's processes plus the grader's own work on it
    student_id: str = ""
    isolation: str = ""

    @property
    def manual_pending(self) -> float:
        return float(sum(q.possible for q in self.questions if q.manual))

    @property
    def auto_possible(self) -> float:
        return float(sum(q.possible for q in self.questions if not q.manual))


def student_id(name: str) -> str:
    """A stable, collision-free file name for a student: an ASCII form of the name (accents dropped)
    and 8 hex digits of the SHA-256 of the exact name, so "Zoé" and "Zoë" (or "Zoé" typed in two
    Unicode normal forms, or "Alice" and "alice" on a case-insensitive disk) get different files."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_name).strip("._")[:60] or "student"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------- grading
def grade_submission(path: Path, bundle: Bundle, student: str, sandbox: Sandbox, profile: str = "smoke",
                     manual: list[ManualQuestion] | None = None) -> SubmissionResult:
    """Run one notebook in its sandbox and grade it with the bundle's tests (run here, not there)."""
    import resource

    limits = sandbox.limits
    t0 = time.monotonic()
    deadline = t0 + limits.wall_s
    ru0 = resource.getrusage(resource.RUSAGE_THREAD)
    test_files = [load_test_file(p) for p in bundle.test_files]
    possible = float(sum(tf.possible for tf in test_files))
    res = SubmissionResult(student=student, status="graded", score=0.0, possible=possible,
                           student_id=student_id(student), isolation=sandbox.mode)
    try:
        nb = load_notebook(path)
        cells = code_cells(nb)
    except SubmissionError as e:
        res.status, res.reason = "not graded", f"not a readable notebook: {e}"
        _zero_questions(res, test_files, "the notebook could not be read")
        _add_manual(res, manual or [], {})
        res.seconds = time.monotonic() - t0
        return res
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    nb_name = otter.get("assignment_name")
    if isinstance(nb_name, str) and nb_name != bundle.name:
        res.notes.append(f"this notebook belongs to assignment {nb_name[:40]!r}, graded as {bundle.name!r}")
    manual = manual_questions(nb) if manual is None else manual
    scratch = Path(tempfile.mkdtemp(prefix="sbert-grade-", dir=sandbox.private))
    worker = None
    try:
        if sandbox.mode != "bubblewrap" and sandbox.seed_cache is not None:
            shutil.copytree(sandbox.seed_cache, scratch / "cache")  # a copy: no submission alters the next
        worker = Worker(cells, scratch, sandbox, profile, deadline)
        _execute(res, worker, limits)
        if worker.gone:
            res.reason = worker.gone
        _run_tests(res, test_files, worker)
        if worker.gone and not res.reason:  # stopped while the tests ran (wall clock, call limit, memory)
            res.reason = worker.gone
        if worker.violation:  # a forged or malformed frame: the submission's failure, whole
            res.reason = worker.violation
            for q in res.questions:
                q.score = 0.0
    finally:
        if worker is not None:
            worker.kill("done")
        shutil.rmtree(scratch, ignore_errors=True)
    _add_manual(res, manual, manual_answers(nb, manual))
    res.score = float(sum(q.score for q in res.questions))
    res.seconds = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_THREAD)
    res.cpu_seconds = (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
                       + ((worker.cpu_s or 0.0) if worker is not None else 0.0))
    return res


def _execute(res: SubmissionResult, worker: Worker, limits: Limits) -> None:
    """Read the notebook's progress until it has run (or stops, or breaks a limit)."""
    current, cell_started = None, time.monotonic()
    while True:
        try:
            msg = worker.read(cell_started + limits.cell_s)
        except TimeoutError:
            worker.kill(f"code cell {current} ran longer than the {limits.cell_s:.0f} s limit "
                        "per cell (an endless loop?)")
            return
        except WorkerGone:
            return
        ev = msg.get("event")
        idx = msg.get("index")
        if ev in ("cell_start", "cell_done") and type(idx) is not int:
            worker.protocol_error(f"a {ev} without a cell number")
            return
        if ev == "cell_start":
            current, cell_started = idx, time.monotonic()
            worker.phase = f"code cell {idx}"
        elif ev == "cell_done":
            e = msg.get("error")
            if e is None:
                continue
            if not (isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("ename", "evalue"))
                    and (e.get("line") is None or type(e.get("line")) is int)):
                worker.protocol_error("a cell error that is not one")
                return
            res.cell_errors.append({"cell": idx, "ename": e["ename"][:80], "evalue": e["evalue"][:500],
                                    "line": e.get("line")})
            if len(res.cell_errors) > 1000:
                worker.protocol_error("more cell errors than the notebook has cells")
                return
        elif ev == "executed":
            return
        else:
            worker.protocol_error(f"unknown event {str(ev)[:30]!r}")
            return


def _zero_questions(res: SubmissionResult, test_files: list, why: str) -> None:
    for tf in test_files:
        res.questions.append(QuestionResult(tf.name, 0.0, float(tf.possible), [
            {"name": tc.name, "hidden": tc.hidden, "passed": False, "points": tc.points,
             "message": None if tc.hidden else why} for tc in tf.test_cases]))


def _add_manual(res: SubmissionResult, manual: list[ManualQuestion], answers: dict[str, str]) -> None:
    for q in manual:
        res.questions.append(QuestionResult(q.name, 0.0, q.points, manual=True, answer=answers.get(q.name)))
    res.possible = float(sum(q.possible for q in res.questions))


def _run_tests(res: SubmissionResult, test_files: list, worker: Worker) -> None:
    from otter.test_files.abstract_test import TestCaseResult

    names = sorted({n for tf in test_files for n in test_params(tf)})
    env: dict[str, Any] = {}
    fetch_error = None
    if names:
        worker.phase = "the request for the notebook's variables"
        try:
            resp = worker.request({"op": "get", "names": names}, worker.limits.call_s)
            values = resp.get("values")
            if not resp.get("ok") or not isinstance(values, dict):
                raise worker.protocol_error("the answer to the request for its variables is not one")
            for n, enc in values.items():
                if n not in names or not isinstance(enc, dict) or enc.get("t") == "missing":
                    continue
                try:
                    env[n] = decode_value(enc, ref_factory=lambda d, n=n: RemoteRef(worker, [n], d.get("type")))
                except ChannelError as e:
                    raise worker.protocol_error(str(e)) from None
                except StudentCodeError:
                    continue
        except WorkerGone as e:
            fetch_error = str(e)
    for tf in test_files:
        if fetch_error is not None:
            tf.test_case_results = [TestCaseResult(tc, f"❌ not run: {fetch_error}", False)
                                    for tc in tf.test_cases]
        else:
            import warnings

            worker.phase = f"the tests of {tf.name}"
            with warnings.catch_warnings():  # library warnings would print test source on the console
                warnings.simplefilter("ignore")
                tf.run(env)
        cases = []
        for r in tf.test_case_results:
            msg = None
            if not r.test_case.hidden and not r.passed:
                msg = (r.message or "").replace("❌ Test case failed\n", "").strip()
                if worker.gone and "not run" not in msg:
                    msg += f"\n(the notebook's process had stopped: {worker.gone})"
            cases.append({"name": r.test_case.name, "hidden": r.test_case.hidden, "passed": bool(r.passed),
                          "points": r.test_case.points, "message": msg})
        res.questions.append(QuestionResult(tf.name, float(tf.score), float(tf.possible), cases))


# ---------------------------------------------------------------------------------------- output
UNISOLATED_NOTE = ("graded WITHOUT isolation (the teacher passed --allow-unisolated): the notebook ran with "
                   "resource limits only")


def feedback_text(res: SubmissionResult, assignment: str) -> str:
    """The per-student feedback file (Markdown). Hidden tests: name and passed/failed only."""
    pct = 100 * res.score / res.possible if res.possible else 0.0
    out = [f"# {assignment}: feedback for {res.student}", "",
           f"**Score: {res.score:g} / {res.possible:g} ({pct:.0f}%)**", ""]
    if res.manual_pending:
        out += [(f"{res.manual_pending:g} of these points are for written answers that your teacher "
                 "grades by hand; they count 0 until then."), ""]
    if res.reason:
        out += [f"**Your notebook could not be run to the end:** {res.reason}.", ""]
    for n in res.notes:
        out += [f"Note: {n}.", ""]
    if res.cell_errors:
        out += ["## Errors while running your notebook", ""]
        for e in res.cell_errors:
            where = f"code cell {e['cell']}" + (f", line {e['line']}" if e.get("line") else "")
            out.append(f"- {where}: `{e['ename']}`: {e['evalue']}")
        out.append("")
    out += ["## Questions", ""]
    for q in res.questions:
        if q.manual:
            state = ("no answer found (the placeholder text is still there)" if is_unanswered(q.answer)
                     else "answer received")
            out += [f"### {q.name} (written answer): to be graded by your teacher, 0 / {q.possible:g} until then",
                    "", f"- {state}", ""]
            continue
        out += [f"### {q.name}: {q.score:g} / {q.possible:g}", ""]
        hidden_i = 0
        for c in q.cases:
            mark = "passed" if c["passed"] else "failed"
            if c["hidden"]:
                hidden_i += 1
                out.append(f"- hidden test {hidden_i}: {mark}")
            else:
                out.append(f"- public test `{c['name']}`: {mark}")
                if c.get("message"):
                    out += ["", "  ```", *("  " + ln for ln in str(c["message"])[:2000].splitlines()),
                            "  ```", ""]
        out.append("")
    out += [("Hidden tests are not shown; the public ones are the checks in your notebook "
             "(`grader.check`)."), ""]
    return "\n".join(out)


_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")


def decoded_views(text: str) -> list[str]:
    """``text`` and what its base64 and hex runs decode to (for looking for smuggled hidden tests)."""
    views = [text]
    for run in _HEX_RUN.findall(text):
        try:
            views.append(bytes.fromhex(run).decode("latin-1"))
        except ValueError:
            pass
    for run in _B64_RUN.findall(text):
        for pad in ("", "=", "=="):
            try:
                raw = (base64.urlsafe_b64decode if ("-" in run or "_" in run) else base64.b64decode)(run + pad)
                views.append(raw.decode("latin-1"))
                break
            except (binascii.Error, ValueError):
                continue
    return views


def scrub(text: str, secrets: list[str]) -> str:
    """Belt and braces: drop any line that contains a hidden test's source line, plainly or in a base64
    or hex run."""
    keep = []
    for ln in text.splitlines():
        views = decoded_views(ln) if len(ln) >= 16 else [ln]
        if not any(s in v for v in views for s in secrets):
            keep.append(ln)
    return "\n".join(keep) + "\n"


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``name.ipynb`` files, or one notebook per student folder (``name/anything.ipynb``)."""
    subs: list[tuple[str, Path]] = []
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and p.suffix == ".ipynb":
            subs.append((unicodedata.normalize("NFC", p.stem), p))
        elif p.is_dir() and not p.name.startswith("."):
            nbs = sorted(x for x in p.glob("*.ipynb") if not x.name.startswith("."))
            if nbs:
                subs.append((unicodedata.normalize("NFC", p.name), nbs[0]))
    return subs


SCORE_COLUMNS = ["student_id", "student", "assignment", "status"]
TAIL_COLUMNS = ["score", "possible", "manual_pending", "percent", "cell_errors", "reason", "seconds",
                "cpu_seconds", "isolation"]


def _score_row(r: SubmissionResult, assignment: str, qnames: list[str]) -> list[str]:
    by = {q.name: q.score for q in r.questions}
    return [r.student_id or student_id(r.student), r.student, assignment, r.status,
            *(f"{by.get(q, 0):g}" for q in qnames), f"{r.score:g}", f"{r.possible:g}", f"{r.manual_pending:g}",
            f"{100 * r.score / r.possible:.1f}" if r.possible else "0.0", str(len(r.cell_errors)), r.reason,
            f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}", r.isolation]


def _write_csv(path: Path, results: list[SubmissionResult], assignment: str) -> None:
    qnames = [q.name for q in results[0].questions] if results else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*SCORE_COLUMNS, *qnames, *TAIL_COLUMNS])
        for r in results:
            w.writerow(_score_row(r, assignment, qnames))


class BatchOutput:
    """``scores.csv``, ``lms.csv`` and ``answers.csv`` written row by row as submissions finish (a crash
    loses nothing graded), re-sorted by student at the end; ``feedback/<student id>.md``."""

    def __init__(self, out: Path, assignment: str, qnames: list[str], secrets: list[str]):
        self.out, self.assignment, self.qnames, self.secrets = out, assignment, qnames, secrets
        self.lock = threading.Lock()
        self.results: list[SubmissionResult] = []
        (out / "feedback").mkdir(parents=True, exist_ok=True)
        self.files = {
            "scores.csv": [*SCORE_COLUMNS, *qnames, *TAIL_COLUMNS],
            "lms.csv": ["student_id", "student", "score", "max"],
            "answers.csv": ["student_id", "student", "question", "points", "answered", "answer"],
        }
        for name, header in self.files.items():
            with open(out / name, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(header)

    def _rows(self, r: SubmissionResult) -> dict[str, list[list[str]]]:
        sid = r.student_id or student_id(r.student)
        return {
            "scores.csv": [_score_row(r, self.assignment, self.qnames)],
            "lms.csv": [[sid, r.student, f"{r.score:g}", f"{r.possible:g}"]],
            "answers.csv": [[sid, r.student, q.name, f"{q.possible:g}", "no" if is_unanswered(q.answer) else "yes",
                             scrub(q.answer or "", self.secrets).strip()] for q in r.questions if q.manual],
        }

    def add(self, r: SubmissionResult) -> None:
        text = scrub(feedback_text(r, self.assignment), self.secrets)
        with self.lock:
            (self.out / "feedback" / f"{r.student_id}.md").write_text(text, encoding="utf-8")
            for name, rows in self._rows(r).items():
                with open(self.out / name, "a", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(rows)
                    f.flush()
                    os.fsync(f.fileno())
            self.results.append(r)

    def finish(self) -> None:
        """Rewrite each file sorted by student (atomically: a crash here keeps the unsorted copy)."""
        with self.lock:
            results = sorted(self.results, key=lambda r: (r.student.casefold(), r.student))
            for name, header in self.files.items():
                tmp = self.out / f".{name}.tmp"
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(header)
                    for r in results:
                        w.writerows(self._rows(r)[name])
                os.replace(tmp, self.out / name)


class PreflightError(RuntimeError):
    """Grading would give everyone zero: the sandbox or the reference solution fails (nothing graded)."""


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_jobs(limits: Limits) -> int:
    """One submission per core, as many as the memory limit allows in the machine's memory."""
    cores = _cores()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = limits.memory_bytes * cores
    return max(1, min(cores, mem // max(limits.memory_bytes, 1)))


def grade_folder(bundle_zip: str | Path, submissions: str | Path, out: str | Path, *,
                 limits: Limits | None = None, hide: list[str | Path] = (), profile: str = "smoke",
                 allow_unisolated: bool = False, seed_cache: str | Path | None = None,
                 reference: str | Path | None = None, check_reference: bool = True, jobs: int | None = None,
                 isolation: str = "auto", log=print) -> list[SubmissionResult]:
    """Grade every notebook in ``submissions`` into ``out``: ``scores.csv``, ``lms.csv`` (student id,
    score, max), ``answers.csv`` (written answers to grade by hand) and ``feedback/<student id>.md``.

    Before any submission: the sandbox must start the course's Python and the reference solution
    (``reference``; by default the one notebook beside the bundle zip, where ``otter assign`` puts it)
    must score full marks on the automatic questions (``check_reference=False`` skips that grading), else
    :class:`PreflightError`. The written-answer questions are read from the reference.
    ``seed_cache``: a course-cache folder copied into every submission's own (empty) cache before it
    runs, e.g. the embeddings of A3's slice made once by ``make assignments``. ``jobs``: submissions
    graded at once (default: one per core, as memory allows).
    """
    limits = limits or Limits()
    mode = isolation_mode(isolation)
    if mode == "none" and not allow_unisolated:
        raise PermissionError(
            f"no sandbox available: {bwrap_problem() or 'bubblewrap was not chosen'}, and the grader is not "
            "root. Install it (sudo apt-get install bubblewrap, or make classroom-deps; it runs without root) "
            "and allow unprivileged user namespaces, or pass --allow-unisolated to grade "
            "with resource limits only (submissions could then read your files, use the network and touch "
            "each other's work; every feedback file would say so)")
    from ..profile import quiet_libraries

    quiet_libraries()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise ValueError(f"no folder of submissions at {submissions}")
    subs = find_submissions(submissions)
    if not subs:
        raise ValueError(f"no .ipynb submissions in {submissions}")
    ids = [student_id(s) for s, _ in subs]
    if len(set(ids)) != len(ids):
        raise ValueError("two submissions map to the same student id: rename one of them")
    private = Path(tempfile.mkdtemp(prefix="sbert-bundle-"))  # 0700, the grader's
    old_cache = os.environ.get("SBERT_LESSONS_CACHE")
    try:
        if seed_cache and Path(seed_cache).is_dir():
            # the grader's own computations (the tests) start from a private copy of the seed as well
            shutil.copytree(seed_cache, private / "cache")
            os.environ["SBERT_LESSONS_CACHE"] = str(private / "cache")
        bundle = Bundle.open(bundle_zip, private)
        secrets = hidden_sources(bundle)
        hidden_paths = [Path(bundle_zip).resolve().parent, submissions, out, *[Path(h).resolve() for h in hide]]
        sandbox = Sandbox(mode, limits, private, hidden_paths, Path(seed_cache) if seed_cache else None)
        if reference is None:
            beside = sorted(Path(bundle_zip).resolve().parent.glob("*.ipynb"))
            reference = beside[0] if len(beside) == 1 else None
        manual = None
        if reference is not None:
            try:
                manual = manual_questions(load_notebook(Path(reference)))
            except (OSError, SubmissionError) as e:
                raise PreflightError(f"cannot read the reference solution {reference}: {e}") from None
        log(f"pre-flight: the {mode} sandbox starts the course's Python ...")
        sandbox.check()
        if reference is not None and check_reference:
            log("pre-flight: grading the reference solution ...")
            r = grade_submission(Path(reference), bundle, "reference", sandbox, profile, manual)
            if r.score != r.auto_possible or r.status != "graded":
                failed = [c["name"] for q in r.questions for c in q.cases if not c["passed"]]
                raise PreflightError(
                    f"the reference solution scores {r.score:g}/{r.auto_possible:g} in the sandbox, not full "
                    f"marks: {r.reason or 'failed: ' + ', '.join(failed[:6])}"
                    + (f"; its cells raised: {r.cell_errors[0]['ename']}: {r.cell_errors[0]['evalue'][:200]}"
                       if r.cell_errors else "")
                    + ". Fix the environment (or the limits) before grading; no submission was graded")
            log(f"pre-flight: reference {r.score:g}/{r.auto_possible:g} in {r.seconds:.0f} s")
        qnames = [load_test_file(p).name for p in bundle.test_files] + [q.name for q in (manual or [])]
        batch = BatchOutput(out, bundle.name, qnames, secrets)
        auto_total = float(sum(load_test_file(p).possible for p in bundle.test_files))
        log_lock = threading.Lock()

        def one(item: tuple[str, Path]) -> SubmissionResult:
            student, path = item
            try:
                r = grade_submission(path, bundle, student, sandbox, profile, manual)
            except Exception as e:  # noqa: BLE001 - whatever it is, it is this submission's row
                r = SubmissionResult(student=student, status="not graded", score=0.0, possible=auto_total,
                                     reason=f"the grader could not grade it ({type(e).__name__}: {str(e)[:200]})",
                                     student_id=student_id(student), isolation=mode)
            if mode == "none":
                r.notes.insert(0, UNISOLATED_NOTE)
            batch.add(r)
            with log_lock:
                log(f"  {student}: {r.score:g}/{r.possible:g} in {r.seconds:.0f} s ({r.cpu_seconds:.0f} s CPU)"
                    + (f" ({r.reason})" if r.reason else ""))
            return r

        n_jobs = max(1, jobs or default_jobs(limits))
        sandbox.threads = max(1, _cores() // n_jobs)
        log(f"grading {len(subs)} submissions, {n_jobs} at a time ({mode} sandbox) ...")
        if n_jobs == 1:
            results = [one(s) for s in subs]
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                results = list(pool.map(one, subs))
        batch.finish()
    finally:
        if old_cache is None:
            os.environ.pop("SBERT_LESSONS_CACHE", None)
        else:
            os.environ["SBERT_LESSONS_CACHE"] = old_cache
        shutil.rmtree(private, ignore_errors=True)
    return results


__all__ = [
    "BatchOutput",
    "Bundle",
    "ManualQuestion",
    "PreflightError",
    "QuestionResult",
    "SandboxError",
    "SubmissionError",
    "SubmissionResult",
    "decoded_views",
    "feedback_text",
    "find_submissions",
    "grade_folder",
    "grade_submission",
    "hidden_sources",
    "load_notebook",
    "load_test_file",
    "manual_answers",
    "manual_questions",
    "read_cells",
    "scrub",
    "student_id",
    "test_params",
]
