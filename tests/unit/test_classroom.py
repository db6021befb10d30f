"""Classroom kit: the data channel, notebook reading, feedback and the student-edition stripper (fast)."""

import json

import numpy as np
import pytest
import torch

from sbert_lessons import classroom as C


# ---------------------------------------------------------------------------------- data channel
@pytest.mark.parametrize("value", [None, True, 3, -2.5, "héllo", [1, "a", None], (1, 2.0),
                                   {"a": [1, {"b": 2}], "c": "d"}])
def test_plain_values_round_trip(value):
    assert C.decode_value(json.loads(json.dumps(C.encode_value(value)))) == value


def test_arrays_and_tensors_round_trip_with_their_type():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = torch.randn(2, 5, dtype=torch.float64)
    out = C.decode_value(json.loads(json.dumps(C.encode_value({"a": a, "t": t, "s": np.float32(1.5)}))))
    assert isinstance(out["a"], np.ndarray) and out["a"].dtype == np.float32 and np.array_equal(out["a"], a)
    assert isinstance(out["t"], torch.Tensor) and torch.equal(out["t"], t)
    assert out["s"] == 1.5


def test_objects_become_references_never_pickles():
    enc = C.encode_value(lambda x: x)
    assert enc == {"t": "ref", "type": "function", "callable": True}
    assert C.encode_value(np.array([object()], dtype=object))["t"] == "ref"
    with pytest.raises(C.StudentCodeError, match="cannot read"):
        C.decode_value(enc)
    assert C.decode_value(enc, ref_factory=lambda d: ("ref", d["type"])) == ("ref", "function")


@pytest.mark.parametrize("bad", [
    {"t": "nd", "dtype": "object", "shape": [1], "b64": ""},
    {"t": "nd", "dtype": "float32", "shape": [3], "b64": "AAAA"},
    {"t": "pickle", "v": "gASV"},
    {"t": "json", "v": [1, 2]},
    {"t": "dict", "v": [[1, {"t": "none"}]]},
    "not a dict",
])
def test_malformed_values_are_refused(bad):
    with pytest.raises(C.ChannelError):
        C.decode_value(bad)


def test_frames_round_trip_and_time_out():
    import os

    r, w = os.pipe()
    try:
        C._write_frame(w, {"x": [1, 2]})
        assert C._read_frame(r, None) == {"x": [1, 2]}
        with pytest.raises(TimeoutError):
            C._read_frame(r, __import__("time").monotonic() + 0.05)
        os.write(w, (5).to_bytes(8, "big") + b"nope!")
        with pytest.raises(C.ChannelError, match="not JSON"):
            C._read_frame(r, None)
    finally:
        os.close(r)
        os.close(w)


# ----------------------------------------------------------------------------- helpers for tests
def test_value_and_grad_locally():
    a = torch.tensor([1.0, 2.0])
    loss, (g,) = C.value_and_grad(lambda x: (x ** 2).sum(), a)
    assert float(loss) == 5.0 and torch.allclose(g, 2 * a)
    assert a.grad is None  # the caller's tensor is left alone
    with pytest.raises(TypeError, match="scalar"):
        C.value_and_grad(lambda x: x * 2, a)


def test_raises_local_and_reported():
    def bad(x):
        raise ValueError("no")

    assert C.raises(ValueError, bad, 1)
    assert not C.raises(ValueError, lambda x: x, 1)
    assert not C.raises(ValueError, lambda x: 1 / 0, 1)

    def remote(*_):
        raise C.StudentCodeError("cosine raised ValueError: zero vector")

    def remote_other(*_):
        raise C.StudentCodeError("cosine raised ZeroDivisionError: oops")

    def gone(*_):
        raise C.WorkerGone("killed")

    assert C.raises(ValueError, remote)
    assert not C.raises(ValueError, remote_other)
    assert not C.raises(ValueError, gone)


# ---------------------------------------------------------------------------------- submissions
def _nb(cells, name="A1"):
    return {"cells": cells, "metadata": {"otter": {"assignment_name": name}}, "nbformat": 4, "nbformat_minor": 5}


def _code(src, tags=None):
    return {"cell_type": "code", "source": src, "metadata": {"tags": tags or []}, "outputs": [],
            "execution_count": None}


def test_read_cells_skips_grader_cells_and_ignored_ones(tmp_path):
    p = tmp_path / "s.ipynb"
    p.write_text(json.dumps(_nb([
        _code('# Initialize Otter\nimport otter\ngrader = otter.Notebook("A1.ipynb")'),
        _code("x = 1"), {"cell_type": "markdown", "source": "hi", "metadata": {}},
        _code('grader.check("q1")'), _code("y = 2", ["otter_ignore"]), _code(["z = ", "3"]),
        _code('grader.check("q1")\nprint(open("x").read())')])))
    cells, name = C.read_cells(p)
    assert name == "A1"
    assert cells == [(2, "x = 1"), (5, "z = 3"), (6, 'grader.check("q1")\nprint(open("x").read())')]


@pytest.mark.parametrize("content, why", [
    ('{"cells": [', "not valid JSON"), ("[1, 2]", "not a Jupyter notebook"), ('{"a": 1}', "not a Jupyter"),
])
def test_unreadable_notebooks_say_why(tmp_path, content, why):
    p = tmp_path / "s.ipynb"
    p.write_text(content)
    with pytest.raises(C.SubmissionError, match=why):
        C.read_cells(p)
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(C.SubmissionError, match="UTF-8"):
        C.read_cells(p)


def test_find_submissions(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "A1.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()  # nothing handed in
    (tmp_path / "notes.txt").write_text("")
    assert [s for s, _ in C.find_submissions(tmp_path)] == ["alice", "bob"]


# -------------------------------------------------------------------------------------- feedback
def _result():
    q = C.QuestionResult("q1", 1.0, 3.0, [
        {"name": "q1 - 1", "hidden": False, "passed": False, "points": 1, "message": "assert x == 2"},
        {"name": "q1 - 2", "hidden": True, "passed": False, "points": 2,
         "message": "secret_expected_value = 42"}])
    return C.SubmissionResult("alice", "graded", 1.0, 3.0, reason="", questions=[q],
                              cell_errors=[{"cell": 3, "ename": "NameError", "evalue": "x", "line": 2}])


def test_feedback_shows_public_messages_and_hides_hidden_ones():
    text = C.feedback_text(_result(), "A1")
    assert "Score: 1 / 3" in text and "code cell 3, line 2: `NameError`" in text
    assert "assert x == 2" in text
    assert "hidden test 1: failed" in text and "secret_expected_value" not in text
    assert "q1 - 2" not in text


def test_scrub_drops_lines_holding_hidden_source():
    assert C.scrub("a\nleaked: assert secret == 42\nb", ["assert secret == 42"]) == "a\nb\n"


def test_csv_columns(tmp_path):
    C._write_csv(tmp_path / "s.csv", [_result()], "A1")
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == ("student_id,student,assignment,status,q1,score,possible,manual_pending,percent,"
                       "cell_errors,reason,seconds,cpu_seconds,isolation")
    assert rows[1].startswith(f"{C.student_id('alice')},alice,A1,graded,1,1,3,0,33.3,1,")


# ------------------------------------------------------------------------------ student edition
def _md(src):
    return {"cell_type": "markdown", "source": src, "metadata": {}}


def test_strip_gated_solutions_and_solution_blocks():
    nb = {"cells": [
        _md("```{exercise} Try\n:label: ex1\nDo it.\n```"),
        _md("```{solution-start} ex1\n:class: dropdown\n```"),
        _code("answer = 42  # SOLUTION_CODE"),
        _md("Because SOLUTION_PROSE."),
        _md("```{solution-end}\n```"),
        _md("Keep me.\n\n````{solution} ex2\n:class: dropdown\nSOLUTION_BLOCK\n````\nAfter."),
        {**_code("x = 1"), "outputs": [{"output_type": "stream", "text": "1"}], "execution_count": 3},
    ]}
    out, k = C.strip_solutions(nb)
    text = json.dumps(out)
    assert k == 2
    assert "SOLUTION_CODE" not in text and "SOLUTION_PROSE" not in text and "SOLUTION_BLOCK" not in text
    assert "solution-start" not in text and "solution-end" not in text
    assert "Do it." in text and "Keep me." in text and "After." in text
    assert out["cells"][-1]["outputs"] == [] and out["cells"][-1]["execution_count"] is None


def test_strip_refuses_unbalanced_markers():
    with pytest.raises(ValueError, match="no solution-end"):
        C.strip_solutions({"cells": [_md("```{solution-start} a\n```"), _code("x")]})


def test_student_src_turns_execution_off(tmp_path):
    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    (src / "book").mkdir()
    (src / "_toc.yml").write_text("root: book/intro\n")
    (src / "book" / "intro.md").write_text("# Hi\n")
    (src / "_config.yml").write_text('title: "T"\nexecute:\n  execute_notebooks: cache\n')
    (src / "notebooks" / "01.ipynb").write_text(json.dumps({"cells": [
        _md("```{solution-start} e\n```"), _code("SECRET"), _md("```{solution-end}\n```")]}))
    counts = C.make_student_src(src, tmp_path / "dest")
    assert counts == {"01.ipynb": 1}
    cfg = (tmp_path / "dest" / "_config.yml").read_text()
    assert "execute_notebooks: 'off'" in cfg and "Student edition" in cfg
    assert "SECRET" not in (tmp_path / "dest" / "notebooks" / "01.ipynb").read_text()
    (src / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match="execute_notebooks"):
        C.make_student_src(src, tmp_path / "dest2")


def test_isolation_mode_is_known():
    assert C.isolation_mode() in ("bubblewrap", "namespaces", "none")
    assert C.isolation_mode("none") == "none"
    with pytest.raises(ValueError, match="unknown isolation"):
        C.isolation_mode("docker")


def test_hiding_a_folder_the_submissions_need_is_refused(tmp_path):
    import sys
    from pathlib import Path

    C._check_hidden([tmp_path / "bundle"])
    with pytest.raises(ValueError, match="cannot hide"):
        C._check_hidden([Path(sys.prefix).parent])
    with pytest.raises(ValueError, match="cannot hide"):
        C._check_hidden([Path(C.__file__).resolve().parents[2]])


def test_strip_end_and_next_start_in_one_cell():
    nb = {"cells": [
        _md("```{solution-start} a\n:class: dropdown\n```"), _code("SOL_A"),
        _md("SOL_A_PROSE\n\n```{solution-end}\n```\n\n```{exercise}\n:label: b\nSecond.\n```\n\n"
            "```{solution-start} b\n:class: dropdown\n```"),
        _code("SOL_B"), _md("SOL_B_PROSE\n```{solution-end}\n```\nTail."), _code("keep = 1")]}
    out, k = C.strip_solutions(nb)
    text = json.dumps(out)
    assert k == 2 and "SOL_" not in text and "solution-" not in text
    assert "Second." in text and "Tail." in text and "keep = 1" in text


def test_strip_refuses_nested_solutions():
    with pytest.raises(ValueError, match="inside another"):
        C.strip_solutions({"cells": [_md("```{solution-start} a\n```"), _md("```{solution-start} b\n```"),
                                     _md("```{solution-end}\n```")]})


# --------------------------------------------------------------------- hostile frames (issue #24)
def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "big") + payload


@pytest.mark.parametrize("payload, why", [
    (b'{"a": ' + b"[" * 200000 + b"]" * 200000 + b"}", "nested too deeply"),
    (b'{"n": 1' + b"1" * 5000 + b"}", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1]", "not an object"),
])
def test_hostile_frames_are_channel_errors(payload, why):
    import os
    import threading

    r, w = os.pipe()
    try:  # some frames are bigger than a pipe's buffer: fed from a thread
        threading.Thread(target=os.write, args=(w, _frame(payload)), daemon=True).start()
        with pytest.raises(C.ChannelError, match=why):
            C._read_frame(r, __import__("time").monotonic() + 10)
    finally:
        os.close(r)
        os.close(w)


def test_oversized_frame_header_is_refused_before_reading():
    import os

    r, w = os.pipe()
    try:
        os.write(w, (1 << 40).to_bytes(8, "big") + b"{")
        with pytest.raises(C.ChannelError, match="too large"):
            C._read_frame(r, None)
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("bad", [
    {"t": "list", "v": 5}, {"t": "list", "v": "abc"}, {"t": "dict", "v": {"a": 1}},
    {"t": "nd", "dtype": "float32", "shape": [1 << 40, 1 << 40], "b64": ""},
    {"t": "nd", "dtype": "float32", "shape": [True], "b64": ""},
    {"t": "nd", "dtype": "float32", "shape": [1], "b64": 7},
])
def test_values_of_the_wrong_shape_are_channel_errors(bad):
    with pytest.raises(C.ChannelError):
        C.decode_value(bad)


class _FakeWorker:
    """Stands for a submission's process: hands out queued frames, records a protocol error."""

    def __init__(self, frames):
        self.frames, self.gone, self.violation = list(frames), None, None

    def read(self, deadline):
        if self.gone:
            raise C.WorkerGone(self.gone)
        return self.frames.pop(0)

    def kill(self, why):
        self.gone = self.gone or why

    def protocol_error(self, what):
        self.violation = self.gone = f"malformed message on the grading channel ({what})"
        return C.WorkerGone(self.gone)


@pytest.mark.parametrize("frame", [
    {"event": "cell_done", "index": 3, "error": "forged"},
    {"event": "cell_done", "index": "3", "error": None},
    {"event": "cell_done", "index": 3, "error": {"ename": 1, "evalue": "x"}},
    {"event": "cell_start"},
    {"event": "surprise"},
    {"ok": True},
])
def test_forged_progress_frames_end_the_submission(frame):
    from sbert_lessons.classroom.grading import _execute

    res = C.SubmissionResult("s", "graded", 0.0, 1.0)
    w = _FakeWorker([{"event": "cell_start", "index": 1}, frame, {"event": "executed"}])
    _execute(res, w, C.Limits())
    assert w.violation and "grading channel" in w.violation


def test_remote_ref_turns_a_malformed_answer_into_the_submissions_failure():
    class W(_FakeWorker):
        limits = C.Limits()

        def request(self, req, timeout):
            return {"ok": True, "value": {"t": "list", "v": 3}}

    w = W([])
    with pytest.raises(C.WorkerGone, match="grading channel"):
        C.RemoteRef(w, ["cosine"])(1, 2)
    assert w.violation


# -------------------------------------------------------------------------- names and written answers
def test_student_ids_are_stable_and_collision_free():
    import unicodedata

    names = ["Zoé", "Zoë", unicodedata.normalize("NFD", "Zoé"), "Alice", "alice", "a/b", "../x", ""]
    ids = [C.student_id(n) for n in names]
    assert len(set(ids)) == len(ids)
    assert C.student_id("Zoé") == C.student_id("Zoé") and C.student_id("Zoé").startswith("Zoe-")
    for i in ids:
        assert "/" not in i and not i.startswith(".") and i.isascii()


def _manual_nb(answer):
    return {"cells": [
        _md("<!-- BEGIN QUESTION -->\n\n**Question 5 (written answer, 1 point, graded by your teacher).** Why?"),
        {"cell_type": "markdown", "source": answer, "metadata": {"tags": ["otter_answer_cell"]}},
        _md("<!-- END QUESTION -->\n\n**Done?**")]}


def test_written_answers_are_found_and_placeholders_flagged():
    qs = C.manual_questions(_manual_nb(C.grading.PLACEHOLDER))
    assert [(q.name, q.points) for q in qs] == [("q5", 1.0)]
    assert C.is_unanswered(C.manual_answers(_manual_nb(C.grading.PLACEHOLDER), qs).get("q5"))
    ans = C.manual_answers(_manual_nb("Because a sum ignores order."), qs)
    assert ans == {"q5": "Because a sum ignores order."} and not C.is_unanswered(ans["q5"])


def test_feedback_never_awards_a_written_answer():
    q = C.QuestionResult("q5", 0.0, 1.0, manual=True, answer="An answer.")
    r = C.SubmissionResult("bob", "graded", 0.0, 1.0, questions=[q])
    text = C.feedback_text(r, "A1")
    assert "q5 (written answer): to be graded by your teacher, 0 / 1" in text and r.manual_pending == 1


def test_scrub_and_decoded_views_see_through_base64_and_hex():
    import base64

    secret = "assert cosine(u, v) == secret_value"
    b64 = base64.b64encode(secret.encode()).decode()
    assert any(secret in v for v in C.decoded_views(f"error: {b64}"))
    assert any(secret in v for v in C.decoded_views(secret.encode().hex()))
    assert C.scrub(f"ok\nValueError: {b64}\nok2", [secret]) == "ok\nok2\n"


def test_batch_output_is_written_row_by_row(tmp_path):
    out = C.BatchOutput(tmp_path, "A1", ["q1"], [])
    out.add(C.SubmissionResult("Zoé", "graded", 1.0, 3.0, student_id=C.student_id("Zoé"),
                               questions=[C.QuestionResult("q1", 1.0, 3.0)]))
    scores = (tmp_path / "scores.csv").read_text(encoding="utf-8").splitlines()
    assert len(scores) == 2 and ",Zoé,A1,graded," in scores[1]  # there before the batch ends
    assert (tmp_path / "lms.csv").read_text(encoding="utf-8").splitlines()[1] == f"{C.student_id('Zoé')},Zoé,1,3"
    assert (tmp_path / "feedback" / f"{C.student_id('Zoé')}.md").is_file()


# ---------------------------------------------------------------------------------- the sandbox view
def test_bubblewrap_view_is_an_allow_list(tmp_path, monkeypatch):
    from pathlib import Path

    from sbert_lessons.classroom import sandbox

    monkeypatch.setattr(sandbox, "_bwrap_has", lambda flag: True)  # bwrap 0.8's options (none is run here)
    sb = C.Sandbox("bubblewrap", C.Limits(), tmp_path)
    argv = sb.command(["python", "-c", "pass"], tmp_path)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--disable-userns"):
        assert flag in argv
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind", "--ro-bind-try")]
    root = Path(C.__file__).resolve().parents[3]
    for b in binds:  # never the checkout, its .git or a home folder as a whole
        assert Path(b) not in (root, root / ".git", Path.home(), Path("/")), b
    assert not any(a == "--bind" for a in argv), "nothing of the host is writable"
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/submission"):
        assert argv[argv.index(d) - 1] == "--tmpfs"


def test_bubblewrap_names_the_data_folder_by_its_resolved_path(tmp_path, monkeypatch):
    # a data mirror reached through a symbolic link (../shared linked beside a checkout) is shown inside the
    # sandbox at its real path only, so the submission must be told that one
    from sbert_lessons.classroom import sandbox

    monkeypatch.setattr(sandbox, "_bwrap_has", lambda flag: True)
    real = tmp_path / "real" / "data"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(tmp_path / "link" / "data"))
    sb = C.Sandbox("bubblewrap", C.Limits(), tmp_path / "p")
    assert sb.env(tmp_path / "scratch", "smoke")["SBERT_LESSONS_DATA"] == str(real.resolve())
    argv = sb.command(["python", "-c", "pass"], tmp_path)
    assert str(real.resolve()) in argv


def test_bubblewrap_view_refuses_to_show_a_git_checkout(tmp_path, monkeypatch):
    from sbert_lessons.classroom import sandbox

    (tmp_path / "env" / ".git").mkdir(parents=True)
    monkeypatch.setattr(sandbox, "interpreter_paths", lambda: [tmp_path / "env"])
    with pytest.raises(C.SandboxError, match="git checkout"):
        C.Sandbox("bubblewrap", C.Limits(), tmp_path / "p")
    monkeypatch.setattr(sandbox, "interpreter_paths", lambda: [tmp_path])
    with pytest.raises(C.SandboxError, match="lies inside"):
        C.Sandbox("bubblewrap", C.Limits(), tmp_path / "p", hide=[tmp_path / "bundle"])


def test_no_sandbox_is_refused_with_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    rc = C.main(["grade", str(tmp_path / "b.zip"), str(tmp_path / "subs"), str(tmp_path / "out"),
                 "--isolation", "none"])
    assert rc == 2 and "needs --allow-unisolated" in capsys.readouterr().err
    with pytest.raises(PermissionError, match="apt-get install bubblewrap"):
        C.grade_folder(tmp_path / "b.zip", tmp_path / "subs", tmp_path / "out", isolation="none")
    rc = C.main(["grade", str(tmp_path / "b.zip"), str(tmp_path / "subs"), str(tmp_path / "out")])
    assert rc == 2 and "error:" in capsys.readouterr().err


def test_strip_refuses_a_stray_solution_end():
    with pytest.raises(ValueError, match="solution-end has no solution-start"):
        C.strip_solutions({"cells": [_md("Text.\n\n```{solution-end}\n```")]})
