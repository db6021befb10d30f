"""The sandbox: one process tree per submission, its view of the machine, its limits, its end.

Three ways to isolate a submission, best first (:func:`isolation_mode`):

``bubblewrap``
    ``bwrap`` (Debian's ``bubblewrap``; what Flatpak builds on) runs without root through unprivileged
    user namespaces. The submission's filesystem is built from nothing (an allow-list): the interpreter,
    its standard library and site-packages and the course package read-only, the data mirror read-only,
    an empty private working folder, ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (size-capped tmpfs), a fresh
    ``/proc`` and a minimal ``/dev``. No home folder, no checkout and its ``.git``, no grading bundle, no other
    submission, no host socket; its own user, network (no interfaces but a down loopback), PID, IPC and
    UTS namespaces; ``--die-with-parent``.
``namespaces``
    Where ``bwrap`` is missing and the grader is root: ``unshare`` (network, mount, PID) and ``setpriv``
    to ``nobody``, with empty mounts over a list of folders to hide. A deny-list: the fallback only.
``none``
    Resource limits only; refused unless the teacher passes ``--allow-unisolated``, and then every
    feedback file says so.

Limits for the whole submission, whatever the mode: one wall clock for the notebook and the tests (the
grader's deadline), memory summed over all of the submission's processes (a watchdog reads each one's
proportional set size a few times a second and ends the submission above the limit; each process also
has that limit as its address space), a process and thread count (``RLIMIT_NPROC`` inside the user
namespace, and the watchdog), CPU seconds, the largest file it may write and the size of each writable
folder. When grading ends, every process of the submission is killed (the whole process tree; with
bubblewrap, the PID namespace's init, which takes the namespace with it).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .channel import ChannelError, WorkerGone, _read_frame, _write_frame

SANDBOX_UID = 65534  # nobody
INSIDE_WORK = "/submission"
INSIDE_GRADER = "/grader"


@dataclass
class Limits:
    """Per-submission limits (seconds, bytes)."""

    wall_s: float = 600.0          # the whole submission: its notebook and the tests' calls into it
    cell_s: float = 300.0          # one cell
    call_s: float = 300.0          # one test's call into the submission
    memory_bytes: int = 6 << 30    # all its processes together (and each one's address space)
    file_bytes: int = 256 << 20    # RLIMIT_FSIZE: the largest file it may write
    disk_bytes: int = 1 << 30      # its working folder; /tmp, /var/tmp and /dev/shm a quarter each
    nproc: int = 256               # processes and threads


class SandboxError(RuntimeError):
    """The sandbox cannot be used on this machine as configured (said before any submission is graded)."""


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox here (``None`` when it can): missing, or its namespaces refused (a
    container's seccomp profile, user namespaces switched off)."""
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed"
    try:
        p = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/",
                            "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap could not run ({e})"
    if p.returncode != 0:
        return ("bwrap is installed but cannot create its namespaces here ("
                + (p.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:200]
                + "): unprivileged user namespaces are off, or a container forbids them")
    return None


@functools.lru_cache(maxsize=1)
def _bwrap_help() -> str:
    try:
        return subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _bwrap_has(flag: str) -> bool:
    """Older bubblewraps lack some options (``--disable-userns`` is 0.8, ``--size`` 0.7): leave those out."""
    return flag in _bwrap_help()


def isolation_mode(requested: str = "auto") -> str:
    """``"bubblewrap"`` where ``bwrap`` works; else ``"namespaces"`` as root with ``unshare``/``setpriv``;
    else ``"none"``."""
    if requested != "auto":
        if requested not in ("bubblewrap", "namespaces", "none"):
            raise ValueError(f"unknown isolation {requested!r}: bubblewrap, namespaces or none")
        return requested
    if bwrap_problem() is None:
        return "bubblewrap"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") and shutil.which("setpriv"):
        return "namespaces"
    return "none"


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def interpreter_paths() -> list[Path]:
    """Folders the submission's Python needs, read-only: the environment (``sys.prefix``), the
    interpreter it was made from (``sys.base_prefix``, wherever it lives: a pyenv or conda folder under a
    private home works, since bubblewrap mounts it before dropping privileges), the real executable's own
    prefix, and the course package itself (only the package folder of an editable install, not the
    checkout around it)."""
    import sbert_lessons

    roots: list[Path] = []
    real_exe = Path(os.path.realpath(sys.executable))
    cands = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, real_exe.parent.parent,
             Path(sbert_lessons.__file__).resolve().parent]
    for c in cands:
        p = Path(os.path.realpath(c))
        if p.is_dir() and p not in roots:
            roots.append(p)
    # the venv's own bin/python is a symlink chain into base_prefix: both sides are listed above. Shared
    # libraries this interpreter has loaded from elsewhere (a libpython or libssl under /opt or a
    # Homebrew prefix) are shown too, each folder on its own.
    for d in _loaded_library_dirs():
        if not any(r == d or r in d.parents for r in roots):
            roots.append(d)
    return _minimal(roots)


def _loaded_library_dirs() -> list[Path]:
    dirs: list[Path] = []
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return dirs
    for ln in maps:
        parts = ln.split(maxsplit=5)
        if len(parts) < 6 or not parts[5].startswith("/") or ".so" not in Path(parts[5]).name:
            continue
        f = Path(os.path.realpath(parts[5]))
        if f.is_file() and f.parent not in dirs and not str(f.parent).startswith(("/tmp", "/dev", "/proc")):
            dirs.append(f.parent)
    return dirs


def _minimal(paths: list[Path]) -> list[Path]:
    """Drop paths inside another listed one, and anything under /usr (bound whole)."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda x: len(x.parts)):
        if p == Path("/"):
            raise SandboxError("the Python environment is the whole filesystem ('/'): cannot isolate it")
        if Path("/usr") in (p, *p.parents) or any(q in (p, *p.parents) for q in out):
            continue
        out.append(p)
    return out


_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "nsswitch.conf",
        "mime.types", "fonts")


class Sandbox:
    """The isolation used for one batch: mode, limits, what the submission may see."""

    def __init__(self, mode: str, limits: Limits, private: Path, hide: list[Path] = (),
                 seed_cache: Path | None = None):
        self.mode, self.limits, self.private = mode, limits, Path(private)
        self.hide = [Path(h) for h in hide]
        self.threads = 0  # compute threads per submission (OMP/MKL/torch); 0: the libraries' default
        self.seed_cache = Path(seed_cache).resolve() if seed_cache and Path(seed_cache).is_dir() else None
        self.ro: list[Path] = []
        if mode == "bubblewrap":
            self.ro = interpreter_paths()
            data = os.environ.get("SBERT_LESSONS_DATA")
            if data and Path(data).is_dir():
                self.ro = _minimal([*self.ro, Path(data).resolve()])
            self._check_view()
        elif mode == "namespaces":
            _check_hidden(self.hide)

    def _check_view(self) -> None:
        """Nothing the submission must not see may lie inside a folder it is shown."""
        for b in self.ro:
            if (b / ".git").exists():
                raise SandboxError(f"the sandbox would show {b} to the submissions (it holds the Python "
                                   "environment, the course package or the data), and it is a git checkout "
                                   "whose history could hold the assignments' masters: keep the environment, "
                                   "the package and the data in folders that are not a checkout's root")
            for h in self.hide:
                h = h.resolve()
                if h == b or b in h.parents:
                    raise SandboxError(f"{h} lies inside {b}, which the sandbox shows to every submission "
                                       "(the Python environment, the course package or the data): keep the "
                                       "grading bundle, the submissions and the output in folders of their "
                                       "own")

    # ------------------------------------------------------------------------------------ commands
    def env(self, scratch: Path, profile: str) -> dict[str, str]:
        inside = Path(INSIDE_WORK) if self.mode == "bubblewrap" else scratch
        tmp = "/tmp" if self.mode == "bubblewrap" else str(scratch)
        venv_bin = str(Path(sys.executable).parent)
        env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(inside), "LANG": "C.UTF-8",
               "SBERT_LESSONS_PROFILE": profile, "SBERT_LESSONS_CACHE": str(inside / "cache"),
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": tmp, "MPLCONFIGDIR": str(inside / ".mpl"),
               "PYTHONWARNINGS": "ignore", "SBERT_GRADE_NPROC": str(self.limits.nproc), "USER": "student",
               "LOGNAME": "student"}
        if self.mode == "bubblewrap":
            import sbert_lessons

            # the course package the grader itself imported (from a checkout's src/ through PYTHONPATH, an
            # editable install or site-packages), first on the path: it is the folder shown inside
            env["PYTHONPATH"] = str(Path(sbert_lessons.__file__).resolve().parent.parent)
            if self.seed_cache is not None:
                env["SBERT_GRADE_SEED"] = f"{INSIDE_GRADER}/seed-cache"
        if self.mode != "bubblewrap":
            env.pop("SBERT_GRADE_NPROC")  # there, RLIMIT_NPROC would count the user's other processes
        if self.threads:  # submissions graded side by side share the cores instead of each taking all
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[k] = str(self.threads)
        for k in ("SBERT_LESSONS_DATA", "OMP_NUM_THREADS"):
            if os.environ.get(k):
                env[k] = os.environ[k]
        if self.mode == "bubblewrap" and env.get("SBERT_LESSONS_DATA"):
            # the sandbox shows the data folder at its resolved path only: a path through a symbolic link
            # (a data mirror linked beside the checkout) does not exist inside
            env["SBERT_LESSONS_DATA"] = str(Path(env["SBERT_LESSONS_DATA"]).resolve())
        return env

    def command(self, py_args: list[str], scratch: Path) -> list[str]:
        """The argv that runs ``py_args`` (a Python command line) inside the sandbox."""
        if self.mode == "bubblewrap":
            return [*(self._prlimit() or []), *self._bwrap(py_args)]
        if self.mode == "namespaces":
            os.chown(scratch, SANDBOX_UID, SANDBOX_UID)
            for p in scratch.rglob("*"):
                os.chown(p, SANDBOX_UID, SANDBOX_UID)
            # a path inside one hidden already has vanished: that is fine; any other failure stops the run
            mounts = " && ".join(
                f"{{ mount -t tmpfs -o size=4k,mode=0555 tmpfs {shlex.quote(str(h))} || "
                f"[ ! -e {shlex.quote(str(h))} ]; }}" for h in self.hide if h.exists()) or "true"
            drop = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
                    "--no-new-privs", "--"]
            return ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                    "--", "sh", "-c", f'{mounts} && exec "$@"', "sh", *drop, *py_args]
        return list(py_args)

    def _bwrap(self, py_args: list[str]) -> list[str]:
        lim = self.limits
        a = ["bwrap", "--unshare-all", "--unshare-user", *(["--disable-userns"] * _bwrap_has("--disable-userns")),
             "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--uid", str(SANDBOX_UID),
             "--gid", str(SANDBOX_UID), "--proc", "/proc", "--dev", "/dev"]
        # the private tmpfs first: a folder shown below that lies under /tmp (say) then stays visible
        quarter = max(lim.disk_bytes // 4, 1 << 20)
        for path, perms, size in (("/dev/shm", "01777", quarter), ("/tmp", "01777", quarter),
                                  ("/var/tmp", "01777", quarter), (INSIDE_WORK, "0700", lim.disk_bytes)):
            if _bwrap_has("--perms"):
                a += ["--perms", perms]
            if _bwrap_has("--size"):  # without it (bwrap < 0.7) only RLIMIT_FSIZE caps what is written
                a += ["--size", str(size)]
            a += ["--tmpfs", path]
        a += ["--ro-bind", "/usr", "/usr"]
        for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(name):
                a += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                a += ["--ro-bind", name, name]
        for name in _ETC:
            a += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for p in self.ro:
            a += ["--ro-bind", str(p), str(p)]
        if self.seed_cache is not None:
            a += ["--ro-bind", str(self.seed_cache), f"{INSIDE_GRADER}/seed-cache"]
        return [*a, "--chdir", INSIDE_WORK, "--", *py_args]

    def _prlimit(self) -> list[str] | None:
        """With bubblewrap, the limits come from ``prlimit`` in front of ``bwrap`` (whose
        ``--die-with-parent`` is the death signal), so starting a submission runs no Python in the child."""
        return _prlimit_prefix(self.limits) if self.mode == "bubblewrap" else None

    def preexec(self):
        """The ``preexec_fn`` for :class:`subprocess.Popen`: ``None`` where :meth:`command` sets the limits."""
        if self._prlimit() is not None:
            return None
        return _limits_fn(self.limits, with_nproc=self.mode == "namespaces")

    def check(self) -> None:
        """Pre-flight: the sandbox starts the course's Python and imports what grading needs."""
        scratch = Path(tempfile.mkdtemp(prefix="sbert-check-", dir=self.private))
        code = "import IPython, numpy, sbert_lessons.classroom.worker; print('sandbox ok')"
        try:
            argv = self.command([sys.executable, "-c", code], scratch)
            p = subprocess.run(argv, check=False, cwd=scratch, env=self.env(scratch, "smoke"),
                               capture_output=True, timeout=300, preexec_fn=self.preexec())
            out, err, rc = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), p.returncode
        except FileNotFoundError as e:
            raise SandboxError(f"cannot start the sandbox: {e.filename} not found") from None
        except subprocess.TimeoutExpired:
            out, err, rc = "", "timed out after 300 s", -1
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if rc == 0 and "sandbox ok" in out:
            return
        tail = " | ".join(err.strip().splitlines()[-3:])[:600] or f"exit status {rc}"
        hint = ""
        if self.mode == "bubblewrap" and ("namespace" in err or "uid map" in err or "Operation not permitted" in err):
            hint = (" Unprivileged user namespaces look disabled on this machine: enable them "
                    "(sysctl user.max_user_namespaces=15000, and kernel.unprivileged_userns_clone=1 or "
                    "kernel.apparmor_restrict_unprivileged_userns=0 where those exist), or grade as root.")
        elif self.mode == "namespaces":
            hint = (f" The sandbox user (uid {SANDBOX_UID}) must reach {sys.executable} and the course "
                    "package: a folder on the way is probably private (a home folder, a pyenv or conda "
                    "install under it). Install bubblewrap (apt-get install bubblewrap), which shows those "
                    "folders to the sandbox read-only, or install the environment where others can read it.")
        raise SandboxError(f"the grading sandbox ({self.mode}) could not start the course's Python "
                           f"({sys.executable}) and import the course package: {tail}.{hint} "
                           "No submission was graded.")


def _check_hidden(paths: list[Path]) -> None:
    """Deny-list mode: refuse to hide a folder the submissions need (environment, course package, data)."""
    import sbert_lessons

    needed = [Path(sys.prefix).resolve(), Path(sbert_lessons.__file__).resolve().parent,
              Path(tempfile.gettempdir()).resolve()]
    if os.environ.get("SBERT_LESSONS_DATA"):
        needed.append(Path(os.environ["SBERT_LESSONS_DATA"]).resolve())
    for h in paths:
        h = Path(h).resolve()
        for n in needed:
            if n == h or h in n.parents:
                raise ValueError(f"cannot hide {h} from the submissions: it holds {n}, which they need; keep the "
                                 "grading bundle, the submissions and the output in folders of their own")


def _limit_plan(limits: Limits, with_nproc: bool) -> list[tuple[str, int]]:
    """Each resource limit of one submission process: ``(name, value)``, named as ``prlimit`` names them."""
    plan = [("as", int(limits.memory_bytes)), ("cpu", int(limits.wall_s * 2 + 60)),
            ("fsize", int(limits.file_bytes)), ("core", 0)]
    if with_nproc:
        plan.append(("nproc", int(limits.nproc)))
    return plan


def _prlimit_prefix(limits: Limits, with_nproc: bool = False) -> list[str] | None:
    """``prlimit --as=… --cpu=… -- `` (util-linux): the command sets the limits on itself and execs the
    sandbox, so no Python code runs between fork and exec. ``None`` where ``prlimit`` is missing."""
    exe = shutil.which("prlimit")
    if exe is None:
        return None
    return [exe, *(f"--{name}={value}" for name, value in _limit_plan(limits, with_nproc)), "--"]


def _limits_fn(limits: Limits, with_nproc: bool = False):
    """The function the child runs between fork and exec: resource limits and a death signal.

    Only where the limits cannot be set by ``prlimit`` in front of the command (:meth:`Sandbox.preexec`):
    Python's documentation warns that ``preexec_fn`` is not safe in a process with threads (the child may
    deadlock before exec), and the grader has threads (parallel grading, each submission's watchdog). So:
    only system calls through modules imported here, before the fork (no imports, no locks in the child).
    """
    import ctypes
    import resource

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        prctl = None
    ids = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "core": resource.RLIMIT_CORE, "nproc": getattr(resource, "RLIMIT_NPROC", None)}
    plan = [(ids[name], value) for name, value in _limit_plan(limits, with_nproc) if ids[name] is not None]

    def apply() -> None:  # pragma: no cover - runs in the child before exec
        if prctl is not None:  # if the grader dies, so does the submission
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        for lim, val in plan:
            try:
                resource.setrlimit(lim, (val, val))
            except (ValueError, OSError):
                pass

    return apply


# ------------------------------------------------------------------------------------- processes
def process_tree(root: int) -> list[int]:
    """``root`` and every descendant (through each thread's ``children``), parents first."""
    out, todo, seen = [], [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                todo += [int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except (OSError, ValueError):
                pass
    return out


def _pss_and_threads(pids: list[int]) -> tuple[int, int]:
    pss, threads = 0, 0
    for pid in pids:
        try:
            for ln in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if ln.startswith("Pss:"):
                    pss += int(ln.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            pass
        try:
            threads += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return pss, threads


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


class Worker:
    """One submission's process tree and the grader's side of the data channel."""

    WATCH_EVERY_S = 0.2

    def __init__(self, cells: list[tuple[int, str]], scratch: Path, sandbox: Sandbox, profile: str,
                 deadline: float):
        self.limits, self.sandbox, self.deadline = sandbox.limits, sandbox, deadline
        self.gone: str | None = None
        self.phase = "starting"  # where the grader is with it ("code cell 4", "test q2"): said when it is stopped
        self.violation: str | None = None   # the submission broke the channel's protocol
        self._watch_reason: str | None = None
        self.cpu_s: float | None = None
        self.peak_pss = 0
        to_w_r, to_w_w = os.pipe()
        from_w_r, from_w_w = os.pipe()
        self._w, self._r = to_w_w, from_w_r
        code = ("import sys; from sbert_lessons.classroom.worker import main; "
                "main(int(sys.argv[1]), int(sys.argv[2]))")
        py = [sys.executable, "-c", code, str(to_w_r), str(from_w_w)]
        cmd = sandbox.command(py, scratch)
        self.proc = subprocess.Popen(cmd, cwd=scratch, env=sandbox.env(scratch, profile),
                                     pass_fds=(to_w_r, from_w_w), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True,
                                     preexec_fn=sandbox.preexec())  # noqa: PLW1509 - syscalls only
        os.close(to_w_r)
        os.close(from_w_w)
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watchdog, daemon=True)
        self._watch.start()
        try:  # the cells travel on the channel: no host path of the grader's shows in the sandbox
            _write_frame(self._w, {"cells": cells})
        except (BrokenPipeError, OSError):
            self.kill(self._exit_reason())

    # --------------------------------------------------------------------------------- watchdog
    def _watchdog(self) -> None:
        lim = self.limits
        while not self._stop.wait(self.WATCH_EVERY_S):
            pids = process_tree(self.proc.pid)
            if len(pids) <= 1 and self.proc.poll() is not None:
                return
            pss, threads = _pss_and_threads(pids)
            self.peak_pss = max(self.peak_pss, pss)
            why = None
            if pss > lim.memory_bytes:
                why = (f"its processes together used more than the {_fmt_bytes(lim.memory_bytes)} memory "
                       f"limit ({_fmt_bytes(pss)} across {len(pids)} processes)")
            elif threads > lim.nproc + 8:
                why = f"it ran more than the {lim.nproc} processes and threads allowed ({threads})"
            if why:
                self._watch_reason = why
                self.cpu_s = _cpu_of(pids)
                self._kill_tree()
                return

    def _kill_tree(self) -> None:
        for _ in range(3):
            pids = process_tree(self.proc.pid)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if len(pids) <= 1:
                break
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def cpu_seconds(self) -> float:
        """CPU time (user + system, waited-for children included) of the submission's processes so far."""
        return _cpu_of(process_tree(self.proc.pid))

    def kill(self, why: str) -> None:
        if self.gone is None:
            self.gone = self._watch_reason or why
        if self.cpu_s is None:
            self.cpu_s = self.cpu_seconds()
        self._stop.set()
        self._kill_tree()
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

    def protocol_error(self, what: str) -> WorkerGone:
        """The submission wrote something on the grading channel that is not a well-formed message:
        that ends it, and it scores zero."""
        msg = f"the notebook wrote a malformed message on the grading channel ({what})"
        if self.violation is None and self.gone is None:
            self.violation = msg
        self.kill(msg)
        return WorkerGone(self.gone)

    def _exit_reason(self) -> str:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if self._watch_reason:
            return self._watch_reason
        if rc < 0 or rc >= 128:
            sig = -rc if rc < 0 else rc - 128
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            extra = {"SIGKILL": " (killed: out of memory or CPU-time limit)",
                     "SIGXCPU": " (CPU-time limit)", "SIGSEGV": " (crashed)", "SIGABRT": " (aborted)"}
            return f"the notebook's process ended by signal {name}{extra.get(name, '')}"
        return f"the notebook's process exited with status {rc}"

    def _wall_message(self) -> str:
        return (f"the notebook and its tests together ran longer than the {self.limits.wall_s:.0f} s limit "
                f"for the whole submission (stopped during {self.phase})")

    def read(self, deadline: float) -> dict:
        """The next frame, by ``deadline`` (capped at the submission's own deadline)."""
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            return _read_frame(self._r, min(deadline, self.deadline))
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                self.kill(self._wall_message())
                raise WorkerGone(self.gone) from None
            raise
        except EOFError:
            self.kill(self._exit_reason())
            raise WorkerGone(self.gone) from None
        except ChannelError as e:
            raise self.protocol_error(str(e)) from None

    def request(self, req: dict, timeout: float) -> dict:
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            _write_frame(self._w, req)
            resp = self.read(time.monotonic() + timeout)
        except BrokenPipeError:
            self.kill(self._exit_reason())
            raise WorkerGone(self.gone) from None
        except TimeoutError:
            self.kill(f"a call into the notebook took longer than {timeout:.0f} s")
            raise WorkerGone(self.gone) from None
        if "event" in resp or not isinstance(resp.get("ok"), bool):
            raise self.protocol_error("an answer that is not an answer")
        return resp
