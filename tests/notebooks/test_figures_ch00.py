"""Recorded figures of chapter 0 held in bands (run after the notebooks executed)."""

import pytest
from _figures import entry, value


def test_minilm_stsb_matches_published(metrics):
    assert value(metrics, "ch00.stsb_test.minilm_l6") == pytest.approx(82.03, abs=0.1)


def test_pasta_query_scores_are_the_real_models(metrics):
    # the real model's scores, not the "Sentence Transformers" tutorial's printed 0.6964 / 0.6281 / 0.2235
    assert value(metrics, "ch00.pasta_query.top1") == pytest.approx(0.7035, abs=0.002)
    assert value(metrics, "ch00.pasta_query.top2") == pytest.approx(0.5272, abs=0.002)
    assert value(metrics, "ch00.pasta_query.top3") == pytest.approx(0.1889, abs=0.002)


def test_no_tutorial_is_named_by_its_seed_file(metrics):
    for rank in (1, 2, 3):
        source = entry(metrics, f"ch00.pasta_query.top{rank}")["ref_source"] or ""
        assert "seed" not in source.lower() and "Sentence Transformers" in source, source


def test_topic_search_separates_topics(metrics):
    assert value(metrics, "ch00.topics.minilm_l6_separated") is True
    if "ch00.topics.mpnet_separated" in metrics:
        assert value(metrics, "ch00.topics.mpnet_separated") is True


def test_every_figure_says_where_it_came_from(metrics):
    for key, e in metrics.items():
        assert e["profile"] in ("smoke", "full"), key
        assert e["device"], key
        assert "torch" in e["versions"], key


def test_stsb_interval_and_genre_verdicts(metrics):
    # the whole STS-B test split in every profile, so these hold in smoke and full alike
    low, high = entry(metrics, "ch00.stsb_test.minilm_l6")["ci95"]
    assert 79 < low < 82.03 < high < 85, (low, high)
    captions = entry(metrics, "ch00.cmp.captions_vs_news")
    assert captions["verdict"] == "captions ahead"
    assert captions["value"] == pytest.approx(20.17, abs=0.1)
    assert entry(metrics, "ch00.cmp.captions_vs_forums")["verdict"] == "captions ahead"
    news = entry(metrics, "ch00.cmp.news_vs_forums")
    assert news["verdict"] == "no detectable difference"
    # two genres with low correlations (about 72), resampled each on its own: a wide interval
    assert news["ci95"][0] < -5 and news["ci95"][1] > 5


def test_mpnet_is_compared_with_minilm_on_the_same_pairs(metrics):
    if "ch00.stsb_test.mpnet_base" not in metrics:
        pytest.skip("all-mpnet-base-v2 is scored in the full profile only")
    c = entry(metrics, "ch00.cmp.mpnet_vs_minilm")
    assert c["comparison"]["n"] == 1379 and "paired bootstrap" in c["comparison"]["method"]
    low, high = entry(metrics, "ch00.stsb_test.mpnet_base")["ci95"]
    assert c["ci95"][1] - c["ci95"][0] < high - low  # pairing: narrower than one model's own interval
