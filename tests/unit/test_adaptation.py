"""sbert_lessons.adaptation (chapter 8): train/test disjointness, pair builders, noise, mining, nDCG, cache."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sbert_lessons import adaptation, data, training


def _sf(qids, texts, qrels, doc_ids=("d1", "d2", "d3", "d4", "d5")):
    corpus = pd.DataFrame({"_id": list(doc_ids), "title": [f"Title {d}" for d in doc_ids],
                           "text": [f"Abstract of {d} about topic {i}." for i, d in enumerate(doc_ids)]})
    return data.SciFact(corpus=corpus, queries=pd.DataFrame({"_id": qids, "text": texts}), qrels=qrels)


TRAIN = _sf(["1", "2", "3"], ["Claim one.", "Claim two.", "Claim three."],
            {"1": {"d1": 1, "d2": 1}, "2": {"d3": 1}, "3": {"d4": 1}})
TEST = _sf(["10", "11"], ["Test claim A.", "Test claim B."], {"10": {"d1": 1}, "11": {"d5": 1}})


def test_disjoint_splits_pass_and_build_pairs():
    adaptation.check_disjoint(TRAIN, TEST)
    pairs = adaptation.scifact_train_pairs(TRAIN, TEST, seed=0)
    assert list(pairs.columns) == ["query_id", "doc_id", "anchor", "positive"]
    assert sorted(pairs["query_id"]) == ["1", "2", "3"]  # one pair per claim
    assert pairs["query_id"].is_unique
    for _, row in pairs.iterrows():
        assert row["doc_id"] in TRAIN.qrels[row["query_id"]]
        assert row["positive"].startswith(f"Title {row['doc_id']} ")
    assert set(pairs["query_id"]).isdisjoint(TEST.qrels)
    assert len(adaptation.scifact_train_pairs(TRAIN, TEST, n=2)) == 2
    # the seed decides which cited abstract claim 1 gets, deterministically
    a = adaptation.scifact_train_pairs(TRAIN, TEST, seed=3)
    b = adaptation.scifact_train_pairs(TRAIN, TEST, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_overlapping_query_ids_are_refused():
    leaky = _sf(["2", "11"], ["Test claim A.", "Test claim B."], {"2": {"d1": 1}, "11": {"d5": 1}})
    with pytest.raises(ValueError, match="query id"):
        adaptation.check_disjoint(TRAIN, leaky)
    with pytest.raises(ValueError, match="query id"):
        adaptation.scifact_train_pairs(TRAIN, leaky)


def test_overlapping_query_texts_are_refused_or_dropped():
    leaky = _sf(["10", "11"], ["claim  TWO. ", "Test claim B."], {"10": {"d3": 1}, "11": {"d5": 1}})
    with pytest.raises(ValueError, match="text of a test claim"):
        adaptation.check_disjoint(TRAIN, leaky)
    clean, dropped = adaptation.without_test_claims(TRAIN, leaky)
    assert dropped == ["2"] and "2" not in clean.qrels and "2" not in set(clean.queries["_id"])
    adaptation.check_disjoint(clean, leaky)
    pairs = adaptation.scifact_train_pairs(TRAIN, leaky)  # the duplicate claim never reaches training
    assert sorted(pairs["query_id"]) == ["1", "3"]
    assert "Claim two." not in set(pairs["anchor"])


def test_bad_inputs_to_pairs():
    with pytest.raises(TypeError, match="data.SciFact"):
        adaptation.check_disjoint(TRAIN, {"queries": []})
    with pytest.raises(ValueError, match="n must be"):
        adaptation.scifact_train_pairs(TRAIN, TEST, n=1)
    missing_doc = _sf(["1"], ["Claim one."], {"1": {"nope": 1}})
    with pytest.raises(ValueError, match="not in the corpus"):
        adaptation.scifact_train_pairs(missing_doc, TEST)
    no_rel = _sf(["1"], ["Claim one."], {"1": {"d1": 0}})
    with pytest.raises(ValueError, match="no relevant"):
        adaptation.scifact_train_pairs(no_rel, TEST)
    with pytest.raises(ValueError, match="'title' column"):
        adaptation.doc_texts(pd.DataFrame({"text": ["x"]}))


@pytest.mark.skipif(not os.environ.get("SBERT_LESSONS_DATA"), reason="needs the offline data mirror")
def test_real_scifact_train_and_test_queries_are_disjoint():
    train, test = data.load_scifact("train"), data.load_scifact("test")
    assert set(train.qrels).isdisjoint(test.qrels)  # ids are disjoint ...
    with pytest.raises(ValueError, match="2 train claim"):  # ... but two claims are in both, verbatim
        adaptation.check_disjoint(train, test)
    clean, dropped = adaptation.without_test_claims(train, test)
    assert sorted(dropped) == ["1291", "871"]
    adaptation.check_disjoint(clean, test)
    pairs = adaptation.scifact_train_pairs(train, test)
    assert len(pairs) == len(train.qrels) - 2 == 807
    assert set(pairs["query_id"]).isdisjoint(test.qrels)
    assert set(pairs["anchor"]).isdisjoint(test.queries["text"])


def test_delete_noise_ratio_and_edge_cases():
    rng = np.random.default_rng(0)
    text = " ".join(f"w{i}" for i in range(2000))
    kept = adaptation.delete_noise(text, 0.6, rng).split()
    assert 0.36 < len(kept) / 2000 < 0.44
    assert kept == [w for w in text.split() if w in set(kept)]  # order preserved, nothing invented
    assert adaptation.delete_noise("one", 0.99, rng) == "one"  # never empty
    assert adaptation.delete_noise("", 0.6, rng) == ""
    assert adaptation.delete_noise("a b c", 0.0, rng) == "a b c"
    with pytest.raises(ValueError, match="del_ratio"):
        adaptation.delete_noise("a b", 1.0)
    with pytest.raises(TypeError, match="string"):
        adaptation.delete_noise(["a", "b"])
    d1, o1 = adaptation.tsdae_pairs(["a b c d e f", "g h i j k l"], seed=1)
    d2, _ = adaptation.tsdae_pairs(["a b c d e f", "g h i j k l"], seed=1)
    assert d1 == d2 and o1 == ["a b c d e f", "g h i j k l"]


def test_simcse_pairs_and_bad_texts():
    a, b = adaptation.simcse_pairs(["x y", "z w"])
    assert a == b == ["x y", "z w"]
    with pytest.raises(TypeError, match="not one string"):
        adaptation.simcse_pairs("just one")
    with pytest.raises(ValueError, match="at least two"):
        adaptation.simcse_pairs(["only"])
    with pytest.raises(ValueError, match="empty"):
        adaptation.tsdae_pairs(["fine", "  "])


def test_mine_hard_negatives():
    docs = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    ids = ["a", "b", "c", "d", "e"]
    q = np.array([[1, 0]], dtype=np.float32)
    # positive "a" excluded; ranked non-positives b, c, e, d -> skip 1 -> c
    assert adaptation.mine_hard_negatives(q, docs, ids, [{"a"}], skip=1, n=1) == [["c"]]
    assert adaptation.mine_hard_negatives(q, docs, ids, [{"a", "b"}], skip=0, n=2) == [["c", "e"]]
    with pytest.raises(ValueError, match="too small"):
        adaptation.mine_hard_negatives(q, docs, ids, [{"a"}], skip=4, n=1)
    with pytest.raises(ValueError, match="positive sets"):
        adaptation.mine_hard_negatives(q, docs, ids, [], skip=0)
    with pytest.raises(ValueError, match="document ids"):
        adaptation.mine_hard_negatives(q, docs, ids[:2], [{"a"}])
    with pytest.raises(ValueError, match="skip"):
        adaptation.mine_hard_negatives(q, docs, ids, [{"a"}], skip=-1)
    assert adaptation.silver_candidates(q, docs, 2) == [[0, 1]]
    with pytest.raises(ValueError, match="k must"):
        adaptation.silver_candidates(q, docs, 0)


class _StubEncoder:
    """Maps each text to a fixed vector: documents of topic i and claims about topic i coincide."""

    _sbert_lessons_fingerprint = "stub:adaptation-test"
    max_seq_length = 32
    device = "cpu"

    def encode(self, texts, **kwargs):
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for row, t in enumerate(texts):
            out[row, int(t.split("topic ")[1].split(".")[0]) if "topic " in t else 7] = 1.0
        return out


def test_scifact_ndcg_with_a_stub_model():
    sf = _sf(["q1", "q2"], ["claim on topic 0.", "claim on topic 3."], {"q1": {"d1": 1}, "q2": {"d2": 1}})
    model = _StubEncoder()
    per = adaptation.scifact_ndcg(model, sf, 16, k=1, per_query=True)
    assert per["q1"] == pytest.approx(1.0)  # d1's abstract is "topic 0": ranked first
    assert per["q2"] == pytest.approx(0.0)  # d2 is "topic 1", and the claim asks for topic 3 (d4)
    assert adaptation.scifact_ndcg(model, sf, 16, k=1) == pytest.approx(0.5)
    assert set(adaptation.scifact_run(model, sf, 16, k=10)["q1"]) == {"d1", "d2", "d3", "d4", "d5"}
    assert model.max_seq_length == 32  # restored
    with pytest.raises(ValueError, match="max_length"):
        adaptation.scifact_ndcg(model, sf, 4)


def test_teacher_agreement():
    got = adaptation.teacher_agreement([[0.1, 0.9], [0.8, 0.2], [0.5, 0.4]],
                                       [["x", "y"], ["u", "v"], ["m", "n"]], [{"y"}, {"v"}, {"zzz"}])
    assert got == {"top1": 0.5, "n": 2}  # the third query has no gold candidate and is skipped
    with pytest.raises(ValueError, match="no query"):
        adaptation.teacher_agreement([[0.1]], [["x"]], [{"y"}])
    with pytest.raises(ValueError, match="one entry per query"):
        adaptation.teacher_agreement([[0.1]], [], [])


def test_sizes_and_recipes():
    smoke, full = adaptation.sizes_for("smoke"), adaptation.sizes_for("full")
    assert smoke.max_seq_length < full.max_seq_length and full.eval_docs is None
    assert smoke.n_train_pairs < 809 and full.n_train_pairs is None
    for v in adaptation.VARIANTS:
        assert adaptation.recipe_for(v, "smoke").max_length == smoke.max_seq_length
        assert adaptation.recipe_for(v, "full").max_length == full.max_seq_length
    with pytest.raises(ValueError, match="unknown variant"):
        adaptation.recipe_for("gpl", "smoke")
    with pytest.raises(ValueError, match="max_seq_length"):
        adaptation.AdaptSizes(8, None, None, None, None, 5, 3)
    with pytest.raises(ValueError, match="silver_k"):
        adaptation.AdaptSizes(64, None, None, None, None, 0, 3)
    with pytest.raises(TypeError, match="profile"):
        adaptation.sizes_for(3)


def test_train_variant_checks_its_inputs():
    two = [["a b", "c d"], ["e f", "g h"]]
    with pytest.raises(ValueError, match="unknown variant"):
        adaptation.train_variant("gpl", two, "smoke")
    with pytest.raises(ValueError, match="3 text columns"):
        adaptation.train_variant("mnrl_hard", two, "smoke")
    with pytest.raises(ValueError, match="needs labels"):
        adaptation.train_variant("augsbert", two, "smoke")
    with pytest.raises(ValueError, match="take none"):
        adaptation.train_variant("mnrl", two, "smoke", labels=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adaptation.train_variant("augsbert", two, "smoke", labels=[0.1, 2.0])
    with pytest.raises(ValueError, match="needs labels"):
        adaptation.train_variant("augsbert_gold", two, "smoke")
    # TSDAE -> MNRL must name the TSDAE model it continues from; the others must not
    with pytest.raises(ValueError, match="start="):
        adaptation.train_variant("tsdae_mnrl", two, "smoke")
    with pytest.raises(ValueError, match="start="):
        adaptation.train_variant("mnrl", two, "smoke", start=Path("/nonexistent"))
    with pytest.raises(ValueError, match="not a saved SentenceTransformer"):
        adaptation.train_variant("tsdae_mnrl", two, "smoke", start=Path("/nonexistent"))


def test_sizes_reject_bad_seeds_and_slices():
    with pytest.raises(ValueError, match="seeds"):
        adaptation.AdaptSizes(64, None, None, None, None, 5, 3, seeds=())
    with pytest.raises(ValueError, match="seeds"):
        adaptation.AdaptSizes(64, None, None, None, None, 5, 3, seeds=(0, 0))
    with pytest.raises(ValueError, match="n_tsdae"):
        adaptation.AdaptSizes(64, None, None, None, None, 5, 3, n_tsdae=1)
    smoke, full = adaptation.sizes_for("smoke"), adaptation.sizes_for("full")
    assert len(smoke.seeds) == 1 and len(full.seeds) >= 3  # several seeds where the budget allows
    assert smoke.n_tsdae <= smoke.n_unlabelled and smoke.n_simcse <= smoke.n_unlabelled


def test_hub_reachable_is_false_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ok, why = adaptation.hub_reachable()
    assert not ok and "HF_HUB_OFFLINE" in why


def test_train_variant_is_cached_and_changes_the_model():
    """Two MNRL steps on four pairs: the folder appears once, the second call trains nothing."""
    from sbert_lessons import cache, models
    from sbert_lessons.profile import setup

    setup("smoke")
    cols = [["Vitamin D prevents fractures.", "Aspirin lowers stroke risk.", "Smoking causes cancer.",
             "Exercise improves memory."],
            ["Vitamin D and bone health in elderly women.", "Aspirin and cardiovascular events.",
             "Tobacco use and lung carcinoma.", "Physical activity and cognition."]]
    recipe = training.Recipe(epochs=1, batch_size=2, lr=5e-5, max_length=16)
    folder = adaptation.train_variant("mnrl", cols, "smoke", recipe=recipe)
    assert adaptation.last_training_seconds("mnrl") is not None
    assert adaptation.train_variant("mnrl", cols, "smoke", recipe=recipe) == folder
    assert adaptation.last_training_seconds("mnrl") is None  # loaded, not trained
    tuned = adaptation.load_variant("mnrl", cols, "smoke", recipe=recipe)
    base = models.load_sentence_model(models.MINILM)
    assert tuned.max_seq_length == 16
    assert cache.model_fingerprint(tuned) != cache.model_fingerprint(base)
    # a second stage continues from the first model's folder (TSDAE -> MNRL): its own cache entry, keyed
    # by the start folder, whose weights differ from a stage trained on the base model
    two = adaptation.train_variant("tsdae_mnrl", cols, "smoke", recipe=recipe, start=folder)
    assert two != folder and adaptation.train_variant("tsdae_mnrl", cols, "smoke", recipe=recipe,
                                                      start=folder) == two
    assert adaptation.last_training_seconds("tsdae_mnrl") is None  # loaded, not trained
    staged = adaptation.load_variant("tsdae_mnrl", cols, "smoke", recipe=recipe, start=folder)
    assert cache.model_fingerprint(staged) not in (cache.model_fingerprint(tuned), cache.model_fingerprint(base))


def test_probe_steps_double_up_to_the_end():
    assert adaptation.probe_steps_for(1) == (0, 1)
    assert adaptation.probe_steps_for(16) == (0, 16)  # smoke's TSDAE: 128 abstracts, batch 8
    assert adaptation.probe_steps_for(80) == (0, 16, 32, 64, 80)
    assert adaptation.probe_steps_for(648) == (0, 16, 32, 64, 128, 256, 512, 648)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="total"):
            adaptation.probe_steps_for(bad)


def test_retrieval_probe_agrees_with_scifact_ndcg():
    sf = _sf(["q1", "q2"], ["claim on topic 0.", "claim on topic 3."], {"q1": {"d1": 1}, "q2": {"d2": 1}})
    model = _StubEncoder()
    probe = adaptation.RetrievalProbe(sf, 16)
    got = probe(model)
    assert got["ndcg10"] == pytest.approx(adaptation.scifact_ndcg(model, sf, 16, k=10))
    assert got["mean_doc_cos"] == pytest.approx(0.0)  # five one-hot abstracts: pairwise orthogonal
    assert model.max_seq_length == 32  # restored
    assert adaptation.RetrievalProbe(sf, 32).key != probe.key
    with pytest.raises(TypeError, match="SciFact"):
        adaptation.RetrievalProbe("scifact", 16)
    with pytest.raises(ValueError, match="max_length"):
        adaptation.RetrievalProbe(sf, 4)


def test_fit_with_loss_refuses_a_probe_it_cannot_call():
    with pytest.raises(TypeError, match="probe"):
        adaptation.fit_with_loss(None, None, [["a b", "c d"]], training.Recipe(), probe=3, probe_steps=(0,))
    with pytest.raises(TypeError, match="RetrievalProbe"):
        adaptation.train_variant("mnrl", [["a b", "c d"], ["e f", "g h"]], "smoke", probe=lambda m: {})


def test_training_trace_is_recorded_beside_the_model():
    """Two MNRL steps watched by a probe: rows at steps 0 and 2, kept in the cache with the model."""
    from sbert_lessons.profile import setup

    setup("smoke")
    cols = [["Claim about topic 0.", "Claim about topic 1.", "Claim about topic 2.", "Claim about topic 3."],
            ["Abstract of d1 about topic 0.", "Abstract of d2 about topic 1.", "Abstract of d3 about topic 2.",
             "Abstract of d4 about topic 3."]]
    sf = _sf(["q1", "q2"], ["claim on topic 0.", "claim on topic 3."], {"q1": {"d1": 1}, "q2": {"d4": 1}})
    recipe = training.Recipe(epochs=1, batch_size=2, lr=5e-5, max_length=16)
    probe = adaptation.RetrievalProbe(sf, 16)
    tuned = adaptation.load_variant("mnrl", cols, "smoke", recipe=recipe, probe=probe)
    trace = adaptation.training_trace(tuned)
    assert list(trace["step"]) == [0, 2]
    assert trace["ndcg10"].between(0, 1).all() and trace["mean_doc_cos"].between(-1, 1).all()
    assert trace["ndcg10"].iloc[-1] == pytest.approx(probe(tuned)["ndcg10"], abs=1e-6)  # the final model
    plain = adaptation.load_variant("mnrl", cols, "smoke", recipe=recipe)  # another cache entry: no probe
    with pytest.raises(ValueError, match="not trained with a probe"):
        adaptation.training_trace(plain)


def test_tsdae_decoder_parts_that_start_random():
    from sbert_lessons import models
    from sbert_lessons.profile import setup

    setup("smoke")
    enc = models.load_sentence_model(models.MINILM)
    before = enc.encode(["A claim about vitamin D."])
    fresh = adaptation.tsdae_fresh_parameters(enc)
    # six cross-attention blocks (10 tensors each) and the word-prediction head's transform and bias (5)
    assert fresh["fresh_tensors"] == 65 and fresh["fresh"] == 3_731_898
    assert fresh["encoder"] == sum(p.numel() for p in enc.parameters())
    np.testing.assert_allclose(enc.encode(["A claim about vitamin D."]), before, atol=1e-6)  # untouched
