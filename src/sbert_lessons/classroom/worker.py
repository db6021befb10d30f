"""The submission's side: runs inside the sandbox, executes the notebook's cells, answers data requests.

Started by :class:`sbert_lessons.classroom.sandbox.Worker` as ``python -c "...main(FD_IN, FD_OUT)"``;
the first message on ``FD_IN`` carries the notebook's code cells (so no host path shows in the sandbox). Nothing here is trusted by the grader: the student's
code runs in this process and can write anything on ``FD_OUT``; the grader validates every frame.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import sys

from .channel import _read_frame, _write_frame, decode_value, encode_value, value_and_grad

_GRADER_LINE = re.compile(r"^\s*(import otter|grader\s*=\s*otter\.Notebook\(.*\)|grader\.\w+\(.*\))\s*$")


def _is_grader_cell(src: str) -> bool:
    """Cells otter adds for the student's own checks (``grader.check("q1")``): skipped when grading."""
    lines = [ln for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_GRADER_LINE.match(ln) for ln in lines)


def _setup_process() -> None:  # pragma: no cover - runs sandboxed
    """Before any student code: die with the launcher, the process-count limit, the seed cache."""
    try:  # die with the launcher (a change of user clears the death signal set before it)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    # RLIMIT_NPROC is set here, inside the sandbox's own user namespace, so that it counts this
    # submission's processes and threads only (set before the namespace, it would count the teacher's)
    nproc = int(os.environ.pop("SBERT_GRADE_NPROC", "0") or 0)
    if nproc > 0:
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass
    seed = os.environ.pop("SBERT_GRADE_SEED", "")
    cache = os.environ.get("SBERT_LESSONS_CACHE")
    if seed and cache and os.path.isdir(seed) and not os.path.exists(cache):
        shutil.copytree(seed, cache)


def main(fd_in: int, fd_out: int) -> None:  # pragma: no cover - runs sandboxed
    """Execute the notebook's code cells, then answer the grader's data requests until it hangs up."""
    _setup_process()
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process's lifetime
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    import traceback

    from IPython.core.interactiveshell import InteractiveShell

    try:
        cells = _read_frame(fd_in)["cells"]
    except EOFError:
        return
    shell = InteractiveShell.instance(colors="nocolor")
    ns = shell.user_ns
    for i, src in cells:
        _write_frame(fd_out, {"event": "cell_start", "index": i})
        err = None
        try:
            res = shell.run_cell(src, store_history=False)
            exc = res.error_before_exec or res.error_in_exec
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends from the student's cell
            exc = e
        if exc is not None:
            line = None
            for fr in traceback.extract_tb(exc.__traceback__):
                if fr.filename.startswith("<") or "ipython-input" in fr.filename:
                    line = fr.lineno
            if isinstance(exc, SyntaxError):
                line = exc.lineno
            err = {"ename": type(exc).__name__, "evalue": str(exc)[:500], "line": line}
            # a failed cell must not keep its frames (and what they allocated) alive through the traceback
            exc.__traceback__ = None
            sys.last_traceback = sys.last_value = sys.last_type = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
            for tb_holder in (getattr(shell, "InteractiveTB", None), getattr(shell, "SyntaxTB", None)):
                if tb_holder is not None and hasattr(tb_holder, "tb"):
                    tb_holder.tb = None
            exc = res = None
            gc.collect()
        _write_frame(fd_out, {"event": "cell_done", "index": i, "error": err})
    _write_frame(fd_out, {"event": "executed"})

    def resolve(path):
        if not path or path[0] not in ns:
            raise NameError(f"name {path[0] if path else '?'!r} is not defined in the notebook")
        obj = ns[path[0]]
        for a in path[1:]:
            if not isinstance(a, str) or a.startswith("_"):
                raise AttributeError("private attribute")
            obj = getattr(obj, a)
        return obj

    while True:
        try:
            req = _read_frame(fd_in)
        except EOFError:
            return
        try:
            if req.get("op") == "get":
                out = {}
                for name in req["names"]:
                    out[name] = encode_value(ns[name]) if name in ns else {"t": "missing"}
                _write_frame(fd_out, {"ok": True, "values": out})
                continue
            if req.get("op") == "call":
                fn = resolve(req["path"])
                args = [decode_value(a) for a in req["args"]]
                kwargs = {k: decode_value(v) for k, v in req["kwargs"].items()}
                if req.get("grad"):
                    value, grads = value_and_grad(fn, *args, **kwargs)
                    _write_frame(fd_out, {"ok": True, "value": encode_value(value),
                                          "grads": [encode_value(g) for g in grads]})
                else:
                    _write_frame(fd_out, {"ok": True, "value": encode_value(fn(*args, **kwargs))})
                continue
            _write_frame(fd_out, {"ok": False, "error": "unknown request"})
        except BaseException as e:  # noqa: BLE001 - report the student's error, keep serving
            _write_frame(fd_out, {"ok": False, "error": f"{type(e).__name__}: {str(e)[:500]}"})
