"""pytest plugin for the nbval stage (``make nbval``): re-execute lessons and compare their marked cells.

A cell whose output is the same on any device (an equality check, a shape, an ordering) can be *marked*:
give it the two cell tags ``nbval-check-output`` (nbval compares it under ``--nbval-lax``) and
``keep_output`` (nbstripout keeps its stored output). ``tools/nbval_outputs.py`` marks cells and copies
their output from the papermill-executed copy; see the README's "Checking outputs with nbval".

This plugin closes two gaps between nbstripout and nbval:

- nbstripout clears every ``execution_count`` (also on cells whose output it keeps), and nbval treats a
  cell with no count as "never run": it fails one that has outputs ("Unrun reference cell has outputs")
  and compares nothing for one that has none. The plugin gives marked cells a count again, so their stored
  output is compared; a marked cell with no stored output then fails as soon as it prints.
- a notebook without marked cells has nothing to compare under ``--nbval-lax``; it is not collected, so
  the nbval stage re-executes only the lessons it checks (each lesson executes at most twice per CI run).

Load it with ``PYTHONPATH=tests/notebooks pytest -p nbval_marked --nbval-lax ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

MARK = "nbval-check-output"
KEEP = "keep_output"


def marked(cell) -> bool:
    return cell.get("cell_type") == "code" and MARK in ((cell.get("metadata") or {}).get("tags") or [])


def marked_cells(path: Path) -> list:
    nb = json.loads(Path(path).read_text())
    return [c for c in nb.get("cells", []) if marked(c)]


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and collection_path.is_file() and not marked_cells(collection_path):
        return True
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and marked(cell) and cell.get("execution_count") is None:
            cell["execution_count"] = 1
