"""The book extension (book/_ext/sbert_book.py): lesson pages come from papermill's executed copies."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import sbert_book

sys.path.pop(0)


def _source():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 9. Title\n\nObjectives"), params,
                nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_markdown_cell("Prose, edited later")]
    return nb


def _executed(src):
    ran = nbformat.from_dict(nbformat.reads(nbformat.writes(src), as_version=4))
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    ran.cells.insert(2, injected)
    ran.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    ran.cells[3].metadata["papermill"] = {"duration": 0.5}
    ran.cells[4].source = "Prose, as it was when executed"
    ran.metadata["sbert_lessons"] = {"run": {"profile": "smoke", "device": "cpu", "device_name": "x86_64 x2",
                                             "seconds": 95.0, "executed_at": "2026-11-25T15:00:00",
                                             "versions": {"torch": "2.13.0", "numpy": "2"}}}
    return ran


def test_fresh_copy_merges_outputs_parameters_and_a_provenance_note():
    src = _source()
    ran = _executed(src)
    assert sbert_book.stale_reason(src, ran) is None
    merged = sbert_book.merge_executed(src, ran)
    kinds = [(c["cell_type"], c.get("metadata", {}).get("tags", [])) for c in merged["cells"]]
    assert kinds[0][0] == "markdown" and "The numbers on this page" in merged["cells"][1]["source"]
    assert kinds[2][1] == ["parameters"] and kinds[3][1] == ["injected-parameters"]
    assert merged["cells"][4]["outputs"][0]["text"] == "1\n"
    assert merged["cells"][4]["metadata"]["papermill"]["duration"] == 0.5
    assert merged["cells"][5]["source"] == "Prose, edited later", "prose comes from the current source"
    note = merged["cells"][1]["source"]
    assert "**smoke**" in note and "cpu (x86_64 x2)" in note and "torch 2.13.0" in note and "numpy" not in note


@pytest.mark.parametrize("change, why", [
    (lambda nb: setattr(nb.cells[2], "source", "print(2)"), "code cell 2 changed"),
    (lambda nb: nb.cells.append(nbformat.v4.new_code_cell("x = 1")), "3 code cells now, 2 when"),
])
def test_a_changed_code_cell_makes_the_copy_stale(change, why):
    src = _source()
    ran = _executed(src)
    change(src)
    assert why in sbert_book.stale_reason(src, ran)


def test_no_run_record_no_note():
    assert sbert_book.provenance_note({}) == ""


_App = SimpleNamespace(env=SimpleNamespace(found_docs={"notebooks/07_semantic_search"}, titles={}),
                       builder=SimpleNamespace(get_relative_uri=lambda fromdoc, todoc: todoc + ".html"))


def _comparison_metrics():
    c = {"a": "dense", "b": "BM25", "metric": "nDCG@10", "a_value": 0.66, "b_value": 0.64,
         "difference": 0.019, "low": -0.018, "high": 0.058, "n": 300,
         "method": "paired bootstrap over 300 claims, 2000 resamples, seed 0, percentile interval",
         "confidence": 0.95}
    return {"ch07.cmp.dense_vs_bm25": {"value": 0.019, "ci95": [-0.018, 0.058], "profile": "smoke",
                                       "comparison": c, "verdict": "no detectable difference", "detected": False},
            "ch07.ndcg10.dense": {"value": 0.66, "ci95": [0.61, 0.7], "profile": "smoke"}}


def test_comparison_tables_come_from_the_record():
    metrics = _comparison_metrics()
    table = sbert_book.comparisons_table(_App, "book/methods", metrics)
    assert "1 comparisons recorded" in table and "0 with a detected difference" in table
    assert "dense − BM25 = +0.019, 95 % interval [-0.018, +0.058]" in table
    assert "<em>no detectable difference</em>" in table and "ch07.ndcg10.dense" not in table
    one = sbert_book.one_comparison(_App, "book/methods", metrics, "ch07.cmp.dense_vs_bm25")
    assert "n = 300" in one and "<strong>no detectable difference</strong>" in one
    assert "was not recorded" in sbert_book.one_comparison(_App, "book/methods", metrics, "ch07.cmp.other")
    assert "No comparisons recorded" in sbert_book.comparisons_table(_App, "book/methods", {})
    figures = sbert_book.metrics_table(_App, "book/figures", metrics)
    assert "[0.61, 0.7]" in figures and "<em>no detectable difference</em>" in figures
