"""Command line of the classroom kit (``python -m sbert_lessons.classroom``; the Makefile wraps it).

Exit status of ``grade``: 0 when every submission was graded, 1 when some could not be (their rows say
why), 2 when nothing was graded (bad arguments, no sandbox, a failed pre-flight check).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path

from .sandbox import Limits, SandboxError

_DESCRIPTION = "Classroom kit: grade otter-grader assignments safely, and build the student edition of the book."


def _parse_bytes(s: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)i?B?", s.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 6G)")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
                                    "T": 1 << 40}[m.group(2).upper()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sbert_lessons.classroom", description=_DESCRIPTION)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    g.add_argument("bundle", help="the autograder zip made by otter assign")
    g.add_argument("submissions", help="folder of NAME.ipynb (or NAME/any.ipynb)")
    g.add_argument("out", help="folder for scores.csv, lms.csv, answers.csv and feedback/")
    g.add_argument("--wall", type=float, default=Limits.wall_s,
                   help="seconds for a whole submission: its notebook and the tests together")
    g.add_argument("--cell", type=float, default=Limits.cell_s, help="seconds per cell")
    g.add_argument("--call", type=float, default=Limits.call_s, help="seconds per test call")
    g.add_argument("--memory", type=_parse_bytes, default=Limits.memory_bytes,
                   help="memory of all of a submission's processes together, e.g. 6G")
    g.add_argument("--disk", type=_parse_bytes, default=Limits.disk_bytes,
                   help="size of a submission's working folder (bubblewrap), e.g. 1G")
    g.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: one per core)")
    g.add_argument("--reference", default=None,
                   help="the reference solution (default: the notebook beside the bundle zip)")
    g.add_argument("--no-reference-check", action="store_true",
                   help="skip grading the reference before the batch")
    g.add_argument("--hide", action="append", default=[], help="another folder the submissions must not see")
    g.add_argument("--profile", default="smoke", choices=("smoke", "full"))
    g.add_argument("--isolation", default="auto", choices=("auto", "bubblewrap", "namespaces", "none"))
    g.add_argument("--allow-unisolated", action="store_true",
                   help="grade without a sandbox where none is available (trusted work only)")
    g.add_argument("--seed-cache", default=None, help="a cache folder copied into each submission's cache")
    w = sub.add_parser("warm-a3", help="encode A3's slice into a cache folder (for --seed-cache)")
    w.add_argument("cache_dir")
    s = sub.add_parser("student-src", help="copy the book's sources without solutions")
    s.add_argument("src")
    s.add_argument("dest")
    a = ap.parse_args(argv)
    # a plain `kill` of the grader still runs its clean-up (workers stopped, private folders removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.cmd == "grade":
        from .grading import PreflightError, grade_folder

        if a.isolation == "none" and not a.allow_unisolated:
            print("error: --isolation none needs --allow-unisolated", file=sys.stderr)
            return 2
        lim = Limits(wall_s=a.wall, cell_s=a.cell, call_s=a.call, memory_bytes=a.memory, disk_bytes=a.disk)
        t0 = time.monotonic()
        try:
            res = grade_folder(a.bundle, a.submissions, a.out, limits=lim, hide=a.hide, profile=a.profile,
                               allow_unisolated=a.allow_unisolated, seed_cache=a.seed_cache,
                               reference=a.reference, check_reference=not a.no_reference_check, jobs=a.jobs,
                               isolation=a.isolation)
        except (PermissionError, SandboxError, PreflightError, ValueError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        bad = [r for r in res if r.status != "graded"]
        print(f"{len(res)} submissions in {time.monotonic() - t0:.0f} s: {Path(a.out) / 'scores.csv'}")
        if bad:
            print(f"error: {len(bad)} could not be graded: "
                  + "; ".join(f"{r.student} ({r.reason})" for r in bad[:5]), file=sys.stderr)
            return 1
        return 0
    if a.cmd == "warm-a3":
        os.environ["SBERT_LESSONS_CACHE"] = str(Path(a.cache_dir).resolve())
        from ..models import MINILM, load_sentence_model
        from ..profile import quiet_libraries
        from .a3 import encode_slice, scifact_slice

        quiet_libraries()
        data = scifact_slice()
        model = load_sentence_model(MINILM)
        encode_slice(model, data.doc_texts)
        encode_slice(model, list(data.dev.values()))
        print(f"A3 slice encoded into {a.cache_dir}")
        return 0
    from .student import make_student_src

    counts = make_student_src(a.src, a.dest)
    print(f"student sources in {a.dest}: {sum(counts.values())} solutions removed "
          f"from {sum(1 for v in counts.values() if v)} files")
    return 0
