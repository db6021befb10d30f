"""Recorded figures of chapter 3 (cross-encoders vs bi-encoders) held in bands."""

import pytest
from _figures import entry, value


def test_weight_sharing_is_proven(metrics):
    assert value(metrics, "ch03.weight_sharing.same_parameters") is True
    assert 0 <= value(metrics, "ch03.weight_sharing.max_grad_diff") < 1e-5


def test_cross_encoder_reaches_its_target(metrics):
    e = entry(metrics, "ch03.stsb_test.cross_encoder")
    # smoke: one epoch on 2,000 pairs, measured 75.57; full: 4 epochs on all 5,749 pairs, measured 83.58
    # in an earlier run on a 2-core CPU
    floor = 75.0 if e["profile"] == "smoke" else 82.0
    assert floor <= e["value"] < 95


def test_cross_encoder_behind_the_tuned_bi_encoder_from_this_checkpoint(metrics):
    # the lesson says so (both start from all-MiniLM-L6-v2, already a bi-encoder); so far true in both
    # profiles (smoke 75.57 vs 83.44; full, earlier run, 83.58 vs 85.77)
    diff = value(metrics, "ch03.stsb_test.cross_minus_bi_tuned")
    assert diff == pytest.approx(value(metrics, "ch03.stsb_test.cross_encoder")
                                 - value(metrics, "ch03.stsb_test.bi_encoder_tuned"), abs=1e-9)
    assert diff < 0


def test_bi_encoders(metrics):
    assert value(metrics, "ch03.stsb_test.bi_encoder_pretrained") == pytest.approx(82.03, abs=0.1)
    e = entry(metrics, "ch03.stsb_test.bi_encoder_tuned")
    floor = 82.0 if e["profile"] == "smoke" else 85.0  # smoke: fine-tuning must not hurt the shipped model
    assert floor <= e["value"] < 95


def test_speed_claim_direction_holds(metrics):
    ce = value(metrics, "ch03.pair_search_10k.cross_encoder_s")
    bi = value(metrics, "ch03.pair_search_10k.bi_encoder_s")
    speedup = value(metrics, "ch03.pair_search_10k.speedup")
    assert speedup == pytest.approx(ce / bi, rel=1e-6)
    assert speedup > 1000
    assert entry(metrics, "ch03.pair_search_10k.cross_encoder_s")["unit"] == "s"
    assert value(metrics, "ch03.speed.cross_encoder_pairs_per_s") > 0
    assert value(metrics, "ch03.speed.bi_encoder_sentences_per_s") > value(
        metrics, "ch03.speed.cross_encoder_pairs_per_s") / 10


def test_rerank_figures_are_sane(metrics):
    r = value(metrics, "ch03.rerank.recall10_bi_encoder")
    assert 0.5 < r <= 1.0
    for key in ("ch03.rerank.mrr10_bi_encoder", "ch03.rerank.mrr10_reranked"):
        assert 0.3 < value(metrics, key) <= r + 1e-9  # MRR@10 can never exceed recall@10
    change = value(metrics, "ch03.rerank.mrr10_change")
    assert change == pytest.approx(value(metrics, "ch03.rerank.mrr10_reranked")
                                   - value(metrics, "ch03.rerank.mrr10_bi_encoder"), abs=1e-9)
    if entry(metrics, "ch03.rerank.mrr10_change")["profile"] == "smoke":
        assert change <= 0  # the smoke page says re-ranking does not help (measured: -0.006)
