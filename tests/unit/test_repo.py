"""Repository hygiene: notebooks stored clean, environment files in sync, the book's toc complete."""

import json
import re
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None, "strip outputs (make strip)"
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
