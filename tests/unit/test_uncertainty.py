"""The statistics helper behind every verdict: checked against scipy and on simulated data."""

import json

import numpy as np
import pytest
from scipy import stats

from sbert_lessons import report, uncertainty
from sbert_lessons.evaluation import spearman
from sbert_lessons.uncertainty import ComparisonError


@pytest.mark.parametrize("seed", range(3))
def test_rank_rows_equals_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 7, size=(20, 50))
    expected = np.vstack([stats.rankdata(row) for row in codes])
    assert np.array_equal(uncertainty.rank_rows(codes), expected)


def test_bootstrap_spearman_equals_spearman_on_each_resample():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 6, size=80).astype(float)  # STS-like ties
    pred = gold + rng.normal(0, 1.5, size=80)
    idx = uncertainty.resample_indices(80, 200, seed=3)
    boots = uncertainty.bootstrap_spearman(pred, gold, idx)
    for r in (0, 17, 199):
        assert boots[r] == pytest.approx(100 * stats.spearmanr(pred[idx[r]], gold[idx[r]]).statistic, abs=1e-9)


def _paired(seed, n=300, shift=0.0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, size=n)
    a = np.clip(base + shift + rng.normal(0, 0.2, size=n), 0, 1)
    return a, np.clip(base + rng.normal(0, 0.2, size=n), 0, 1)


def test_compare_means_matches_scipy_paired_percentile_bootstrap():
    a, b = _paired(0, shift=0.03)
    ours = uncertainty.compare_means(a, b, n_resamples=4000)
    ref = stats.bootstrap((a, b), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis), paired=True,
                          vectorized=True, n_resamples=4000, method="percentile", random_state=0)
    width = ours.high - ours.low
    assert ours.difference == pytest.approx(a.mean() - b.mean())
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)


def test_compare_spearman_matches_scipy_paired_bootstrap():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 6, size=200).astype(float)
    pa, pb = gold + rng.normal(0, 1.0, size=200), gold + rng.normal(0, 1.6, size=200)

    def stat(x, y, g):
        return 100 * (stats.spearmanr(x, g).statistic - stats.spearmanr(y, g).statistic)

    ref = stats.bootstrap((pa, pb, gold), stat, paired=True, vectorized=False, n_resamples=2000,
                          method="percentile", random_state=0)
    ours = uncertainty.compare_spearman(pa, pb, gold)
    width = ours.high - ours.low
    assert ours.difference == pytest.approx(100 * (spearman(pa, gold) - spearman(pb, gold)))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.06 * width)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.06 * width)


def test_interval_covers_a_known_difference_about_95_percent_of_the_time():
    # 300 simulated test sets with a true mean difference of 0.02: the interval must cover it ~95 %.
    hits = 0
    for s in range(300):
        rng = np.random.default_rng(1000 + s)
        d = 0.02 + rng.normal(0, 0.1, size=150)
        c = uncertainty.compare_means(d, np.zeros(150), n_resamples=500, seed=s)
        hits += c.low <= 0.02 <= c.high
    assert 0.90 <= hits / 300 <= 0.985


def test_deterministic_under_a_seed_and_different_across_seeds():
    a, b = _paired(4, shift=0.01)
    one, two = uncertainty.compare_means(a, b, seed=7), uncertainty.compare_means(a, b, seed=7)
    assert (one.low, one.high) == (two.low, two.high)
    assert (one.low, one.high) != (uncertainty.compare_means(a, b, seed=8).low,
                                   uncertainty.compare_means(a, b, seed=8).high)


def test_verdicts_follow_the_interval():
    a, b = _paired(5, shift=0.1)
    assert uncertainty.compare_means(a, b, names=("dense", "BM25")).verdict == "dense ahead"
    assert uncertainty.compare_means(b, a, names=("BM25", "dense")).verdict == "dense ahead"
    same = uncertainty.compare_means(a, a.copy(), names=("x", "y"))
    assert same.verdict == uncertainty.VERDICT_NONE and not same.detected
    noisy_a, noisy_b = _paired(6, n=20, shift=0.01)
    assert uncertainty.compare_means(noisy_a, noisy_b).verdict == "no detectable difference"


def test_dicts_are_paired_by_item_id():
    a = {"q1": 1.0, "q2": 0.5, "q3": 0.0}
    b = {"q3": 0.0, "q1": 0.5, "q2": 0.5}
    c = uncertainty.compare_means(a, b)
    assert c.difference == pytest.approx(0.5 / 3) and c.n == 3
    with pytest.raises(ComparisonError, match="different items"):
        uncertainty.compare_means(a, {"q1": 1.0, "q2": 0.5, "q9": 0.0})
    with pytest.raises(ComparisonError, match="both as sequences"):
        uncertainty.compare_means(a, [1.0, 0.5, 0.0])


@pytest.mark.parametrize("a,b,match", [
    ([1.0, np.nan, 0.2], [0.1, 0.2, 0.3], "non-finite"),
    ([1.0, 0.2], [0.1, 0.2, 0.3], "has 2 scores"),
    ([1.0], [0.1], "at least 2 items"),
    ([[1.0, 2.0]], [[0.1, 0.2]], "one-dimensional"),
    (["a", "b"], [0.1, 0.2], "sequence of numbers"),
])
def test_bad_inputs_are_named(a, b, match):
    with pytest.raises(ComparisonError, match=match):
        uncertainty.compare_means(a, b)


def test_bad_settings_are_named():
    with pytest.raises(ComparisonError, match="n_resamples"):
        uncertainty.compare_means([1, 2, 3], [1, 2, 4], n_resamples=10)
    with pytest.raises(ComparisonError, match="confidence"):
        uncertainty.compare_means([1, 2, 3], [1, 2, 4], confidence=95)


def test_compare_seeds_equals_scipy_welch_and_paired():
    a, b = [83.1, 82.6, 83.4], [82.0, 82.9, 82.2]
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    c = uncertainty.compare_seeds(a, b, names=("trainer", "loop"))
    assert (c.low, c.high) == pytest.approx((welch.low, welch.high))
    rel = stats.ttest_rel(a, b).confidence_interval(0.95)
    p = uncertainty.compare_seeds(a, b, paired=True)
    assert (p.low, p.high) == pytest.approx((rel.low, rel.high))
    lo, hi = uncertainty.seed_interval(a)
    one = stats.ttest_1samp(a, 0).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((one.low, one.high))
    with pytest.raises(ComparisonError, match="at least 2 runs"):
        uncertainty.compare_seeds([1.0], [1.0, 2.0])


def test_spearman_interval_contains_the_estimate():
    rng = np.random.default_rng(9)
    gold = rng.uniform(0, 5, 120)
    pred = gold + rng.normal(0, 1, 120)
    lo, hi = uncertainty.spearman_interval(pred, gold)
    assert lo < 100 * spearman(pred, gold) < hi
    lo, hi = uncertainty.mean_interval({"a": 0.1, "b": 0.5, "c": 0.9})
    assert 0.1 <= lo < 0.5 < hi <= 0.9


def test_record_comparison_stores_interval_and_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv(report.ENV_METRICS, str(tmp_path / "m.json"))
    a, b = _paired(10, shift=0.1)
    c = uncertainty.compare_means(a, b, names=("dense", "BM25"), metric="nDCG@10", items="queries")
    report.record_comparison("ch07.cmp.dense_vs_bm25", c)
    entry = json.loads((tmp_path / "m.json").read_text())["ch07.cmp.dense_vs_bm25"]
    assert entry["value"] == pytest.approx(c.difference)
    assert entry["ci95"] == pytest.approx([c.low, c.high])
    assert entry["verdict"] == "dense ahead" and entry["detected"] is True
    assert entry["comparison"]["n"] == 300 and "paired bootstrap over 300 queries" in entry["comparison"]["method"]
    with pytest.raises(report.MetricError, match="Comparison"):
        report.record_comparison("ch07.cmp.x", (0.1, 0.0, 0.2))


def test_record_refuses_an_interval_that_misses_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv(report.ENV_METRICS, str(tmp_path / "m.json"))
    report.record("ch01.a.b", 0.5, ci95=(0.4, 0.6))
    assert json.loads((tmp_path / "m.json").read_text())["ch01.a.b"]["ci95"] == [0.4, 0.6]
    with pytest.raises(report.MetricError, match="outside its interval"):
        report.record("ch01.a.c", 0.7, ci95=(0.4, 0.6))
    with pytest.raises(report.MetricError, match="pair"):
        report.record("ch01.a.d", 0.5, ci95=(0.4,))
    with pytest.raises(report.MetricError, match="overwrite"):
        report.record("ch01.a.e", 0.5, extra={"value": 1})


def test_spearman_changes_is_a_difference_of_differences():
    rng = np.random.default_rng(11)
    gold = rng.uniform(0, 5, 300)
    a0, a1 = gold + rng.normal(0, 1, 300), gold + rng.normal(0, 1.2, 300)
    b0, b1 = gold + rng.normal(0, 1, 300), gold + rng.normal(0, 3, 300)
    c = uncertainty.compare_spearman_changes(a0, a1, b0, b1, gold, names=("matryoshka", "shipped"))
    expected = 100 * ((spearman(a1, gold) - spearman(a0, gold)) - (spearman(b1, gold) - spearman(b0, gold)))
    assert c.difference == pytest.approx(expected)
    assert c.low < c.difference < c.high and c.verdict == "matryoshka ahead"


def test_independent_groups_match_scipy_unpaired_bootstrap():
    rng = np.random.default_rng(12)
    a, b = rng.uniform(0.2, 1, 80), rng.uniform(0, 0.9, 120)
    ours = uncertainty.compare_group_means(a, b, names=("seen", "unseen"), items="claims")
    ref = stats.bootstrap((a, b), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis), paired=False,
                          vectorized=True, n_resamples=2000, method="percentile", random_state=0)
    width = ours.high - ours.low
    assert ours.n == 200 and "unpaired bootstrap over 80 and 120 claims" in ours.method
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.06 * width)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.06 * width)
    g1, g2 = rng.uniform(0, 5, 150), rng.uniform(0, 5, 90)
    p1, p2 = g1 + rng.normal(0, 0.5, 150), g2 + rng.normal(0, 3, 90)
    c = uncertainty.compare_group_spearman(p1, g1, p2, g2, names=("captions", "forums"))
    assert c.difference == pytest.approx(100 * (spearman(p1, g1) - spearman(p2, g2)))
    assert c.verdict == "captions ahead"
    with pytest.raises(ComparisonError, match="at least 2 items"):
        uncertainty.compare_group_means([1.0], [1.0, 2.0])


def test_cluster_bootstrap_widens_the_interval_for_dependent_items():
    # 40 word pairs, 12 questions each, answered alike within a pair: 480 items but only 40 independent units
    rng = np.random.default_rng(13)
    pair_effect = rng.normal(0, 0.4, 40)
    clusters = np.repeat(np.arange(40), 12)
    diff = pair_effect[clusters] + rng.normal(0, 0.05, 480)
    naive = uncertainty.compare_means(diff, np.zeros(480))
    clustered = uncertainty.compare_means(diff, np.zeros(480), clusters=clusters, cluster_name="word pairs")
    assert clustered.difference == pytest.approx(naive.difference)
    assert (clustered.high - clustered.low) > 2.5 * (naive.high - naive.low)
    assert "cluster bootstrap over 40 word pairs (480 items)" in clustered.method
    # with one item per cluster it is the plain bootstrap
    same = uncertainty.compare_means(diff, np.zeros(480), clusters=np.arange(480))
    assert (same.low, same.high) == pytest.approx((naive.low, naive.high))
    lo, hi = uncertainty.mean_interval(diff, clusters=clusters)
    assert hi - lo == pytest.approx(clustered.high - clustered.low, rel=1e-9)
    with pytest.raises(ComparisonError, match="one label per item"):
        uncertainty.compare_means(diff, np.zeros(480), clusters=clusters[:10])



def test_group_means_cluster_bootstrap_resamples_each_groups_clusters():
    rng = np.random.default_rng(14)
    ca, cb = np.repeat(np.arange(20), 10), np.repeat(np.arange(15), 12)
    a = rng.normal(0.8, 0.3, 20)[ca] + rng.normal(0, 0.02, 200)
    b = rng.normal(0.2, 0.3, 15)[cb] + rng.normal(0, 0.02, 180)
    plain = uncertainty.compare_group_means(a, b)
    clustered = uncertainty.compare_group_means(a, b, clusters=(ca, cb), cluster_name="word pairs", items="q")
    assert clustered.difference == pytest.approx(plain.difference)
    assert clustered.high - clustered.low > 2 * (plain.high - plain.low)
    assert "unpaired cluster bootstrap over 20 and 15 word pairs (380 q)" in clustered.method
    with pytest.raises(ComparisonError, match="a pair"):
        uncertainty.compare_group_means(a, b, clusters=ca)
