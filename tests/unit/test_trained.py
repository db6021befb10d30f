"""sbert_lessons.trained (chapter 6): loading a trained model's folder, below training and finetune."""

import ast
import json
from pathlib import Path

import pytest

import sbert_lessons
from sbert_lessons import trained


def test_read_json(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps([{"loss": 1.0, "step": 1}]))
    assert trained.read_json(tmp_path, "history.json") == [{"loss": 1.0, "step": 1}]
    assert trained.read_json(tmp_path, "absent.json", default=[]) == []


def test_load_rejects_a_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        trained.load_sentence_transformer(tmp_path, "trained:x/y")


def _package_imports(module: str) -> set[str]:
    """The sibling modules ``module`` imports (``from . import x`` / ``from .x import``), anywhere in it."""
    tree = ast.parse((Path(sbert_lessons.__file__).parent / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(a.name for a in node.names)
    return names


def test_no_import_cycle_between_training_finetune_and_trained():
    assert "finetune" not in _package_imports("training")  # chapter 3's module does not reach up to chapter 6
    assert {"training", "finetune"}.isdisjoint(_package_imports("trained"))
    assert {"training", "trained"} <= _package_imports("finetune")
