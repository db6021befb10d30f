"""The student edition of the book: the sources without exercise solutions, execution off."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

_SOL_START = re.compile(r"^(?P<f>`{3,}|:{3,})\{solution-start\}.*?^(?P=f)[ \t]*(?:\n|$)", re.MULTILINE | re.DOTALL)
_SOL_END = re.compile(r"^(?P<f>`{3,}|:{3,})\{solution-end\}.*?^(?P=f)[ \t]*(?:\n|$)", re.MULTILINE | re.DOTALL)
_SOL_BLOCK = re.compile(r"(`{3,}|:{3,})\{solution\}.*?\n\1[ \t]*(\n|$)", re.DOTALL)


def strip_solutions(nb: dict) -> tuple[dict, int]:
    """Remove gated solutions (``solution-start`` … ``solution-end``, across cells or within one markdown
    cell) and ``{solution}`` blocks; clear code outputs. Returns the notebook and how many were removed."""
    cells, inside, removed = [], False, 0
    for n_cell, c in enumerate(nb.get("cells", [])):
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
                    m, stray = _SOL_START.search(src, pos), _SOL_END.search(src, pos)
                    if stray and (not m or stray.start() < m.start()):
                        raise ValueError(f"a solution-end has no solution-start (markdown cell {n_cell}: "
                                         f"{src[max(0, stray.start() - 60):stray.start()].strip()[-60:]!r})")
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

