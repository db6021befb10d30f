"""Retrieval metrics written from scratch (chapter 7) against trec_eval itself (pytrec-eval-terrier)."""

import numpy as np
import pytest

from sbert_lessons import evaluation as ev

pytrec_eval = pytest.importorskip("pytrec_eval")

QRELS = {
    "q1": {"d1": 1, "d4": 2, "d9": 1},          # graded relevance
    "q2": {"d2": 1},
    "q3": {"d3": 1, "d5": 0},                   # a judged non-relevant document
    "q4": {"d7": 1},                            # nothing relevant retrieved
}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.8, "d3": 0.8, "d4": 0.7, "d5": 0.3, "d6": 0.2, "d9": 0.2},  # ties
    "q2": {"d8": 3.0, "d2": 2.0, "d6": 1.0},
    "q3": {"d5": 5.0, "d3": 4.0},
    "q4": {"d1": 1.0, "d2": 0.5},
}


def _trec(measures, run=RUN, qrels=QRELS):
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_ndcg_equals_trec_eval(k):
    ref = _trec({f"ndcg_cut.{k}"})
    ours = ev.ndcg_at_k_per_query(RUN, QRELS, k)
    for q in QRELS:
        assert ours[q] == pytest.approx(ref[q][f"ndcg_cut_{k}"], abs=1e-12), q
    assert ev.ndcg_at_k(RUN, QRELS, k) == pytest.approx(np.mean([ref[q][f"ndcg_cut_{k}"] for q in QRELS]))


@pytest.mark.parametrize("k", [1, 2, 5, 100])
def test_recall_equals_trec_eval(k):
    ref = _trec({f"recall.{k}"})
    ours = ev.recall_at_k_per_query(RUN, QRELS, k)
    for q in QRELS:
        assert ours[q] == pytest.approx(ref[q][f"recall_{k}"], abs=1e-12), q


def test_mrr_equals_trec_eval_recip_rank():
    ref = _trec({"recip_rank"})
    ours = ev.mrr_at_k_per_query(RUN, QRELS, k=1000)
    for q in QRELS:
        assert ours[q] == pytest.approx(ref[q]["recip_rank"], abs=1e-12), q
    assert ev.mrr_at_k_per_query(RUN, QRELS, k=1)["q2"] == 0.0  # the cut-off bites


def test_ties_follow_trec_eval_order():
    # d2 and d3 tie at 0.8: trec_eval ranks the larger id first, so d3 sits at rank 2 and d2 at rank 3
    assert ev.ranked_docs(RUN["q1"])[:3] == ["d1", "d3", "d2"]


def test_random_runs_match_trec_eval():
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{i}": {d: int(rng.integers(0, 3)) for d in rng.choice(docs, 6, replace=False)} for i in range(25)}
    qrels = {q: r for q, r in qrels.items() if any(v > 0 for v in r.values())}
    run = {q: {d: float(np.round(rng.random(), 1)) for d in rng.choice(docs, 20, replace=False)} for q in qrels}
    ref = _trec({"ndcg_cut.10", "recall.10"}, run, qrels)
    nd, rc = ev.ndcg_at_k_per_query(run, qrels, 10), ev.recall_at_k_per_query(run, qrels, 10)
    for q in qrels:
        assert nd[q] == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-12)
        assert rc[q] == pytest.approx(ref[q]["recall_10"], abs=1e-12)


def test_perfect_and_missing_runs():
    perfect = {q: {d: float(r) for d, r in rels.items()} for q, rels in QRELS.items()}
    assert ev.ndcg_at_k(perfect, QRELS, 10) == pytest.approx(1.0)
    assert ev.ndcg_at_k({}, QRELS, 10) == 0.0  # a judged query missing from the run scores 0


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_cutoff(k):
    with pytest.raises(ValueError, match="cut-off"):
        ev.ndcg_at_k(RUN, QRELS, k)


def test_bad_inputs():
    with pytest.raises(TypeError, match="dicts"):
        ev.recall_at_k([("q1", "d1")], QRELS, 10)
    with pytest.raises(ValueError, match="empty"):
        ev.mrr_at_k(RUN, {}, 10)
    with pytest.raises(ValueError, match="no judged query has a relevant"):
        ev.ndcg_at_k(RUN, {"q1": {"d1": 0}}, 10)
