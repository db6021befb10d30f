"""No verdict typed by hand: every comparative word a lesson states about its own results comes from a
:class:`sbert_lessons.uncertainty.Comparison` (issue: every comparison carries its uncertainty).

The rule, for every lesson in ``notebooks/``:

- **Prose.** A sentence that holds a verdict word (beats, ahead, hurts, improves, better, worse, no gain,
  outperforms, …) must paste a recorded verdict (``{glue:md}`chNN.….verdict```) — unless it is a question
  (exercise prompts ask them), or it states what a cited source says (``{cite}``/``{footcite}`` and no
  figure of this page), or it is listed in ``GENERAL`` below with the reason it is not a reading of the
  page's own numbers. Headings and the references section are not prose about results.
- **Code.** A string literal that would print a verdict word must not exist: printed verdicts come from
  ``Comparison.verdict``. Assert messages are checks, not verdicts, and are allowed; so is data (word
  lists) listed in ``GENERAL_CODE``.
- **Glued verdicts exist.** A pasted ``….verdict`` key belongs to a ``record_comparison`` call in the same
  lesson (its recorded value is checked by the figure bands).
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

VERDICT_WORD = re.compile(r"\b(beats?|beaten|ahead|hurts?|improves?|improved|better|worse|no gain|"
                          r"outperforms?|underperforms?|wins|loses)\b", re.IGNORECASE)
GLUED_VERDICT = re.compile(r"\{glue:md\}`(ch\d{2}\.[a-z0-9_.]+)\.verdict`")
GLUED_FIGURE = re.compile(r"\{glue(:\w+)?\}`")
CITATION = re.compile(r"\{(foot)?cite[:\w]*\}`")
RECORDED_COMPARISON = re.compile(r"record_comparison\(\s*[frb]?[\"'](ch\d{2}\.[a-z0-9_.{}]+)[\"']")

# (lesson stem, start of the sentence): why it is not a reading of this page's numbers.
GENERAL: dict[tuple[str, str], str] = {
    ("01_word_embeddings", "Vectors trained on co-occurrence learn relatedness, so they should do much better"):
        "a hypothesis stated before the measurement, which the next cells test",
    ("01_word_embeddings", "Next, chapter 2 builds *sentence* vectors"): "announces the next chapter",
    ("07_semantic_search", "## BM25, the baseline to beat"): "a heading",
    ("07_semantic_search", "With FAISS"): "describes what efSearch trades (more candidates: better recall)",
    ("09_clustering", "Ward's criterion penalises large, spread-out clusters"):
        "describes Ward's criterion, not a measurement",
    ("09_clustering", "For deduplication that is the right trade"): "advice about use, not a measurement",
    ("06_fine_tuning", "### A large batch on a small machine"):
        "a heading followed by what MNRL's authors report about batch size",
    ("08_domain_adaptation", "It pays off when the teacher is"): "the condition AugSBERT's authors state",
}
# (lesson stem, string literal): why it is data rather than a printed verdict.
GENERAL_CODE: dict[tuple[str, str], str] = {
    ("01_word_embeddings", '"better"'): "an analogy question's word (good : better :: big : bigger)",
    ("08_domain_adaptation", '"fine-tuning on domain data improves performance for specialised tasks"'):
        "a tutorial's claim quoted as data for the claim-vs-measured table",
    ("08_domain_adaptation", '"hard negative mining improves the model\'s ability to distinguish subtle differences"'):
        "a tutorial's claim quoted as data for the claim-vs-measured table",
}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _prose_sentences(text: str):
    """Sentences of a Markdown cell outside code fences, directives' options and the references."""
    kept, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")) and not stripped.startswith(("```{", "~~~{")):
            fence = stripped[:3]
            continue
        if stripped.startswith((":::", "```{", "~~~{", ":class:", ":label:", ":name:")):
            continue
        kept.append(line)
    text = "\n".join(kept)
    if re.search(r"^#+\s*References", text, re.MULTILINE):
        text = text[:re.search(r"^#+\s*References", text, re.MULTILINE).start()]
    for para in re.split(r"\n\s*\n", text):
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z*(\[`-])|\n(?=\s*[-*] )", para):
            sentence = " ".join(sentence.split())
            if sentence:
                yield sentence


def _string_literals(code: str):
    """(string literal, whether its logical line is an assert) for every string token of a code cell."""
    code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines())
    first_token_of_line, in_assert = True, False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                first_token_of_line, in_assert = True, False
                continue
            if tok.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                continue
            if first_token_of_line:
                in_assert = tok.type == tokenize.NAME and tok.string == "assert"
                first_token_of_line = False
            if tok.type == tokenize.STRING or getattr(tokenize, "FSTRING_MIDDLE", None) == tok.type:
                yield tok.string, in_assert
    except (tokenize.TokenError, IndentationError):
        return


def _unsupported_prose(path: Path) -> list[str]:
    bad = []
    for n, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for sentence in _prose_sentences(_source(cell)):
            if not VERDICT_WORD.search(sentence) or GLUED_VERDICT.search(sentence):
                continue
            if sentence.rstrip("*_ )").endswith("?"):
                continue
            if CITATION.search(sentence) and not GLUED_FIGURE.search(sentence):
                continue
            if any(path.stem == stem and sentence.lstrip("-* ").startswith(start.lstrip("-* "))
                   for stem, start in GENERAL):
                continue
            bad.append(f"cell {n}: {sentence[:160]!r}")
    return bad


def _unsupported_code(path: Path) -> list[str]:
    bad = []
    for n, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        for literal, in_assert in _string_literals(_source(cell)):
            if in_assert or not VERDICT_WORD.search(literal) or (path.stem, literal) in GENERAL_CODE:
                continue
            bad.append(f"cell {n}: {literal[:120]}")
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_verdict_in_prose_without_a_comparison(path):
    bad = _unsupported_prose(path)
    assert not bad, (f"{path.name}: sentences state a verdict that no Comparison produced; paste the "
                     "recorded verdict ({glue:md}`chNN.x.verdict`) or state the measured difference with its "
                     "interval:\n  " + "\n  ".join(bad))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_verdict_typed_in_code(path):
    bad = _unsupported_code(path)
    assert not bad, (f"{path.name}: string literals print a verdict; print Comparison.verdict instead:\n  "
                     + "\n  ".join(bad))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pasted_verdicts_are_recorded_by_the_lesson(path):
    nb = json.loads(path.read_text())
    prose = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "code")
    recorded = [re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_]+", re.escape(k)) + "$")
                for k in RECORDED_COMPARISON.findall(code)]
    missing = sorted({k for k in GLUED_VERDICT.findall(prose) if not any(r.match(k) for r in recorded)})
    assert not missing, f"{path.name} pastes verdicts that no record_comparison call records: {missing}"


# ------------------------------------------------------------------ the scanners themselves
def test_scanner_flags_a_typed_verdict_and_accepts_a_pasted_one(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "source": "Dense retrieval beats BM25 here ({glue:text}`ch07.a.b`)."},
        {"cell_type": "markdown", "source": "Dense vs BM25: {glue:md}`ch07.cmp.x.verdict`, better or not."},
        {"cell_type": "markdown", "source": "Is the dense model better?"},
        {"cell_type": "code", "source": "print('BM25 better on', n)\nassert a > b, 'dense is not ahead'"},
        {"cell_type": "code", "source": "report.record_comparison('ch07.cmp.x', c)"},
    ]}
    path = tmp_path / "07_semantic_search.ipynb"
    path.write_text(json.dumps(nb))
    assert [b.split(":")[0] for b in _unsupported_prose(path)] == ["cell 0"]
    assert _unsupported_code(path) == ["cell 3: 'BM25 better on'"]
    test_pasted_verdicts_are_recorded_by_the_lesson(path)
    nb["cells"][4]["source"] = "report.record('ch07.cmp.x', 1.0)"
    path.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="no record_comparison"):
        test_pasted_verdicts_are_recorded_by_the_lesson(path)
