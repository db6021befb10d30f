#!/usr/bin/env python
"""Which lessons have an up-to-date executed copy in ``_build/executed/`` (the book is built from them).

    tools/executed.py            # one line per lesson; exit 1 when any copy is missing or stale
    tools/executed.py --quiet    # exit status only (``make book`` runs ``make notebooks`` on 1)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from sbert_book import executed_dir, run_info, stale_reason


def status() -> list[tuple[str, str | None]]:
    out = []
    folder = executed_dir(ROOT)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        exe = folder / path.name
        if not exe.is_file():
            out.append((path.name, "no executed copy"))
            continue
        ran = json.loads(exe.read_text())
        why = stale_reason(json.loads(path.read_text()), ran)
        if why is None and (ran.get("metadata", {}).get("papermill") or {}).get("exception"):
            why = "its execution stopped on an error"
        if why is None and not run_info(ran):
            why = "not executed by the papermill stage (no run metadata)"
        out.append((path.name, why))
    return out


def main(argv: list[str]) -> int:
    rows = status()
    if "--quiet" not in argv:
        for name, why in rows:
            print(f"{name}: {why or 'up to date'}")
    return 1 if any(why for _, why in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
