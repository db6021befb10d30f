"""Classroom kit: grade otter-grader assignments safely, and build the student edition of the book.

Introduced by the teachers' guide (``book/teachers.md``), not by a lesson. The assignments in
``assignments/`` are written in otter-grader's own format; ``otter assign`` turns each into a student
notebook (public tests only) and a grading bundle (the autograder zip, with the hidden tests). This
module grades a folder of submitted notebooks against a bundle:

* the submission runs in a **worker process of its own**, started through the operating system's
  isolation (as root: a new network, mount and PID namespace via ``unshare``, an unprivileged user via
  ``setpriv``, empty ``tmpfs`` mounts over the bundle, the assignment sources and the other
  submissions), with ``resource`` limits (address space, CPU seconds, file size, processes), a
  per-cell and a whole-notebook wall-clock limit, in a fresh scratch folder as its working directory;
* the **tests never enter that process**: otter's test files are run here, in the grader, and see the
  submission only through a data-only channel (numbers, strings, lists, dicts, numpy arrays and torch
  tensors, never pickles). A student's function is a :class:`RemoteRef`: calling it sends the
  arguments to the worker and brings back the result as data, so a submission can neither read a
  hidden test nor patch the code that checks it;
* the feedback file names each hidden test and says passed/failed, never its source or message.

``otter run`` itself executes the tests inside the submission's own kernel with the test files on
disk beside it, which is why grading does not go through it (see the teachers' guide).

Command line (the Makefile wraps it)::

    python -m sbert_lessons.classroom grade BUNDLE.zip SUBMISSIONS/ OUT/   # scores.csv + feedback/
    python -m sbert_lessons.classroom student-src SRC/ DEST/                # book without solutions
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import gc
import json
import os
import re
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------- data channel
MAX_FRAME = 256 << 20            # one message may carry at most 256 MiB
MAX_DEPTH = 32
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"}


class ChannelError(RuntimeError):
    """The worker's side of the channel sent something that is not a well-formed message."""


class StudentCodeError(Exception):
    """The submission's own code raised (or returned something the grader cannot read)."""


class WorkerGone(StudentCodeError):
    """The submission's process is no longer running (time or memory limit, crash)."""


def encode_value(x: Any, depth: int = 0) -> dict:
    """Data-only wire form of ``x``; objects that are not plain data become references (``ref``)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send")
    if x is None:
        return {"t": "none"}
    if isinstance(x, (bool, int, float, str)) and not isinstance(x, np.generic):
        return {"t": "json", "v": x}
    if isinstance(x, np.generic):
        return {"t": "json", "v": x.item()}
    if isinstance(x, np.ndarray) and x.dtype.name in _DTYPES:
        return _array("nd", x)
    if type(x).__module__ == "torch" and type(x).__name__ in ("Tensor", "Parameter"):
        return _array("torch", x.detach().cpu().numpy())
    if isinstance(x, (list, tuple)):
        return {"t": "list" if isinstance(x, list) else "tuple",
                "v": [encode_value(i, depth + 1) for i in x]}
    if isinstance(x, dict) and all(isinstance(k, str) for k in x):
        return {"t": "dict", "v": [[k, encode_value(v, depth + 1)] for k, v in x.items()]}
    return {"t": "ref", "type": type(x).__name__, "callable": callable(x)}


def _array(kind: str, a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"t": kind, "dtype": a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_value(d: Any, depth: int = 0, ref_factory=None) -> Any:
    """Inverse of :func:`encode_value`; never unpickles, never imports or calls anything it is sent."""
    if depth > MAX_DEPTH or not isinstance(d, dict):
        raise ChannelError("malformed value")
    t = d.get("t")
    if t == "none":
        return None
    if t == "json":
        v = d.get("v")
        if not isinstance(v, (bool, int, float, str)):
            raise ChannelError("malformed scalar")
        return v
    if t in ("nd", "torch"):
        dtype, shape = d.get("dtype"), d.get("shape")
        if dtype not in _DTYPES or not isinstance(shape, list) or not all(
                isinstance(s, int) and s >= 0 for s in shape):
            raise ChannelError("malformed array")
        try:
            raw = base64.b64decode(str(d.get("b64", "")), validate=True)
        except ValueError as e:
            raise ChannelError("malformed array data") from e
        if len(raw) != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
            raise ChannelError("array size does not match its shape")
        a = np.frombuffer(raw, dtype=dtype)
        a = a.reshape(shape).copy()
        if t == "torch":
            import torch

            return torch.from_numpy(a)
        return a
    if t in ("list", "tuple"):
        items = [decode_value(i, depth + 1, ref_factory) for i in d.get("v", [])]
        return items if t == "list" else tuple(items)
    if t == "dict":
        out = {}
        for pair in d.get("v", []):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ChannelError("malformed dict")
            out[pair[0]] = decode_value(pair[1], depth + 1, ref_factory)
        return out
    if t == "ref":
        if ref_factory is None:
            raise StudentCodeError(f"returned an object of type {str(d.get('type'))[:60]} that the grader "
                                   "cannot read: return numbers, lists, numpy arrays or torch tensors")
        return ref_factory(d)
    raise ChannelError(f"unknown value kind {str(t)[:20]!r}")


def _write_frame(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise ValueError("message too large")
    buf = struct.pack(">Q", len(data)) + data
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> dict:
    (n,) = struct.unpack(">Q", _read_exact(fd, 8, deadline))
    if n > MAX_FRAME:
        raise ChannelError("message too large")
    try:
        obj = json.loads(_read_exact(fd, n, deadline).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChannelError("message is not JSON") from e
    if not isinstance(obj, dict):
        raise ChannelError("message is not an object")
    return obj


# ------------------------------------------------------------------------------ helpers for tests
def value_and_grad(fn: Any, *tensors: Any, **kwargs: Any):
    """``(loss, [d loss / d tensor ...])`` of a scalar-valued ``fn(*tensors, **kwargs)``.

    Test files use it so that one test works both in the student's notebook (``grader.check``: ``fn``
    is their function) and in the grader (``fn`` is a :class:`RemoteRef`: the gradient is taken in the
    student's process and comes back as data).
    """
    if isinstance(fn, RemoteRef):
        return fn._call(tensors, kwargs, grad=True)
    import torch

    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    loss = fn(*leaves, **kwargs)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError("the function must return a scalar torch tensor")
    loss.backward()
    return loss.detach(), [t.grad for t in leaves]


def raises(exc_type: type[BaseException], fn: Any, *args: Any, **kwargs: Any) -> bool:
    """Whether ``fn(*args, **kwargs)`` raises ``exc_type`` (or a subclass of it).

    Works for the student's own function (``grader.check`` in their notebook) and for a
    :class:`RemoteRef` (the grader), where the exception is reported by name across the channel.
    """
    try:
        fn(*args, **kwargs)
    except StudentCodeError as e:
        if isinstance(e, WorkerGone):
            return False
        m = re.search(r" raised (\w+):", str(e))
        if not m:
            return False
        import builtins

        raised = getattr(builtins, m.group(1), None)
        return isinstance(raised, type) and issubclass(raised, exc_type)
    except exc_type:
        return True
    except Exception:  # noqa: BLE001 - another exception is a "no"
        return False
    return False


# ----------------------------------------------------------------------------------- the worker
_GRADER_LINE = re.compile(r"^\s*(import otter|grader\s*=\s*otter\.Notebook\(.*\)|grader\.\w+\(.*\))\s*$")


def _is_grader_cell(src: str) -> bool:
    """Cells otter adds for the student's own checks (``grader.check("q1")``): skipped when grading."""
    lines = [ln for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_GRADER_LINE.match(ln) for ln in lines)


def _worker_main(nb_file: str, fd_in: int, fd_out: int) -> None:  # pragma: no cover - runs sandboxed
    """Runs inside the sandbox: execute the notebook's code cells, then answer data requests."""
    try:  # die with the launcher (setpriv's change of user cleared the death signal set before it)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process's lifetime
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    import traceback

    from IPython.core.interactiveshell import InteractiveShell

    with open(nb_file, encoding="utf-8") as f:
        cells = json.load(f)
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


# ------------------------------------------------------------------------------------ the sandbox
@dataclass
class Limits:
    """Per-submission limits (seconds, bytes)."""

    wall_s: float = 600.0        # whole notebook, from start to the last cell
    cell_s: float = 300.0        # one cell
    call_s: float = 300.0        # one test's call into the submission
    memory_bytes: int = 6 << 30  # RLIMIT_AS of the worker
    file_bytes: int = 2 << 30    # RLIMIT_FSIZE: the largest file it may write
    nproc: int = 512             # RLIMIT_NPROC (threads count) for the unprivileged user


def isolation_mode() -> str:
    """``"namespaces"`` as root with ``unshare``/``setpriv``; else ``"rlimits-only"`` (documented)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") and shutil.which("setpriv"):
        return "namespaces"
    return "rlimits-only"


SANDBOX_UID = 65534  # nobody


def _limits_fn(limits: Limits):
    """The function the child runs between fork and exec: resource limits and a death signal.

    Only system calls through modules imported here, before the fork (no imports, no locks in the
    child), because the grader may have threads (torch) when it starts a submission.
    """
    import ctypes
    import resource

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        prctl = None
    cpu = int(limits.wall_s * 2 + 60)
    plan = ((resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NPROC, limits.nproc))

    def apply() -> None:  # pragma: no cover - runs in the child before exec
        if prctl is not None:  # if the grader dies, so does the submission
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        for lim, val in plan:
            try:
                resource.setrlimit(lim, (val, val))
            except (ValueError, OSError):
                pass

    return apply


class Worker:
    """One submission's process and the parent's side of the data channel."""

    def __init__(self, cells: list[tuple[int, str]], scratch: Path, limits: Limits, hide: list[Path],
                 env: dict[str, str], mode: str):
        self.limits, self.gone, self.cpu_s = limits, None, None
        nb_file = scratch / "cells.json"
        nb_file.write_text(json.dumps(cells), encoding="utf-8")
        to_w_r, to_w_w = os.pipe()
        from_w_r, from_w_w = os.pipe()
        self._w, self._r = to_w_w, from_w_r
        code = ("import sys; from sbert_lessons.classroom import _worker_main; "
                "_worker_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))")
        py = [sys.executable, "-c", code, nb_file.name, str(to_w_r), str(from_w_w)]
        if mode == "namespaces":
            os.chown(scratch, SANDBOX_UID, SANDBOX_UID)
            for p in scratch.rglob("*"):
                os.chown(p, SANDBOX_UID, SANDBOX_UID)
            # a path inside one hidden already has vanished: that is fine; any other failure stops the run
            mounts = " && ".join(
                f"{{ mount -t tmpfs -o size=4k,mode=0555 tmpfs {shlex.quote(str(h))} || [ ! -e {shlex.quote(str(h))} ]; }}"
                for h in hide if h.exists()) or "true"
            drop = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
                    "--no-new-privs", "--"]
            cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                   "--", "sh", "-c", f'{mounts} && exec "$@"', "sh", *drop, *py]
        else:
            cmd = py
        self.proc = subprocess.Popen(cmd, cwd=scratch, env=env, pass_fds=(to_w_r, from_w_w),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_limits_fn(limits))  # noqa: PLW1509 - syscalls only
        os.close(to_w_r)
        os.close(from_w_w)

    def _children(self) -> list[int]:
        try:
            return [int(x) for x in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except (OSError, ValueError):
            return []

    def cpu_seconds(self) -> float:
        """CPU time (user + system, its waited-for children included) of the submission's process so far."""
        total = 0.0
        for pid in self._children():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                pass
        return total

    def kill(self, why: str) -> None:
        if self.gone is None:
            self.gone = why
        if self.cpu_s is None:
            self.cpu_s = self.cpu_seconds()
        # unshare's child is the PID namespace's init (the worker itself): killing it ends every process
        # the submission started, even one that left the process group with setsid()
        for pid in self._children():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1

    def _exit_reason(self) -> str:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if rc < 0 or rc >= 128:
            sig = -rc if rc < 0 else rc - 128
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            extra = {"SIGKILL": " (killed: out of memory or CPU-time limit)",
                     "SIGXCPU": " (CPU-time limit)", "SIGSEGV": " (crashed)", "SIGABRT": " (aborted)"}
            return f"the notebook's process ended by signal {name}{extra.get(name, '')}"
        return f"the notebook's process exited with status {rc}"

    def read(self, deadline: float) -> dict:
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            return _read_frame(self._r, deadline)
        except TimeoutError:
            raise
        except EOFError:
            self.kill(self._exit_reason())
            raise WorkerGone(self.gone) from None
        except ChannelError as e:
            self.kill(f"the notebook's process wrote garbage into the grading channel ({e})")
            raise WorkerGone(self.gone) from None

    def request(self, req: dict, timeout: float) -> dict:
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            _write_frame(self._w, req)
            return self.read(time.monotonic() + timeout)
        except BrokenPipeError:
            self.kill(self._exit_reason())
            raise WorkerGone(self.gone) from None
        except TimeoutError:
            self.kill(f"a call into the notebook took longer than {timeout:.0f} s")
            raise WorkerGone(self.gone) from None


class RemoteRef:
    """A name (or attribute) in the submission's namespace that is not plain data: call it to run it there."""

    def __init__(self, worker: Worker, path: list[str], type_name: str = "object"):
        self._worker, self._path, self._type = worker, path, type_name

    def __getattr__(self, name: str) -> RemoteRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteRef(self._worker, self._path + [name])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, grad=False)

    def _call(self, args, kwargs, grad: bool):
        req = {"op": "call", "path": self._path, "args": [encode_value(a) for a in args],
               "kwargs": {k: encode_value(v) for k, v in kwargs.items()}, "grad": grad}
        if any(a["t"] == "ref" for a in req["args"]) or any(v["t"] == "ref" for v in req["kwargs"].values()):
            raise TypeError("only data can be passed to the submission's functions")
        resp = self._worker.request(req, self._worker.limits.call_s)
        if not resp.get("ok"):
            raise StudentCodeError(f"{'.'.join(self._path)} raised {str(resp.get('error'))[:500]}")
        value = decode_value(resp.get("value"))
        if grad:
            return value, [decode_value(g) for g in resp.get("grads", [])]
        return value

    def __repr__(self) -> str:
        return f"<the submission's {'.'.join(self._path)}>"


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


def read_cells(path: Path) -> tuple[list[tuple[int, str]], str | None]:
    """Code cells ``(number, source)`` to run, and the notebook's otter assignment name."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise SubmissionError(f"the file is not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise SubmissionError(f"the file is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                              "was the notebook saved completely?") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError("the file is JSON but not a Jupyter notebook (no list of cells)")
    cells, n = [], 0
    for c in nb["cells"]:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        n += 1
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        tags = (c.get("metadata") or {}).get("tags") or []
        if "otter_ignore" in tags or _is_grader_cell(src):
            continue
        cells.append((n, src))
    name = ((nb.get("metadata") or {}).get("otter") or {}).get("assignment_name")
    return cells, name


@dataclass
class QuestionResult:
    name: str
    score: float
    possible: float
    cases: list[dict] = field(default_factory=list)  # name, hidden, passed, points, message (public only)


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
    cpu_seconds: float = 0.0     # the submission's process plus the grader's own work on it


def _worker_env(scratch: Path, profile: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch), "LANG": "C.UTF-8",
           "SBERT_LESSONS_PROFILE": profile, "SBERT_LESSONS_CACHE": str(scratch / "cache"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(scratch), "MPLCONFIGDIR": str(scratch / ".mpl"),
           "PYTHONWARNINGS": "ignore"}
    for k in ("SBERT_LESSONS_DATA", "OMP_NUM_THREADS"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    return env


def grade_submission(path: Path, bundle: Bundle, student: str, limits: Limits, hide: list[Path],
                     mode: str, profile: str = "smoke", seed_cache: Path | None = None) -> SubmissionResult:
    """Run one notebook in its sandbox and grade it with the bundle's tests (run here, not there)."""
    import resource

    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    test_files = [load_test_file(p) for p in bundle.test_files]
    possible = float(sum(tf.possible for tf in test_files))
    res = SubmissionResult(student=student, status="graded", score=0.0, possible=possible)
    try:
        cells, nb_name = read_cells(path)
    except SubmissionError as e:
        res.status, res.reason = "not graded", f"not a readable notebook: {e}"
        _zero_questions(res, test_files, "the notebook could not be read")
        res.seconds = time.monotonic() - t0
        return res
    if nb_name and nb_name != bundle.name:
        res.notes.append(f"this notebook belongs to assignment {nb_name!r}, graded as {bundle.name!r}")
    scratch = Path(tempfile.mkdtemp(prefix="sbert-grade-"))
    worker = None
    try:
        if seed_cache is not None and Path(seed_cache).is_dir():
            shutil.copytree(seed_cache, scratch / "cache")  # a copy: no submission can alter the next one's
        worker = Worker(cells, scratch, limits, hide, _worker_env(scratch, profile), mode)
        deadline = time.monotonic() + limits.wall_s
        current, cell_started = None, time.monotonic()
        while True:
            try:
                msg = worker.read(min(deadline, cell_started + limits.cell_s))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    worker.kill(f"the notebook ran longer than the {limits.wall_s:.0f} s limit"
                                + (f" (stopped in code cell {current})" if current else ""))
                else:
                    worker.kill(f"code cell {current} ran longer than the {limits.cell_s:.0f} s limit "
                                "per cell (an endless loop?)")
                break
            except WorkerGone:
                break
            ev = msg.get("event")
            if ev == "cell_start":
                current, cell_started = msg.get("index"), time.monotonic()
            elif ev == "cell_done" and msg.get("error"):
                e = msg["error"]
                res.cell_errors.append({"cell": msg.get("index"), "ename": str(e.get("ename"))[:80],
                                        "evalue": str(e.get("evalue"))[:500], "line": e.get("line")})
            elif ev == "executed":
                break
        if worker.gone:
            res.reason = worker.gone
        _run_tests(res, test_files, worker)
    finally:
        if worker is not None:
            worker.kill("done")
        shutil.rmtree(scratch, ignore_errors=True)
    res.score = float(sum(q.score for q in res.questions))
    res.seconds = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    res.cpu_seconds = (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
                       + ((worker.cpu_s or 0.0) if worker is not None else 0.0))
    return res


def _zero_questions(res: SubmissionResult, test_files: list, why: str) -> None:
    for tf in test_files:
        res.questions.append(QuestionResult(tf.name, 0.0, float(tf.possible), [
            {"name": tc.name, "hidden": tc.hidden, "passed": False, "points": tc.points,
             "message": None if tc.hidden else why} for tc in tf.test_cases]))


def _run_tests(res: SubmissionResult, test_files: list, worker: Worker) -> None:
    from otter.test_files.abstract_test import TestCaseResult

    names = sorted({n for tf in test_files for n in test_params(tf)})
    env: dict[str, Any] = {}
    fetch_error = None
    if names:
        try:
            resp = worker.request({"op": "get", "names": names}, worker.limits.call_s)
            if not resp.get("ok"):
                raise ChannelError("the notebook's process refused to report its variables")
            for n, enc in (resp.get("values") or {}).items():
                if n not in names or not isinstance(enc, dict) or enc.get("t") == "missing":
                    continue
                env[n] = decode_value(enc, ref_factory=lambda d, n=n: RemoteRef(worker, [n], d.get("type")))
        except (WorkerGone, ChannelError) as e:
            fetch_error = str(e)
    for tf in test_files:
        if fetch_error is not None:
            tf.test_case_results = [TestCaseResult(tc, f"❌ not run: {fetch_error}", False)
                                    for tc in tf.test_cases]
        else:
            import warnings

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
def feedback_text(res: SubmissionResult, assignment: str) -> str:
    """The per-student feedback file (Markdown). Hidden tests: name and passed/failed only."""
    pct = 100 * res.score / res.possible if res.possible else 0.0
    out = [f"# {assignment}: feedback for {res.student}", "",
           f"**Score: {res.score:g} / {res.possible:g} ({pct:.0f}%)**", ""]
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


def scrub(text: str, secrets: list[str]) -> str:
    """Belt and braces: drop any line that contains a hidden test's source line."""
    keep = [ln for ln in text.splitlines() if not any(s in ln for s in secrets)]
    return "\n".join(keep) + "\n"


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``name.ipynb`` files, or one notebook per student folder (``name/anything.ipynb``)."""
    subs: list[tuple[str, Path]] = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix == ".ipynb":
            subs.append((p.stem, p))
        elif p.is_dir() and not p.name.startswith("."):
            nbs = sorted(x for x in p.glob("*.ipynb") if not x.name.startswith("."))
            if nbs:
                subs.append((p.name, nbs[0]))
    return subs


def grade_folder(bundle_zip: str | Path, submissions: str | Path, out: str | Path, *,
                 limits: Limits | None = None, hide: list[str | Path] = (), profile: str = "smoke",
                 allow_unisolated: bool = False, seed_cache: str | Path | None = None,
                 log=print) -> list[SubmissionResult]:
    """Grade every notebook in ``submissions`` into ``out/scores.csv`` and ``out/feedback/<student>.md``.

    ``seed_cache``: a course-cache folder copied into every submission's own (empty) cache before it
    runs, e.g. the embeddings of A3's slice made once by ``make assignments``, so thirty submissions
    do not encode the same 240 abstracts thirty times.
    """
    limits = limits or Limits()
    mode = isolation_mode()
    if mode != "namespaces" and not allow_unisolated:
        raise PermissionError(
            "safe grading needs root (a network/mount/PID namespace and an unprivileged user); run it "
            "with sudo or in a VM/container where you are root, or pass --allow-unisolated to grade with "
            "resource limits only (submissions could then read your files and the network)")
    from .profile import quiet_libraries

    quiet_libraries()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    subs = find_submissions(submissions)
    if not subs:
        raise ValueError(f"no .ipynb submissions in {submissions}")
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="sbert-bundle-"))  # 0700, root's
    results = []
    old_cache = os.environ.get("SBERT_LESSONS_CACHE")
    try:
        if seed_cache and Path(seed_cache).is_dir():
            # the grader's own computations (the tests) start from a private copy of the seed as well
            shutil.copytree(seed_cache, private / "cache")
            os.environ["SBERT_LESSONS_CACHE"] = str(private / "cache")
        bundle = Bundle.open(bundle_zip, private)
        secrets = hidden_sources(bundle)
        hidden_paths = [Path(bundle_zip).resolve().parent, submissions, out,
                        *[Path(h).resolve() for h in hide]]
        _check_hidden(hidden_paths)
        for student, path in subs:
            log(f"grading {student} ...")
            r = grade_submission(path, bundle, student, limits, hidden_paths, mode, profile,
                                 Path(seed_cache) if seed_cache else None)
            r.notes.insert(0, f"graded with isolation: {mode}") if mode != "namespaces" else None
            (out / "feedback" / f"{_safe(student)}.md").write_text(
                scrub(feedback_text(r, bundle.name), secrets), encoding="utf-8")
            log(f"  {student}: {r.score:g}/{r.possible:g} in {r.seconds:.0f} s ({r.cpu_seconds:.0f} s CPU)"
                + (f" ({r.reason})" if r.reason else ""))
            results.append(r)
        _write_csv(out / "scores.csv", results, bundle.name)
    finally:
        if old_cache is None:
            os.environ.pop("SBERT_LESSONS_CACHE", None)
        else:
            os.environ["SBERT_LESSONS_CACHE"] = old_cache
        shutil.rmtree(private, ignore_errors=True)
    return results


def _check_hidden(paths: list[Path]) -> None:
    """Refuse to hide a folder the submissions need (the Python environment, the course package, data)."""
    needed = [Path(sys.prefix).resolve(), Path(__file__).resolve().parent, Path(tempfile.gettempdir()).resolve()]
    if os.environ.get("SBERT_LESSONS_DATA"):
        needed.append(Path(os.environ["SBERT_LESSONS_DATA"]).resolve())
    for h in paths:
        for n in needed:
            if n == h or h in n.parents:
                raise ValueError(f"cannot hide {h} from the submissions: it holds {n}, which they need; keep the "
                                 "grading bundle, the submissions and the output in folders of their own")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:100] or "student"


def _write_csv(path: Path, results: list[SubmissionResult], assignment: str) -> None:
    qnames = [q.name for q in results[0].questions] if results else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "status", *qnames, "score", "possible", "percent",
                    "cell_errors", "reason", "seconds", "cpu_seconds"])
        for r in results:
            by = {q.name: q.score for q in r.questions}
            w.writerow([r.student, assignment, r.status, *(f"{by.get(q, 0):g}" for q in qnames),
                        f"{r.score:g}", f"{r.possible:g}",
                        f"{100 * r.score / r.possible:.1f}" if r.possible else "0.0",
                        len(r.cell_errors), r.reason, f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}"])


# ------------------------------------------------------------------------------ student edition
_SOL_START = re.compile(r"^(?P<f>`{3,}|:{3,})\{solution-start\}.*?^(?P=f)[ \t]*(?:\n|$)", re.MULTILINE | re.DOTALL)
_SOL_END = re.compile(r"^(?P<f>`{3,}|:{3,})\{solution-end\}.*?^(?P=f)[ \t]*(?:\n|$)", re.MULTILINE | re.DOTALL)
_SOL_BLOCK = re.compile(r"(`{3,}|:{3,})\{solution\}.*?\n\1[ \t]*(\n|$)", re.DOTALL)


def strip_solutions(nb: dict) -> tuple[dict, int]:
    """Remove gated solutions (``solution-start`` … ``solution-end``, across cells or within one markdown
    cell) and ``{solution}`` blocks; clear code outputs. Returns the notebook and how many were removed."""
    cells, inside, removed = [], False, 0
    for c in nb.get("cells", []):
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if c.get("cell_type") == "markdown":
            kept, pos = [], 0
            while True:
                if inside:
                    m, nested = _SOL_END.search(src, pos), _SOL_START.search(src, pos)
                    if nested and (not m or nested.start() < m.start()):
                        raise ValueError("solution-start inside another solution")
                    if not m:
                        break
                    inside, pos = False, m.end()
                else:
                    m = _SOL_START.search(src, pos)
                    if not m:
                        kept.append(src[pos:])
                        break
                    kept.append(src[pos:m.start()])
                    inside, pos, removed = True, m.end(), removed + 1
            text = "".join(kept)
            if "{solution}" in text:
                text, k = _SOL_BLOCK.subn("", text)
                removed += k
            if text.strip():
                cells.append({**c, "source": text})
            continue
        if inside:
            continue
        if c.get("cell_type") == "code":
            c = {**c, "outputs": [], "execution_count": None}
        cells.append(c)
    if inside:
        raise ValueError("a solution-start has no solution-end")
    return {**nb, "cells": cells}, removed


def make_student_src(src: str | Path, dest: str | Path) -> dict[str, int]:
    """Copy the book's sources to ``dest`` with every solution removed and execution off."""
    src, dest = Path(src).resolve(), Path(dest).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("_toc.yml", "book", "notebooks"):
        p = src / name
        if p.is_dir():
            shutil.copytree(p, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif p.is_file():
            shutil.copy2(p, dest / name)
    cfg = (src / "_config.yml").read_text(encoding="utf-8")
    cfg, n = re.subn(r"(?m)^(\s*execute_notebooks:\s*)\S+", r"\1'off'", cfg)
    if n != 1:
        raise ValueError("_config.yml: cannot find execute.execute_notebooks to switch off")
    cfg = cfg.replace('title: "', 'title: "Student edition: ', 1)
    (dest / "_config.yml").write_text(cfg, encoding="utf-8")
    metrics = src / "_build" / "metrics.json"
    if metrics.is_file():  # the figures page shows the reference run's figures
        (dest / "_build").mkdir()
        shutil.copy2(metrics, dest / "_build" / "metrics.json")
    counts: dict[str, int] = {}
    for nb_path in sorted((dest / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        nb, k = strip_solutions(nb)
        nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        counts[nb_path.name] = k
    for md in sorted((dest / "book").glob("*.md")):
        text = md.read_text(encoding="utf-8")
        text2, k = _SOL_BLOCK.subn("", text)
        if k:
            md.write_text(text2, encoding="utf-8")
            counts[md.name] = k
    return counts


# ------------------------------------------------------------------------------------------ CLI
def _parse_bytes(s: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)i?B?", s.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 6G)")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
                                    "T": 1 << 40}[m.group(2).upper()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sbert_lessons.classroom", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    g.add_argument("bundle", help="the autograder zip made by otter assign")
    g.add_argument("submissions", help="folder of NAME.ipynb (or NAME/any.ipynb)")
    g.add_argument("out", help="folder for scores.csv and feedback/")
    g.add_argument("--wall", type=float, default=Limits.wall_s, help="seconds per notebook")
    g.add_argument("--cell", type=float, default=Limits.cell_s, help="seconds per cell")
    g.add_argument("--call", type=float, default=Limits.call_s, help="seconds per test call")
    g.add_argument("--memory", type=_parse_bytes, default=Limits.memory_bytes, help="address space, e.g. 6G")
    g.add_argument("--hide", action="append", default=[], help="another folder the submissions must not see")
    g.add_argument("--profile", default="smoke", choices=("smoke", "full"))
    g.add_argument("--allow-unisolated", action="store_true")
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
        lim = Limits(wall_s=a.wall, cell_s=a.cell, call_s=a.call, memory_bytes=a.memory)
        t0 = time.monotonic()
        res = grade_folder(a.bundle, a.submissions, a.out, limits=lim, hide=a.hide, profile=a.profile,
                           allow_unisolated=a.allow_unisolated, seed_cache=a.seed_cache)
        print(f"{len(res)} submissions graded in {time.monotonic() - t0:.0f} s: {Path(a.out) / 'scores.csv'}")
        return 0
    if a.cmd == "warm-a3":
        os.environ["SBERT_LESSONS_CACHE"] = str(Path(a.cache_dir).resolve())
        from .models import MINILM, load_sentence_model
        from .profile import quiet_libraries

        quiet_libraries()
        data = scifact_slice()
        model = load_sentence_model(MINILM)
        encode_slice(model, data.doc_texts)
        encode_slice(model, list(data.dev.values()))
        print(f"A3 slice encoded into {a.cache_dir}")
        return 0
    counts = make_student_src(a.src, a.dest)
    print(f"student sources in {a.dest}: {sum(counts.values())} solutions removed "
          f"from {sum(1 for v in counts.values() if v)} files")
    return 0


if __name__ == "__main__":
    # run the package's module, not this __main__ copy: test files import sbert_lessons.classroom, and
    # its classes (RemoteRef, StudentCodeError) must be the ones the grader uses
    from sbert_lessons.classroom import main as _main

    sys.exit(_main())


# ------------------------------------------------------------------------- assignment A3's data
A3_DOCS = 240
A3_QUERIES = 80


@dataclass
class SearchSlice:
    """A3's SciFact slice: ``doc_ids``/``doc_texts``, ``dev`` queries for the student, ``grading`` queries
    for the hidden test (``{query_id: text}``), and ``qrels`` for both."""

    doc_ids: list[str]
    doc_texts: list[str]
    dev: dict[str, str]
    grading: dict[str, str]
    qrels: dict[str, dict[str, int]]


@functools.lru_cache(maxsize=2)
def scifact_slice(n_docs: int = A3_DOCS, n_queries: int = A3_QUERIES) -> SearchSlice:
    """Assignment A3's slice of SciFact (test split), small enough to encode on a laptop in a minute.

    The first ``n_queries`` claims (first half: dev, for the student; second half: grading), every
    document judged for them, and, up to ``n_docs`` documents, *hard* distractors: for each claim in
    turn, the best BM25 match among the whole corpus's unjudged documents (so the slice is not
    trivially easy the way a random sample of distractors would make it). Cached per process: treat
    the result as read-only.
    """
    from .data import load_scifact
    from .search import bm25_search, scifact_doc_texts, scifact_query_texts

    if n_queries < 2 or n_docs < 1:
        raise ValueError("scifact_slice needs at least 2 queries and 1 document")
    sf = load_scifact("test")
    queries = sf.queries.iloc[:n_queries]
    qids = [str(q) for q in queries["_id"]]
    texts = scifact_query_texts(queries)
    judged = {d for q in qids for d in sf.qrels[q]}
    all_ids = [str(d) for d in sf.corpus["_id"]]
    keep = [d for d in all_ids if d in judged]
    _, ids = bm25_search(scifact_doc_texts(sf.corpus), texts, top_k=50)
    chosen, rank = set(keep), 0
    while len(chosen) < n_docs and rank < ids.shape[1]:
        for row in ids:
            d = all_ids[int(row[rank])]
            if d not in chosen and len(chosen) < n_docs:
                chosen.add(d)
        rank += 1
    corpus = sf.corpus[sf.corpus["_id"].astype(str).isin(chosen)].reset_index(drop=True)
    half = n_queries // 2
    return SearchSlice(doc_ids=[str(d) for d in corpus["_id"]], doc_texts=scifact_doc_texts(corpus),
                       dev=dict(zip(qids[:half], texts[:half])), grading=dict(zip(qids[half:], texts[half:])),
                       qrels={q: dict(sf.qrels[q]) for q in qids})


A3_MAX_SEQ = 128


def encode_slice(model: Any, texts: list[str]) -> np.ndarray:
    """Unit-length embeddings of A3 texts through the course cache, truncated to ``A3_MAX_SEQ`` tokens
    (the notebook and the grader call this one function, so they share cache entries)."""
    model.max_seq_length = min(int(model.max_seq_length), A3_MAX_SEQ)
    from .cache import encode

    return encode(model, list(texts), normalize=True)
