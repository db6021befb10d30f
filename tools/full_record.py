#!/usr/bin/env python
"""The committed record of the full profile (issue 27): ``records/full/metrics.json``.

    tools/full_record.py update [--executed _build/executed-full] [--metrics _build/metrics-full.json]
                                [--lessons 00 01 ...]   # after `make runtimes-full`: record the finished lessons
    tools/full_record.py status                         # one line per lesson: current, stale or missing
    tools/full_record.py check [--allow-stale]          # exit 1 when a lesson is stale or missing
    tools/full_record.py export OUT.json [--allow-stale] # the record's figures as one metrics file (the book)

One entry per lesson (its notebook stem), written from a full run's executed copy and scratch figures file:
every figure the run recorded (exactly as ``sbert_lessons.report.record`` wrote it: value, ci95, verdict,
comparison, ...), the run's profile, device, library versions, date and wall time, and two hashes:

- ``code_hash``: the lesson's code cells (the ``parameters`` cell included, papermill's injected cell left
  out), each cell's source with line endings normalised and trailing blanks stripped;
- ``modules``: a hash of each package module the lesson imports (``from sbert_lessons import x``,
  ``from sbert_lessons.x import y``, ``import sbert_lessons.x`` in its code cells), followed through the
  package's own imports, ``__init__`` included.

A lesson is *current* when both hashes match the working tree, *stale* when one does not (its figures come
from an earlier version of the lesson), *missing* when the record has no entry for it. Lessons are found by
globbing ``notebooks/NN_*.ipynb``: a new lesson is missing until its first full run is recorded.
Everything here reads files only (no execution): the CI check costs milliseconds.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# which cells are a lesson's code: the book extension's definition, as tools/executed.py reads it
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from sbert_book import _src as cell_source
from sbert_book import code_cells

RECORD = ROOT / "records" / "full" / "metrics.json"
PACKAGE = "sbert_lessons"
RUN_FIELDS = ("profile", "device", "device_name", "versions", "executed_at", "seconds", "cpu_seconds",
              "cpu_count", "load_avg_1min")
_FROM_PKG = re.compile(rf"^\s*from\s+{PACKAGE}(?:\.(\w+))?[\w.]*\s+import\s+\(?([^#\n]*)", re.MULTILINE)
_IMPORT_PKG = re.compile(r"^\s*import\s+([^#\n]*)", re.MULTILINE)


class RecordError(ValueError):
    """The record, or a run to be recorded, is not what it should be."""


# --------------------------------------------------------------------------- notebooks and hashes
def lessons(root: Path = ROOT) -> list[Path]:
    """Every lesson notebook, in order (``notebooks/NN_*.ipynb``)."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_sources(nb: dict) -> list[str]:
    """The lesson's own code cells (the book extension's ``code_cells``: papermill's injected-parameters cell
    left out), normalised: line endings, surrounding blank lines and trailing spaces do not count."""
    out = []
    for cell in code_cells(nb):
        text = cell_source(cell).replace("\r\n", "\n").replace("\r", "\n")
        out.append("\n".join(line.rstrip() for line in text.strip().split("\n")))
    return out


def code_hash(nb: dict) -> str:
    h = hashlib.sha256()
    for src in code_sources(nb):
        h.update(src.encode())
        h.update(b"\n\x00cell\x00\n")
    return h.hexdigest()


def _module_file(src: Path, name: str) -> Path | None:
    """``src/sbert_lessons/<name>.py`` or ``<name>/__init__.py``; None when ``name`` is not a module."""
    for p in (src / PACKAGE / f"{name}.py", src / PACKAGE / name / "__init__.py"):
        if p.is_file():
            return p
    return None


def imported_modules(nb: dict, root: Path = ROOT) -> list[str]:
    """The package modules the lesson's code cells import (top-level names), before following imports."""
    src = root / "src"
    found: set[str] = set()
    for code in code_sources(nb):
        for sub, names in _FROM_PKG.findall(code):
            if sub:
                found.add(sub)
            else:
                for n in re.split(r"[,\s()]+", names):
                    n = n.split(" as ")[0].strip()
                    if n and _module_file(src, n):
                        found.add(n)
        for names in _IMPORT_PKG.findall(code):
            for n in names.split(","):
                parts = n.strip().split(" as ")[0].strip().split(".")
                if parts[0] == PACKAGE and len(parts) > 1 and _module_file(src, parts[1]):
                    found.add(parts[1])
    return sorted(found)


def _module_imports(path: Path, src: Path) -> set[str]:
    """Package modules imported anywhere in one module (function-level imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 or (node.level == 0 and mod.split(".")[0] == PACKAGE):
                parts = mod.split(".")[1:] if node.level == 0 else (mod.split(".") if mod else [])
                if parts and parts[0] and _module_file(src, parts[0]):
                    out.add(parts[0])
                elif not parts or not parts[0]:
                    out.update(a.name for a in node.names if _module_file(src, a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1 and _module_file(src, parts[1]):
                    out.add(parts[1])
    return out


def module_closure(names: list[str], root: Path = ROOT) -> list[str]:
    """``names`` and every package module they import, transitively; ``__init__`` first when present."""
    src = root / "src"
    todo, seen = list(names), set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        path = _module_file(src, n)
        if path is None:
            raise RecordError(f"{PACKAGE}.{n} is imported but {src / PACKAGE} has no such module")
        seen.add(n)
        todo.extend(_module_imports(path, src) - seen)
    init = src / PACKAGE / "__init__.py"
    if seen and init.is_file():
        seen.update(_module_imports(init, src))
        return ["__init__", *sorted(seen)]
    return sorted(seen)


def module_hashes(nb: dict, root: Path = ROOT) -> dict[str, str]:
    """``{"sbert_lessons/data.py": sha256, ...}`` for the modules the lesson runs."""
    src = root / "src"
    out = {}
    for n in module_closure(imported_modules(nb, root), root):
        path = src / PACKAGE / "__init__.py" if n == "__init__" else _module_file(src, n)
        text = path.read_text().replace("\r\n", "\n")
        out[path.relative_to(src).as_posix()] = hashlib.sha256(text.encode()).hexdigest()
    return out


# --------------------------------------------------------------------------- the record
def load(path: Path = RECORD) -> dict:
    if not path.is_file():
        return {"lessons": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data.get("lessons"), dict):
        raise RecordError(f"{path} has no 'lessons' object")
    return data


def save(data: dict, path: Path = RECORD) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data["lessons"] = dict(sorted(data["lessons"].items()))
    data["about"] = ("The full profile's figures, one entry per lesson, from its latest full run "
                     "(tools/full_record.py; make runtimes-full writes it).")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def lesson_status(path: Path, data: dict, root: Path = ROOT) -> tuple[str, str]:
    """``("current" | "stale" | "missing", why)`` for one lesson notebook against the record."""
    entry = data["lessons"].get(path.stem)
    if entry is None:
        return "missing", "no full run recorded"
    nb = json.loads(path.read_text())
    why = []
    if entry.get("code_hash") != code_hash(nb):
        why.append("its code cells changed")
    try:
        now = module_hashes(nb, root)
    except RecordError as exc:
        now = {}
        why.append(str(exc))
    old = entry.get("modules") or {}
    changed = sorted(m for m in set(now) | set(old) if now.get(m) != old.get(m))
    if changed:
        why.append("package modules changed: " + ", ".join(m.split("/", 1)[-1] for m in changed))
    when = (entry.get("executed_at") or "?")[:10]
    if why:
        return "stale", f"full figures from an earlier version of this lesson (run {when}; {'; '.join(why)})"
    return "current", f"full run of {when} on {device_text(entry)}"


def device_text(entry: dict) -> str:
    device, name = entry.get("device") or "?", entry.get("device_name")
    return f"{device} ({name})" if name and name.lower() != device.lower() else device


def statuses(data: dict | None = None, root: Path = ROOT) -> dict[str, tuple[str, str]]:
    data = load(root / RECORD.relative_to(ROOT)) if data is None else data
    return {p.stem: lesson_status(p, data, root) for p in lessons(root)}


def figures(data: dict, stems: list[str] | None = None) -> dict[str, dict]:
    """The figures of the given lessons (all in the record by default), as one metrics mapping."""
    out: dict[str, dict] = {}
    for stem, entry in data["lessons"].items():
        if stems is None or stem in stems:
            out.update(entry.get("figures") or {})
    return dict(sorted(out.items()))


def run_entry(executed: Path, metrics: dict, root: Path = ROOT) -> dict:
    """One lesson's record entry from its executed copy and the run's figures file."""
    source = root / "notebooks" / executed.name
    if not source.is_file():
        raise RecordError(f"{executed.name}: no such lesson in notebooks/")
    ran = json.loads(executed.read_text())
    meta = ran.get("metadata") or {}
    run = (meta.get("sbert_lessons") or {}).get("run")
    if not run:
        raise RecordError(f"{executed.name}: no run metadata (not executed by the papermill stage)")
    if (meta.get("papermill") or {}).get("exception"):
        raise RecordError(f"{executed.name}: its execution stopped on an error")
    if run.get("profile") != "full":
        raise RecordError(f"{executed.name}: executed in the {run.get('profile')!r} profile, not 'full'")
    if code_sources(ran) != code_sources(json.loads(source.read_text())):
        raise RecordError(f"{executed.name}: the lesson's code changed since this copy was executed; run it again")
    since = run.get("executed_at") or ""
    prefix = f"ch{executed.name[:2]}."
    figs = {k: e for k, e in sorted(metrics.items()) if k.startswith(prefix) and e.get("recorded_at", "") >= since}
    if not figs:
        raise RecordError(f"{executed.name}: the figures file holds no {prefix}* figure recorded by this run")
    wrong = sorted(k for k, e in figs.items() if e.get("profile") != "full")
    if wrong:
        raise RecordError(f"{executed.name}: figures recorded in another profile: {', '.join(wrong[:5])}")
    entry: dict[str, Any] = {k: run[k] for k in RUN_FIELDS if k in run}
    entry["code_hash"] = code_hash(ran)
    entry["modules"] = module_hashes(ran, root)
    entry["figures"] = figs
    return entry


def update(executed_dir: Path, metrics_path: Path, only: list[str] | None = None, record: Path = RECORD,
           root: Path = ROOT, out=print) -> list[str]:
    """Record every finished full run in ``executed_dir`` (only lessons ``only``, e.g. ``["00", "05"]``)."""
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    data = load(record)
    done = []
    for exe in sorted(executed_dir.glob("[0-9][0-9]_*.ipynb")):
        if only and exe.name[:2] not in only and exe.stem not in only:
            continue
        try:
            entry = run_entry(exe, metrics, root)
        except RecordError as exc:
            out(f"not recorded: {exc}")
            continue
        old = data["lessons"].get(exe.stem)
        data["lessons"][exe.stem] = entry
        done.append(exe.stem)
        was = "" if old is None else f" (replaces the run of {(old.get('executed_at') or '?')[:16]})"
        out(f"recorded {exe.stem}: {len(entry['figures'])} figures, {entry.get('seconds', 0):.0f} s on "
            f"{device_text(entry)}{was}")
    if done:
        save(data, record)
    return done


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("update", help="record the finished full runs of an executed folder")
    u.add_argument("--executed", type=Path, default=ROOT / "_build" / "executed-full")
    u.add_argument("--metrics", type=Path, default=ROOT / "_build" / "metrics-full.json")
    u.add_argument("--lessons", nargs="*", default=None, help="lesson numbers (default: every finished run)")
    u.add_argument("--record", type=Path, default=RECORD)
    s = sub.add_parser("status", help="one line per lesson")
    s.add_argument("--record", type=Path, default=RECORD)
    c = sub.add_parser("check", help="exit 1 when a lesson is stale or missing")
    c.add_argument("--allow-stale", action="store_true")
    c.add_argument("--record", type=Path, default=RECORD)
    e = sub.add_parser("export", help="the record's figures as one metrics file")
    e.add_argument("out", type=Path)
    e.add_argument("--allow-stale", action="store_true", help="include stale lessons' figures (else current only)")
    e.add_argument("--record", type=Path, default=RECORD)
    a = ap.parse_args(argv)
    if a.cmd == "update":
        only = [x for arg in a.lessons for x in arg.split()] if a.lessons else None
        done = update(a.executed, a.metrics, only, a.record)
        return 0 if done or not only else 1
    data = load(a.record)
    st = statuses(data)
    if a.cmd == "export":
        keep = [s for s, (state, _) in st.items() if state == "current" or (a.allow_stale and state == "stale")]
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(figures(data, keep), indent=1) + "\n")
        print(f"{a.out}: figures of {len(keep)} lesson(s) from {a.record.relative_to(ROOT) if a.record.is_relative_to(ROOT) else a.record}")
        return 0
    for stem, (state, why) in st.items():
        print(f"{stem:<28} {state:<8} {why}")
    bad = [s for s, (state, _) in st.items() if state != "current"]
    if a.cmd == "check" and bad:
        if a.allow_stale:
            print(f"full record: {len(bad)} lesson(s) stale or missing, allowed (ALLOW_STALE=1)")
            return 0
        print(f"full record: {len(bad)} lesson(s) stale or missing ({', '.join(s[:2] for s in bad)}): run them "
              "with `make runtimes-full LESSONS=\"...\"`, or build anyway with ALLOW_STALE=1", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
