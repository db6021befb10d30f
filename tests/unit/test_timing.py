"""sbert_lessons.timing: the measurement protocol and the n(n-1)/2 arithmetic (chapter 3)."""

import math
import time

import numpy as np
import pytest

from sbert_lessons import timing


def test_time_call_warms_up_then_takes_the_median():
    calls = []

    def work(x):
        calls.append(x)
        time.sleep(0.002)
        return x * 2

    t = timing.time_call(work, 21, warmup=2, repeats=3)
    assert len(calls) == 5
    assert t.result == 42
    assert len(t.runs_s) == 3
    assert t.median_s == pytest.approx(sorted(t.runs_s)[1])
    assert t.min_s <= t.median_s
    assert t.median_s >= 0.0015


def test_throughput_counts_items_and_batches():
    seen = []

    def fn(batch):
        seen.append(len(batch))
        time.sleep(0.001 * len(batch))

    rate = timing.throughput(fn, list(range(10)), batch=4, warmup=1, repeats=1)
    assert seen == [4, 4, 4, 2]  # one warm-up batch, then 4 + 4 + 2
    assert 100 < rate < 1000  # ~1 ms per item


@pytest.mark.parametrize("kwargs, exc", [
    ({"fn": len, "items": []}, ValueError),
    ({"fn": len, "items": "abc"}, TypeError),
    ({"fn": len, "items": [1], "batch": 0}, ValueError),
    ({"fn": len, "items": [1], "batch": 1.5}, TypeError),
    ({"fn": None, "items": [1]}, TypeError),
    ({"fn": len, "items": [1], "repeats": 0}, ValueError),
])
def test_throughput_bad_input(kwargs, exc):
    with pytest.raises(exc):
        timing.throughput(**kwargs)


def test_time_call_bad_input():
    with pytest.raises(TypeError, match="callable"):
        timing.time_call(3)
    with pytest.raises(ValueError, match="repeats"):
        timing.time_call(len, [1], repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        timing.time_call(len, [1], warmup=-1)


def test_pair_count_and_extrapolation():
    assert timing.pair_count(10_000) == 49_995_000
    assert timing.pair_count(1) == 0
    # 10 sentences -> 45 pairs in 4.5 s, i.e. 10 pairs/s; 10,000 sentences -> 4,999,500 s
    assert timing.extrapolate_pairs(10, 4.5, 10_000) == pytest.approx(4_999_500)
    assert timing.extrapolate_pairs(100, 2.0, 100) == pytest.approx(2.0)
    assert timing.extrapolate_linear(1_000, 5.0, 10_000) == pytest.approx(50.0)


@pytest.mark.parametrize("args, exc", [
    ((1, 1.0, 100), ValueError),          # one sentence has no pair
    ((10, 0.0, 100), ValueError),
    ((10, -1.0, 100), ValueError),
    ((10, math.nan, 100), ValueError),
    ((10, "3", 100), TypeError),
    ((10.5, 1.0, 100), TypeError),
    ((10, 1.0, True), TypeError),
])
def test_extrapolate_pairs_bad_input(args, exc):
    with pytest.raises(exc):
        timing.extrapolate_pairs(*args)


def test_most_similar_pair_matches_brute_force():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(37, 8)).astype(np.float32)
    emb[30] = emb[4] * 3 + 1e-3  # a near-duplicate, at another scale
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit.T
    iu = np.triu_indices(len(emb), k=1)
    k = int(np.argmax(cos[iu]))
    for chunk in (1, 5, 64):
        i, j, s = timing.most_similar_pair(emb, chunk=chunk)
        assert (i, j) == (iu[0][k], iu[1][k]) == (4, 30)
        assert s == pytest.approx(cos[4, 30], abs=1e-5)


def test_most_similar_pair_bad_input():
    with pytest.raises(ValueError, match="shape"):
        timing.most_similar_pair(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="zero-length"):
        timing.most_similar_pair(np.zeros((3, 3)))


class _ToyCross:
    """Scores a pair by negative length difference: the pair of equal length wins."""

    def predict(self, pairs, batch_size=32, show_progress_bar=False):
        return np.array([-abs(len(a) - len(b)) for a, b in pairs], dtype=float)


def test_cross_encoder_pair_search_scores_every_pair():
    texts = ["a", "bbbb", "cc", "ddddddd", "ee"]
    assert timing.cross_encoder_pair_search(_ToyCross(), texts)[:2] == (2, 4)
    with pytest.raises(ValueError):
        timing.cross_encoder_pair_search(_ToyCross(), ["only one"])
    with pytest.raises(TypeError):
        timing.cross_encoder_pair_search(_ToyCross(), "abc")


def test_format_duration():
    assert timing.format_duration(4.2) == "4.2 s"
    assert timing.format_duration(65 * 3600) == "65.0 h"
    assert timing.format_duration(30 * 86400).endswith("days")
    with pytest.raises(ValueError):
        timing.format_duration(-1)
