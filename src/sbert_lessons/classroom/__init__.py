"""Classroom kit: grade otter-grader assignments safely, and build the student edition of the book.

Introduced by the teachers' guide (``book/teachers.md``), not by a lesson. The assignments in
``assignments/`` are written in otter-grader's own format; ``otter assign`` turns each into a student
notebook (public tests only) and a grading bundle (the autograder zip, with the hidden tests). This
package grades a folder of submitted notebooks against a bundle, one concept per module:

* :mod:`.sandbox`: each submission runs in a **process tree of its own** behind an allow-list sandbox
  (bubblewrap, rootless: only the interpreter, the course package, the data and an empty private
  working folder are visible; own network, PID and IPC namespaces), with limits for the whole
  submission (memory across all its processes, processes, one wall clock for notebook and tests, output);
* :mod:`.channel`: the **tests never enter that process**: otter's test files run in the grader and see
  the submission only through a data-only channel (numbers, strings, lists, dicts, numpy arrays and
  torch tensors, never pickles). A student's function is a :class:`RemoteRef`: calling it sends the
  arguments to the worker and brings back the result as data. Anything malformed the submission writes
  there is its own failure, never the grader's;
* :mod:`.grading`: the batch (pre-flight check, submissions in parallel, ``scores.csv`` written row by
  row, ``lms.csv``, ``answers.csv`` for written answers graded by hand, ``feedback/<student id>.md``
  naming each hidden test and saying passed/failed, never its source or message); :mod:`.worker` is the
  submission's side;
* :mod:`.student`: the student edition of the book (solutions removed).

``otter run`` itself executes the tests inside the submission's own kernel with the test files on
disk beside it, which is why grading does not go through it (see the teachers' guide).

Command line (the Makefile wraps it)::

    python -m sbert_lessons.classroom grade BUNDLE.zip SUBMISSIONS/ OUT/   # scores.csv + feedback/
    python -m sbert_lessons.classroom student-src SRC/ DEST/                # book without solutions
"""

from __future__ import annotations

from .a3 import A3_DOCS, A3_MAX_SEQ, A3_QUERIES, SearchSlice, encode_slice, scifact_slice
from .channel import (
                      MAX_DEPTH,
                      MAX_FRAME,
                      ChannelError,
                      RemoteRef,
                      StudentCodeError,
                      WorkerGone,
                      _read_frame,
                      _write_frame,
                      decode_value,
                      encode_value,
                      raises,
                      value_and_grad,
)
from .cli import main
from .grading import (
                      BatchOutput,
                      Bundle,
                      ManualQuestion,
                      PreflightError,
                      QuestionResult,
                      SubmissionError,
                      SubmissionResult,
                      _write_csv,
                      decoded_views,
                      feedback_text,
                      find_submissions,
                      grade_folder,
                      grade_submission,
                      hidden_sources,
                      is_unanswered,
                      load_notebook,
                      load_test_file,
                      manual_answers,
                      manual_questions,
                      read_cells,
                      scrub,
                      student_id,
                      test_params,
)
from .sandbox import (
                      Limits,
                      Sandbox,
                      SandboxError,
                      Worker,
                      _check_hidden,
                      interpreter_paths,
                      isolation_mode,
                      process_tree,
)
from .student import make_student_src, strip_solutions
from .worker import _is_grader_cell

__all__ = [
    "A3_DOCS", "A3_MAX_SEQ", "A3_QUERIES", "MAX_DEPTH", "MAX_FRAME", "BatchOutput", "Bundle", "ChannelError",
    "Limits", "ManualQuestion", "PreflightError", "QuestionResult", "RemoteRef", "Sandbox", "SandboxError",
    "SearchSlice", "StudentCodeError", "SubmissionError", "SubmissionResult", "Worker", "WorkerGone",
    "_check_hidden", "_is_grader_cell", "_read_frame", "_write_csv", "_write_frame", "decode_value",
    "decoded_views", "encode_slice", "encode_value", "feedback_text", "find_submissions", "grade_folder",
    "grade_submission", "hidden_sources", "interpreter_paths", "is_unanswered", "isolation_mode",
    "load_notebook", "load_test_file", "main", "make_student_src", "manual_answers", "manual_questions",
    "process_tree", "raises", "read_cells", "scifact_slice", "scrub", "strip_solutions", "student_id",
    "test_params", "value_and_grad",
]
