#!/usr/bin/env python
"""Mark lesson cells for nbval and store their outputs from the papermill-executed copies.

    tools/nbval_outputs.py mark notebooks/03_cross_vs_bi_encoders.ipynb CELL_ID [CELL_ID ...]
    tools/nbval_outputs.py refresh [notebooks/NN_topic.ipynb ...]     # default: every lesson
    tools/nbval_outputs.py list

``mark`` tags code cells (by their cell id, as Jupyter shows it in the cell's metadata) with
``nbval-check-output`` and ``keep_output``. ``refresh`` copies, into every marked cell of each notebook,
the output of the same cell in ``_build/executed/`` (written by ``make notebooks``; it must be an execution
of the current code, else the notebook is skipped with a message), and clears its execution count as
nbstripout would. Mark only cells whose output is the same on any device and in both profiles (equality
checks, shapes, orderings): nbval compares text exactly. Then commit the notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
from nbval_marked import KEEP, MARK, marked
from sbert_book import code_cells, stale_reason

EXECUTED = Path(os.environ.get("SBERT_LESSONS_EXECUTED") or ROOT / "_build" / "executed")


def mark(path: Path, ids: list[str]) -> int:
    nb = nbformat.read(path, as_version=4)
    by_id = {c.get("id"): c for c in nb.cells}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"{path.name}: no cell with id {', '.join(missing)}")
    for i in ids:
        cell = by_id[i]
        if cell.cell_type != "code":
            raise SystemExit(f"{path.name}: cell {i} is {cell.cell_type}, not code")
        tags = cell.metadata.setdefault("tags", [])
        for t in (MARK, KEEP):
            if t not in tags:
                tags.append(t)
        cell.metadata["keep_output"] = True  # nbstripout honours the tag; other strippers read this key
    nbformat.write(nb, path)
    print(f"{path.name}: marked {len(ids)} cell(s); now run `make notebooks` and `{Path(__file__).name} refresh`")
    return 0


def refresh(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    if not any(marked(c) for c in nb.cells):
        return 0
    exe = EXECUTED / path.name
    if not exe.is_file():
        print(f"{path.name}: no executed copy in {EXECUTED}; run `make notebooks` first", file=sys.stderr)
        return 1
    ran = nbformat.read(exe, as_version=4)
    why = stale_reason(nb, ran)
    if why:
        print(f"{path.name}: executed copy is stale ({why}); run `make notebooks` first", file=sys.stderr)
        return 1
    n = 0
    for mine, theirs in zip(code_cells(nb), code_cells(ran)):
        if marked(mine):
            outs = [o for o in theirs.get("outputs", []) if o.get("output_type") != "error"]
            for o in outs:
                if "execution_count" in o:
                    o["execution_count"] = None
            mine["outputs"] = outs
            mine["execution_count"] = None
            if KEEP not in mine.metadata.setdefault("tags", []):
                mine.metadata["tags"].append(KEEP)
            mine.metadata["keep_output"] = True
            n += 1
    nbformat.write(nb, path)
    print(f"{path.name}: stored the output of {n} marked cell(s)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mark")
    m.add_argument("notebook", type=Path)
    m.add_argument("ids", nargs="+")
    r = sub.add_parser("refresh")
    r.add_argument("notebooks", nargs="*", type=Path)
    sub.add_parser("list")
    a = ap.parse_args(argv)
    if a.cmd == "mark":
        return mark(a.notebook, a.ids)
    paths = (a.notebooks if a.cmd == "refresh" and a.notebooks
             else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    if a.cmd == "list":
        for p in paths:
            ids = [c.get("id") for c in nbformat.read(p, as_version=4).cells if marked(c)]
            print(f"{p.name}: {len(ids)} marked" + (f" ({', '.join(map(str, ids))})" if ids else ""))
        return 0
    return max([refresh(p) for p in paths] or [0])


if __name__ == "__main__":
    raise SystemExit(main())
