"""Helpers of the end-to-end classroom tests (the fixtures in conftest.py use them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sbert_lessons import classroom as C

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
OTTER = str(Path(sys.executable).with_name("otter"))
ASSIGNMENTS = {"A1": "A1_word_vectors", "A2": "A2_pooling_losses", "A3": "A3_search"}


def env():
    e = dict(os.environ)
    e.setdefault("PYTHONWARNINGS", "ignore")
    return e


def _assign(short: str, out: Path) -> dict:
    name = ASSIGNMENTS[short]
    dest = out / short
    subprocess.run([OTTER, "assign", "--no-pdfs", str(ROOT / "assignments" / "source" / f"{name}.ipynb"),
                    str(dest)], check=True, cwd=ROOT, env=env(), capture_output=True)
    zips = list((dest / "autograder").glob("*.zip"))
    assert len(zips) == 1
    return {"zip": zips[0], "reference": dest / "autograder" / f"{name}.ipynb",
            "student": dest / "student" / f"{name}.ipynb"}


class _Bundles(dict):
    """Each assignment made on first use (so one test does not wait for all three)."""

    def __init__(self, out: Path):
        super().__init__()
        self.out = out

    def __missing__(self, short: str) -> dict:
        made = _assign(short, self.out)
        if short == "A3":  # A3's seed cache, as `make assignments` makes it
            made["seed"] = self.out / "A3-seed-cache"
            subprocess.run([PY, "-m", "sbert_lessons.classroom", "warm-a3", str(made["seed"])], check=True,
                           cwd=ROOT, env=env(), capture_output=True)
        self[short] = made
        return made


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    """``otter assign`` each master into a private folder when a test first asks for it."""
    return _Bundles(tmp_path_factory.mktemp("assign"))


def hidden_markers(zip_path: Path, tmp: Path) -> list[str]:
    """Lines of the hidden tests' source, and the names of the hidden test functions."""
    bundle = C.Bundle.open(zip_path, tmp)
    lines = C.hidden_sources(bundle)
    assert lines, "every assignment has hidden tests"
    names = []
    for p in bundle.test_files:
        names += re.findall(r"def (test_\w+)", p.read_text())
    public = set()
    for p in bundle.test_files:
        for tc in C.load_test_file(p).test_cases:
            if not tc.hidden:
                public.add(tc.body.test_func.__name__)
    return lines + [n for n in names if n not in public]


def assert_no_hidden_text(out_dir: Path, markers: list[str]) -> None:
    """No feedback file or CSV holds hidden-test text, plainly or in a base64 or hex run."""
    files = [*out_dir.glob("feedback/*.md"), *out_dir.glob("*.csv")]
    assert files
    for f in files:
        text = f.read_text()
        assert "BEGIN TEST CONFIG" not in text
        for view in C.decoded_views(text):
            for m in markers:
                assert m not in view, f"{f.name} leaks hidden test text: {m!r}"
