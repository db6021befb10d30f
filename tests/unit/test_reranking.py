"""sbert_lessons.reranking (chapter 7): the relevance cross-encoder's recipe and training rows (no training)."""

import pandas as pd
import pytest

from sbert_lessons import data, reranking


def _scifact():
    corpus = pd.DataFrame({"_id": [f"d{i}" for i in range(8)],
                           "title": ["Aspirin", "Aspirin trial", "Insulin", "Insulin dose", "Statins",
                                     "Statins and muscles", "Vitamin D", "Vitamin D bones"],
                           "text": ["aspirin lowers fever", "aspirin reduces heart attacks in trials",
                                    "insulin controls blood sugar", "insulin dose in type 1 diabetes",
                                    "statins lower cholesterol", "statins cause muscle pain",
                                    "vitamin d from sunlight", "vitamin d strengthens bones"]})
    queries = pd.DataFrame({"_id": ["q1", "q2", "q3"],
                            "text": ["aspirin prevents heart attacks", "statins cause muscle pain",
                                     "vitamin d helps bones"]})
    qrels = {"q1": {"d1": 1}, "q2": {"d5": 1}, "q3": {"d7": 1}}
    return data.SciFact(corpus=corpus, queries=queries, qrels=qrels)


def _test_split(*claims):
    """A test split holding only these claim texts (none: no twin can exist)."""
    queries = pd.DataFrame({"_id": [f"t{i}" for i in range(len(claims))], "text": list(claims)})
    return data.SciFact(corpus=pd.DataFrame({"_id": [], "title": [], "text": []}), queries=queries, qrels={})


def _rec(**kw):
    base = {"n_claims": None, "negatives": 2, "random_negatives": 0, "epochs": 1, "batch_size": 4, "lr": 5e-5,
            "warmup_ratio": 0.1, "max_length": 64}
    base.update(kw)
    return reranking.RelevanceRecipe(**base)


def test_training_rows_positives_and_bm25_hard_negatives():
    sf = _scifact()
    rows = reranking.training_rows(sf, _rec())
    df = pd.DataFrame(rows)
    assert list(df.columns) == ["query", "passage", "label"]
    assert (df.label == 1).sum() == 3 and (df.label == 0).sum() == 6  # 2 negatives per claim
    q1 = df[df["query"] == "aspirin prevents heart attacks"]
    pos = q1[q1.label == 1]["passage"].tolist()
    assert pos == ["Aspirin trial aspirin reduces heart attacks in trials"]
    # the judged abstract is never a negative; BM25's best unjudged one (the other aspirin abstract) is
    assert "Aspirin aspirin lowers fever" in q1[q1.label == 0]["passage"].tolist()
    assert not set(q1[q1.label == 0]["passage"]) & set(pos)


def test_random_negatives_are_unjudged_and_distinct():
    rows = pd.DataFrame(reranking.training_rows(_scifact(), _rec(negatives=1, random_negatives=3)))
    for _, g in rows.groupby("query"):
        assert (g.label == 0).sum() == 4 and g["passage"].is_unique


def test_claim_split_is_seeded_and_sized():
    sf = _scifact()
    none = _test_split()
    assert reranking.train_claim_split(sf, None, test=none) == ["q1", "q2", "q3"]
    a = reranking.train_claim_split(sf, 2, seed=1, test=none)
    assert len(a) == 2 and a == reranking.train_claim_split(sf, 2, seed=1, test=none)
    assert len(reranking.training_rows(sf, _rec(n_claims=1))["label"]) == 3


def test_claim_split_drops_train_claims_that_are_test_claims():
    sf = _scifact()
    twin = _test_split(sf.queries.set_index("_id").loc["q2", "text"].upper() + " !")  # same words
    assert reranking.train_claim_split(sf, None, test=twin) == ["q1", "q3"]
    # the seeded sample is drawn first: without a twin in it, the guard changes nothing
    a = reranking.train_claim_split(sf, 2, seed=1, test=_test_split())
    assert reranking.train_claim_split(sf, 2, seed=1, test=twin) == [q for q in a if q != "q2"]


def test_real_split_has_no_test_claim():
    sf_train, sf_test = data.load_scifact("train"), data.load_scifact("test")
    test_keys = {data.sentence_key(t) for t in sf_test.queries["text"]}
    ids = reranking.train_claim_split(sf_train, None)
    text_of = dict(zip(sf_train.queries["_id"].astype(str), sf_train.queries["text"]))
    assert ids and not {data.sentence_key(text_of[q]) for q in ids} & test_keys


def test_recipes_per_profile():
    smoke, full = reranking.relevance_recipe("smoke"), reranking.relevance_recipe("full")
    assert smoke.n_claims is not None and full.n_claims is None  # full trains on every train claim
    assert smoke.max_length <= full.max_length and smoke.loss == "BinaryCrossEntropyLoss"


@pytest.mark.parametrize("bad, match", [
    ({"negatives": 0}, "negatives must be a positive integer"),
    ({"n_claims": 0}, "n_claims must be a positive integer or None"),
    ({"lr": 2}, "lr must be a float"),
    ({"warmup_ratio": 1.0}, "warmup_ratio must be a float"),
    ({"max_length": True}, "max_length must be a positive integer"),
    ({"random_negatives": -1}, "random_negatives must be an integer >= 0"),
])
def test_bad_recipe_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        _rec(**bad)


def test_bad_recipe_type_and_empty_split():
    with pytest.raises(TypeError, match="RelevanceRecipe"):
        reranking.train_relevance_cross_encoder("smoke", rec={"n_claims": 3}, sf_train=_scifact())
    sf = _scifact()
    empty = data.SciFact(corpus=sf.corpus, queries=sf.queries, qrels={})
    with pytest.raises(ValueError, match="no judged claims"):
        reranking.train_claim_split(empty, None)
