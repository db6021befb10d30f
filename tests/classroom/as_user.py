"""Run a command as an unprivileged user, with the course's Python reachable (test helper, run as root).

``unshare -m python as_user.py UID HOME -- CMD...``: in a private mount namespace (nothing changes on
the host), every folder the course's Python needs that lies under a folder others cannot enter (the
interpreter of a pyenv install under ``/root``, say) is shown through a read-only bind mount on a fresh
``0755`` tmpfs over that private folder; then the process drops to ``UID`` (no capabilities, no other
groups) and runs ``CMD`` with ``HOME`` set. This is "a copy of what it needs readable" without copying a
multi-gigabyte environment or changing permissions on the host.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path


def _blocked_ancestor(p: Path, uid: int) -> Path | None:
    """The first folder on the way to ``p`` that ``uid`` (with no groups) cannot enter."""
    for a in [*reversed(p.parents)][1:] + [p]:
        try:
            st = a.stat()
        except OSError:
            return None
        if not st.st_mode & (stat.S_IXUSR if st.st_uid == uid else stat.S_IXOTH):
            return a
    return None


def expose(paths: list[Path], uid: int) -> None:
    by_blocker: dict[Path, list[Path]] = {}
    for p in paths:
        b = _blocked_ancestor(p, uid)
        if b is not None and b != p:
            by_blocker.setdefault(b, []).append(p)
    stage = Path(tempfile.mkdtemp(prefix="as-user-stage-", dir="/tmp"))  # never under a blocked folder
    n = 0
    for blocker, inside in by_blocker.items():
        staged = []
        for p in inside:
            n += 1
            s = stage / str(n)
            s.mkdir()
            subprocess.run(["mount", "--rbind", str(p), str(s)], check=True)
            staged.append((p, s))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(blocker)], check=True)
        for p, s in staged:
            p.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--rbind", str(s), str(p)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(p)], check=True)


def main() -> None:
    uid, home = int(sys.argv[1]), sys.argv[2]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    from sbert_lessons.classroom.sandbox import interpreter_paths

    need = interpreter_paths()
    if os.environ.get("SBERT_LESSONS_DATA"):
        need.append(Path(os.environ["SBERT_LESSONS_DATA"]).resolve())
    expose(need, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.environ["HOME"] = home
    os.chdir(home)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
