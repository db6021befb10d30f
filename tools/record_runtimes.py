#!/usr/bin/env python
"""Record one run's per-notebook times in ``book/runtimes.json`` (the runtime page's recorded runs).

    tools/record_runtimes.py _build/executed-full [--label "Full profile on a CPU"]

Reads the executed copies in the folder (their ``metadata.sbert_lessons.run``, written by the papermill
stage) and merges them, lesson by lesson, into the run of ``book/runtimes.json`` with the same profile and
device: a lesson in the folder replaces its entry, the run's other lessons keep theirs (a rerun of one
lesson, or a checkout without the other lessons' copies, loses nothing). Lessons that failed are recorded
with status ``failed`` and the time until the failure. The run's note is kept unless ``--note`` gives a
new one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "book" / "runtimes.json"


def collect(folder: Path) -> tuple[dict, dict]:
    notebooks, env = {}, {}
    timings = json.loads((folder / "timings.json").read_text()) if (folder / "timings.json").is_file() else {}
    for exe in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(exe.read_text()).get("metadata", {})
        run = (meta.get("sbert_lessons") or {}).get("run")
        if run:
            env = env or run
            status = (timings.get(exe.stem) or {}).get("status", "ok")
            if status == "over budget" and run.get("profile") != "smoke":
                status = "ok"  # the budgets are the smoke profile's; a full run has none
            notebooks[exe.stem] = {"seconds": run["seconds"], "executed_at": run["executed_at"], "status": status}
    for stem, t in timings.items():  # a failed run leaves no finished copy, only its time
        if stem not in notebooks and t.get("status") != "ok":
            notebooks[stem] = {"seconds": t["seconds"], "status": t.get("status", "failed"), "executed_at": ""}
    return notebooks, env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--label")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", type=Path, default=DATA, help="default: book/runtimes.json")
    a = ap.parse_args(argv)
    notebooks, env = collect(a.folder)
    if not notebooks:
        print(f"no executed notebooks in {a.folder}", file=sys.stderr)
        return 1
    profile, device = env.get("profile", "?"), env.get("device", "?")
    name = env.get("device_name") or device
    data = json.loads(a.out.read_text()) if a.out.is_file() else {"runs": []}
    same = [r for r in data["runs"] if r["profile"] == profile and r["device"].startswith(device)]
    runs = [r for r in data["runs"] if r not in same]
    label = a.label or f"{profile.capitalize()} profile on {'a GPU' if device.startswith('cuda') else 'a CPU'}"
    cpus = env.get("cpu_count")
    # a rerun of one lesson keeps the run's note unless a new one is given
    note = a.note or (same[0].get("note") if same else "") or (f"{cpus} CPU cores" if cpus else "")
    merged = {}
    for r in same:  # the earlier entries of this profile and device, then this folder's on top
        merged.update(r.get("notebooks", {}))
    merged.update(notebooks)
    runs.append({"label": label, "profile": profile, "device": f"{device} ({name})" if name != device else device,
                 "note": note, "notebooks": merged})
    a.out.write_text(json.dumps({"runs": runs}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(notebooks)} notebook(s) as '{label}' in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
