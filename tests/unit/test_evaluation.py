import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from sbert_lessons import evaluation


@pytest.mark.parametrize("seed", range(5))
def test_spearman_equals_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, size=200).astype(float)  # many ties, like STS gold scores
    b = a + rng.normal(0, 2, size=200)
    assert evaluation.spearman(b, a) == pytest.approx(spearmanr(b, a).statistic, abs=1e-12)


def test_rankdata_average_ties():
    assert evaluation.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_sts_spearman_scales_by_100():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(50, 8))
    v = u + rng.normal(scale=0.5, size=u.shape)
    gold = evaluation.paired_cosine(u, v)
    assert evaluation.sts_spearman(u, v, gold) == pytest.approx(100.0)


@pytest.mark.parametrize("args,match", [
    (([1, 2], [1, 2, 3]), "one length"),
    (([1.0], [2.0]), "at least two"),
    (([1.0, np.nan], [1.0, 2.0]), "NaN"),
    (([1.0, 1.0], [1.0, 2.0]), "constant"),
])
def test_spearman_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        evaluation.spearman(*args)


def test_paired_cosine_rejects_zero_vectors_and_shapes():
    with pytest.raises(ValueError, match="zero-length"):
        evaluation.paired_cosine(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="one shape"):
        evaluation.paired_cosine(np.ones((2, 3)), np.ones((3, 3)))


def test_evaluate_sts_encodes_each_sentence_once():
    class Model:
        calls = []
        _sbert_lessons_fingerprint = "fake-model-eval"
        device = "cpu"
        max_seq_length = 8

        def encode(self, texts, **kw):
            self.calls.append(list(texts))
            return np.array([[len(t), t.count("a") + 1.0] for t in texts], dtype=np.float32)

    df = pd.DataFrame({"sentence1": ["aa", "b", "aa"], "sentence2": ["b", "ccc", "ccc"], "score": [1, 2, 3]})
    m = Model()
    rho = evaluation.evaluate_sts(m, df)
    assert m.calls == [["aa", "b", "ccc"]]
    assert -100 <= rho <= 100
