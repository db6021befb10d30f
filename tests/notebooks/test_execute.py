"""Notebook stage, first execution: papermill runs every lesson once with its ``profile`` parameter.

Each lesson is executed by papermill (``-p profile <profile>``) into ``_build/executed/NN_topic.ipynb``.
That executed copy keeps papermill's injected-parameters cell and its per-cell durations
(``cell.metadata.papermill.duration``), and gets one more metadata block, ``metadata.sbert_lessons.run``:
the profile, device and library versions it ran with and its wall time. The book is built from these
copies (``book/_ext/sbert_book.py``), so ``make book`` executes nothing.

The profile is ``$SBERT_LESSONS_PROFILE`` when set (CI sets ``smoke``), else what the hardware implies
(``full`` with CUDA, ``smoke`` without). The executed folder is ``$SBERT_LESSONS_EXECUTED`` when set.

Time guard: a smoke run that takes more than twice its budget fails with a message naming the budget.
Budgets (smoke profile, cold caches, two quiet cores; COURSE_DESIGN §3) are 3 minutes, or 8 minutes for a
lesson that trains or benchmarks (``BUDGET_MINUTES`` below). A lesson can state its own budget in its
notebook metadata, ``"sbert_lessons": {"smoke_budget_minutes": 5}``, which wins over the table.
``SBERT_LESSONS_TIME_GUARD`` changes the factor (default 2; ``0`` turns the guard off, e.g. on a machine
known to be overloaded: say so wherever the timings are reported).
"""

from __future__ import annotations

import json
import os
import resource
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Per cell. Smoke: 30 minutes (a lesson that trains can take minutes on a CPU). Full: 4 hours, because on a
# CPU one full cell can take longer than 30 minutes (all-mpnet-base-v2 encoding all 5,183 SciFact abstracts,
# or SimCSE over the whole corpus); the time guard does not apply to the full profile either.
TIMEOUT_S = {"smoke": 1800, "full": 4 * 3600}

# Lessons that train or benchmark get 8 minutes; every other lesson 3 (smoke profile, cold caches).
TRAINS_OR_BENCHMARKS = {"03", "05", "06", "07", "08", "10"}
BUDGET_MINUTES = {n: (8 if n in TRAINS_OR_BENCHMARKS else 3) for n in (f"{i:02d}" for i in range(100))}

# Filled as notebooks run; conftest.py prints it at the end of the session and writes timings.json.
TIMINGS: list[dict] = []


def executed_dir() -> Path:
    return Path(os.environ.get("SBERT_LESSONS_EXECUTED") or ROOT / "_build" / "executed")


def budget_seconds(path: Path, nb=None) -> float:
    """The smoke budget of a lesson in seconds: its notebook metadata, else the table above."""
    nb = nb if nb is not None else nbformat.read(path, as_version=4)
    own = (nb.metadata.get("sbert_lessons") or {}).get("smoke_budget_minutes")
    if own is not None:
        if not isinstance(own, (int, float)) or own <= 0:
            raise ValueError(f"{path.name}: metadata sbert_lessons.smoke_budget_minutes must be a positive number")
        return float(own) * 60
    return BUDGET_MINUTES[path.name[:2]] * 60.0


def guard_factor() -> float:
    raw = os.environ.get("SBERT_LESSONS_TIME_GUARD", "2")
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"SBERT_LESSONS_TIME_GUARD must be a number (got {raw!r})") from None
    if factor < 0:
        raise ValueError(f"SBERT_LESSONS_TIME_GUARD must be >= 0 (got {raw!r})")
    return factor


def check_time(name: str, seconds: float, budget_s: float, profile: str, factor: float) -> str | None:
    """The time guard's verdict: ``None`` when within ``factor`` x budget, else the failure message."""
    if profile != "smoke" or factor == 0 or seconds <= factor * budget_s:
        return None
    return (f"TIME GUARD: {name} took {seconds / 60:.1f} min in the smoke profile, more than {factor:g} x its "
            f"budget of {budget_s / 60:.0f} min. Make the lesson cheaper (smoke subsets in sbert_lessons.data, "
            f"cached encodings and models) or, if it trains or benchmarks, give it a budget in its notebook "
            f"metadata (sbert_lessons.smoke_budget_minutes) and say why.")


def _children_cpu() -> float:
    """CPU seconds used by this process's finished children (the notebook's kernel, once shut down): a
    measure of a lesson's cost that does not depend on how busy a shared machine is."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _resolved_profile() -> str:
    from sbert_lessons.profile import get_profile

    return get_profile(os.environ.get("SBERT_LESSONS_PROFILE") or None)


def _environment(stem: str, started: str) -> dict:
    """Profile, device and versions of this run: from the figures the lesson recorded, else this process."""
    from sbert_lessons.profile import get_device
    from sbert_lessons.report import library_versions, load_metrics

    prefix = f"ch{stem[:2]}."
    mine = [e for k, e in load_metrics().items() if k.startswith(prefix) and e.get("recorded_at", "") >= started]
    if mine:
        e = mine[-1]
        return {"device": e.get("device"), "device_name": e.get("device_name"), "versions": e.get("versions")}
    device = get_device()
    name = "CPU"
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(torch.device(device))
    return {"device": device, "device_name": name, "versions": library_versions()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    import papermill as pm

    out = executed_dir() / path.name
    # papermill saves after every cell: run into a side folder, so that an interrupted or failed run never
    # leaves a half-executed copy where the book looks for finished ones
    partial = executed_dir() / "partial" / path.name
    partial.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    profile = _resolved_profile()
    budget_s = budget_seconds(path)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    t0, cpu0 = time.perf_counter(), _children_cpu()
    try:
        pm.execute_notebook(str(path), str(partial), parameters={"profile": profile}, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, log_output=False,
                            execution_timeout=TIMEOUT_S[profile])
    except pm.PapermillExecutionError as err:
        seconds = time.perf_counter() - t0
        TIMINGS.append({"notebook": path.stem, "seconds": round(seconds, 1), "budget_s": budget_s,
                        "profile": profile, "status": "failed"})
        shown = partial.relative_to(ROOT) if partial.is_relative_to(ROOT) else partial
        pytest.fail(f"{path.name} failed in cell {err.exec_count} after {seconds:.0f} s (the executed copy "
                    f"with the error: {shown}):\n{err.ename}: {err.evalue}\n{''.join(err.traceback)[-4000:]}",
                    pytrace=False)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0

    nb = nbformat.read(partial, as_version=4)
    run = {"profile": profile, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "budget_s": budget_s,
           "executed_at": started, "load_avg_1min": round(os.getloadavg()[0], 1),
           "cpu_count": os.cpu_count(), "ci": os.environ.get("CI") == "true", **_environment(path.stem, started)}
    nb.metadata.setdefault("sbert_lessons", {})["run"] = run
    nbformat.write(nb, out)
    partial.unlink()
    # figures of this chapter that this run did not record come from an earlier version of the lesson
    from sbert_lessons.report import drop_stale

    dropped = drop_stale(path.stem[:2], started)
    if dropped:
        print(f"{path.name}: dropped {len(dropped)} figure(s) this run no longer records: {', '.join(dropped)}")

    factor = guard_factor()
    verdict = check_time(path.name, seconds, budget_s, profile, factor)
    TIMINGS.append({"notebook": path.stem, "seconds": run["seconds"], "cpu_seconds": run["cpu_seconds"],
                    "budget_s": budget_s, "profile": profile, "device": run["device"],
                    "load": run["load_avg_1min"], "status": ("over 2x budget" if verdict else  # budgets are smoke's
                                                              "over budget" if profile == "smoke" and seconds > budget_s
                                                              else "ok")})
    print(f"{path.name}: executed in {seconds:.1f} s, kernel CPU {cpu:.1f} s (profile {profile}, "
          f"budget {budget_s / 60:.0f} min)")
    if verdict:
        pytest.fail(verdict, pytrace=False)


def test_time_guard(tmp_path):
    """The guard itself: silent within twice the budget, a clear failure past it, off for the full profile."""
    assert check_time("03_x.ipynb", 959, 480, "smoke", 2.0) is None
    msg = check_time("03_x.ipynb", 961, 480, "smoke", 2.0)
    assert msg and "TIME GUARD" in msg and "2 x its budget of 8 min" in msg
    assert check_time("03_x.ipynb", 5000, 480, "full", 2.0) is None
    assert check_time("03_x.ipynb", 5000, 480, "smoke", 0.0) is None
    nb = tmp_path / "09_y.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    assert budget_seconds(nb) == 180 and budget_seconds(tmp_path / "08_z.ipynb", nbformat.v4.new_notebook()) == 480
    own = nbformat.v4.new_notebook(metadata={"sbert_lessons": {"smoke_budget_minutes": 5}})
    assert budget_seconds(nb, own) == 300
    with pytest.raises(ValueError, match="smoke_budget_minutes"):
        budget_seconds(nb, nbformat.v4.new_notebook(metadata={"sbert_lessons": {"smoke_budget_minutes": "x"}}))


def test_kernel_cpu_is_counted():
    """A finished child's CPU time shows up in _children_cpu (how a kernel's cost is measured)."""
    import subprocess
    import sys

    before = _children_cpu()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert _children_cpu() - before > 0.05


def write_timings(path: Path | None = None) -> Path | None:
    """Merge this session's timings into ``<executed>/timings.json`` (one entry per notebook)."""
    if not TIMINGS:
        return None
    path = path or executed_dir() / "timings.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    old.update({t["notebook"]: t for t in TIMINGS})
    path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    return path
