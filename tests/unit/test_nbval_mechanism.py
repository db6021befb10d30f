"""The nbval stage's mechanism, on a tiny notebook: a marked cell keeps its output through nbstripout, and
``pytest --nbval-lax`` with the course's plugin fails when a re-execution prints something else.

Also shows why the plugin exists: nbstripout clears the execution count that nbval uses to tell a cell
that ran from one that never did, so without the plugin nbval rejects every kept output as "unrun".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NBSTRIPOUT = Path(sys.executable).with_name("nbstripout")


def _fixture(path: Path, stored: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    marked = nbformat.v4.new_code_cell("print(sorted([3, 1, 2]))", execution_count=4,
                                       outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])
    marked.metadata["tags"] = ["nbval-check-output", "keep_output"]
    free = nbformat.v4.new_code_cell("import random\nprint(random.random())", execution_count=5,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="0.1\n")])
    nb.cells = [nbformat.v4.new_markdown_cell("# fixture"), marked, free]
    nbformat.write(nb, path)
    subprocess.run([str(NBSTRIPOUT), str(path)], check=True)
    return path


def _nbval(path: Path, plugin: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "notebooks")}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
            "--rootdir", str(path.parent), "-c", os.devnull, str(path)]
    if plugin:
        args[3:3] = ["-p", "nbval_marked"]
    return subprocess.run(args, cwd=path.parent, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("nbval")
    return _fixture(d / "right.ipynb", "[1, 2, 3]\n"), _fixture(d / "wrong.ipynb", "[3, 2, 1]\n")


def test_nbstripout_keeps_only_the_marked_output(notebooks):
    right, _ = notebooks
    cells = [c for c in json.loads(right.read_text())["cells"] if c["cell_type"] == "code"]
    assert "".join(cells[0]["outputs"][0]["text"]) == "[1, 2, 3]\n"
    assert cells[0]["execution_count"] is None, "nbstripout clears counts (the plugin restores them for nbval)"
    assert cells[1]["outputs"] == []


def test_nbval_passes_when_the_marked_output_is_reproduced(notebooks):
    right, _ = notebooks
    r = _nbval(right)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout


def test_nbval_fails_when_a_marked_output_changes(notebooks):
    _, wrong = notebooks
    r = _nbval(wrong)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Cell outputs differ" in r.stdout


def test_without_the_plugin_nbval_rejects_stripped_marked_cells(notebooks):
    right, _ = notebooks
    r = _nbval(right, plugin=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Unrun reference cell has outputs" in r.stdout


def test_plugin_skips_notebooks_without_marked_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    nbformat.write(nb, tmp_path / "plain.ipynb")
    r = _nbval(tmp_path)
    assert r.returncode == 5, r.stdout + r.stderr  # pytest: no tests collected
