"""`make lab` starts JupyterLab in the course environment on the lessons (headless check).

The server is started through the Makefile target itself (the install stamp taken as up to date, so the
test never reinstalls anything), asked for its contents listing and the JupyterLab page, then stopped.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from classroom_helpers import ROOT, env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_make_lab_serves_the_lessons(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    flags = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
             f"--IdentityProvider.token={token}" + (" --allow-root" if os.geteuid() == 0 else ""))
    e = env()
    e.update({"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
              "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")})
    proc = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.sbert-lessons-installed", "lab",
                             f"LAB_FLAGS={flags}"], cwd=ROOT, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        t0, status = time.monotonic(), 0
        while time.monotonic() - t0 < 120 and proc.poll() is None:
            try:
                status, body = _get(f"{base}/api/contents?token={token}")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = 0
            if status == 200:
                break
            time.sleep(1)
        assert status == 200, proc.stdout.read().decode(errors="replace")[-3000:] if proc.poll() is not None else \
            "the server did not answer in 120 s"
        listed = {item["name"] for item in json.loads(body)["content"]}
        lessons = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert lessons and lessons <= listed, f"lessons missing from the listing: {sorted(lessons - listed)}"
        status, page = _get(f"{base}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in page
        status, specs = _get(f"{base}/api/kernelspecs?token={token}")
        assert status == 200 and "python3" in json.loads(specs)["kernelspecs"]
        print(f"\nmake lab: JupyterLab answered in {time.monotonic() - t0:.0f} s and listed {len(lessons)} lessons")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
