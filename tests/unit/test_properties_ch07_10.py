"""Property-based tests (hypothesis) for issue 25: the search and fusion helpers of chapter 7 and chapter
10's chunk-and-pool. Results do not depend on the order of equal inputs, scores are finite or refused, ids
are unique or refused, ``k`` is bounded; every token of a long text is read by the model in some chunk.

No model is loaded (a fake tokenizer and model, see ``fakes_ch07_10.py``) and the examples are few, so the
unit stage stays fast; ``SBERT_LESSONS_HYPOTHESIS=sbert-deep`` runs many more when hunting by hand.
"""

import math
import os

import numpy as np
import pytest
from fakes_ch07_10 import ReadingModel, direct_encode
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sbert_lessons import longtext, search

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large]}
settings.register_profile("sbert-unit-ch07-10", max_examples=20, **_COMMON)
settings.register_profile("sbert-deep-ch07-10", max_examples=300, **_COMMON)
PROFILE = settings.get_profile("sbert-deep-ch07-10" if os.environ.get("SBERT_LESSONS_HYPOTHESIS") == "sbert-deep"
                               else "sbert-unit-ch07-10")

moderate = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=32)
bad_values = st.sampled_from([math.nan, math.inf, -math.inf])
doc_names = st.sampled_from([f"d{i}" for i in range(8)])
# few distinct scores, so that ties (the usual source of order dependence) are common
tie_scores = st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, 0.25])
runs_st = st.dictionaries(st.sampled_from(["q1", "q2", "q3"]),
                          st.dictionaries(doc_names, tie_scores | moderate, max_size=6), min_size=1, max_size=3)


def _reorder(run, data):
    """The same run with every dict in another insertion order."""
    qids = data.draw(st.permutations(list(run)))
    out = {}
    for q in qids:
        docs = data.draw(st.permutations(list(run[q].items())))
        out[q] = dict(docs)
    return out


# ------------------------------------------------------------------------------------ exact top-k
@PROFILE
@given(st.data(), st.integers(1, 12), st.integers(1, 5), st.booleans())
def test_exact_topk_bounds_order_and_permutation(data, n, d, cosine):
    c = data.draw(hnp.arrays(np.float32, (n, d), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0]) | moderate))
    c[~c.any(axis=1), 0] = 1.0
    q = data.draw(hnp.arrays(np.float32, (2, d), elements=moderate))
    q[~q.any(axis=1), 0] = 1.0
    k = data.draw(st.integers(-1, n + 2))
    if not 1 <= k <= n:
        with pytest.raises(ValueError, match="top_k"):
            search.exact_topk(q, c, k, cosine=cosine)
        return
    scores, ids = search.exact_topk(q, c, k, cosine=cosine)
    assert scores.shape == ids.shape == (2, k) and np.isfinite(scores).all()
    for row_s, row_i in zip(scores, ids):
        assert len(set(row_i.tolist())) == k and (np.diff(row_s) <= 0).all()
        for a in range(k - 1):  # ties go to the lower row number
            if row_s[a] == row_s[a + 1]:
                assert row_i[a] < row_i[a + 1]
    perm = np.asarray(data.draw(st.permutations(range(n))))
    p_scores, _ = search.exact_topk(q, c[perm], k, cosine=cosine)
    np.testing.assert_allclose(p_scores, scores, rtol=1e-5, atol=1e-5)  # the same top scores, whatever the order


@PROFILE
@given(st.data(), st.integers(2, 8), st.integers(1, 4), bad_values)
def test_exact_topk_refuses_non_finite_vectors_by_row(data, n, d, bad):
    c = data.draw(hnp.arrays(np.float32, (n, d), elements=moderate))
    row = data.draw(st.integers(0, n - 1))
    c[row, data.draw(st.integers(0, d - 1))] = bad
    with pytest.raises(ValueError, match=f"first at row {row}"):
        search.exact_topk(np.ones((1, d), np.float32), c, 1)


# --------------------------------------------------------------------------------------- runs
@PROFILE
@given(st.data(), st.integers(1, 4), st.integers(1, 6))
def test_topk_to_run_ids_unique_or_refused(data, n_q, n_docs):
    k = data.draw(st.integers(1, n_docs))
    ids = np.array([data.draw(st.permutations(range(n_docs)))[:k] for _ in range(n_q)])
    scores = data.draw(hnp.arrays(np.float64, (n_q, k), elements=tie_scores))
    qids = data.draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=n_q, max_size=n_q))
    dids = data.draw(st.lists(st.sampled_from([f"x{i}" for i in range(8)]), min_size=n_docs, max_size=n_docs))
    if len(set(qids)) < n_q or len(set(dids)) < n_docs:
        with pytest.raises(ValueError, match="appears twice"):
            search.topk_to_run(ids, scores, qids, dids)
        return
    run = search.topk_to_run(ids, scores, qids, dids)
    assert list(run) == qids and all(len(run[q]) == k for q in qids)  # nothing merged, nothing lost
    if data.draw(st.booleans()):
        scores[data.draw(st.integers(0, n_q - 1)), data.draw(st.integers(0, k - 1))] = data.draw(bad_values)
        with pytest.raises(ValueError, match="scores must be finite"):
            search.topk_to_run(ids, scores, qids, dids)


@PROFILE
@given(st.data(), st.lists(runs_st, min_size=1, max_size=3), st.one_of(st.none(), st.integers(-1, 5)))
def test_fusion_is_invariant_to_the_order_of_equal_inputs(data, runs, top_k):
    if top_k is not None and top_k < 1:
        with pytest.raises(ValueError, match="top_k"):
            search.reciprocal_rank_fusion(runs, top_k=top_k)
        with pytest.raises(ValueError, match="top_k"):
            search.normalized_score_mix(runs, [1.0] * len(runs), top_k=top_k)
        return
    weights = data.draw(st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.7, 1.0]), min_size=len(runs),
                                 max_size=len(runs)))
    rrf = search.reciprocal_rank_fusion(runs, top_k=top_k)
    mix = search.normalized_score_mix(runs, weights, top_k=top_k)
    order = data.draw(st.permutations(range(len(runs))))
    shuffled = [_reorder(runs[i], data) for i in order]
    rrf2 = search.reciprocal_rank_fusion(shuffled, top_k=top_k)
    mix2 = search.normalized_score_mix(shuffled, [weights[i] for i in order], top_k=top_k)
    for a, b in ((rrf, rrf2), (mix, mix2)):
        assert set(a) == set(b)
        for q in a:
            assert a[q] == b[q] and search.ranked_ids(a[q]) == search.ranked_ids(b[q])
            assert top_k is None or len(a[q]) <= top_k
            assert all(math.isfinite(v) for v in a[q].values())


@PROFILE
@given(st.data(), st.lists(runs_st, min_size=1, max_size=3), bad_values)
def test_fusion_and_rerank_refuse_non_finite_scores(data, runs, bad):
    i = data.draw(st.integers(0, len(runs) - 1))
    q = data.draw(st.sampled_from(sorted(runs[i])))
    d = data.draw(doc_names)
    runs[i][q][d] = bad
    where = rf"\[{q!r}\]: document {d!r} has score"
    with pytest.raises(ValueError, match=where):
        search.reciprocal_rank_fusion(runs)
    with pytest.raises(ValueError, match=where):
        search.normalized_score_mix(runs, [1.0] * len(runs))
    with pytest.raises(ValueError, match=where):
        search.rerank(_Scorer(), runs[i], {x: x for x in runs[i]}, {f"d{j}": "t" * j for j in range(8)})


class _Scorer:
    def predict(self, pairs, **kw):
        return np.array([float(len(d) % 3) for _, d in pairs])  # many ties


@PROFILE
@given(st.data(), runs_st, st.integers(1, 6))
def test_rerank_is_invariant_to_the_order_of_the_run(data, run, depth):
    texts = {f"d{j}": "t" * j for j in range(8)}
    a = search.rerank(_Scorer(), run, {q: q for q in run}, texts, depth=depth)
    b = search.rerank(_Scorer(), _reorder(run, data), {q: q for q in run}, texts, depth=depth)
    assert a == b and all(search.ranked_ids(a[q]) == search.ranked_ids(b[q]) for q in a)
    for q, docs in run.items():
        assert set(a[q]) == set(docs)  # nothing dropped
        assert search.ranked_ids(a[q])[depth:] == search.ranked_ids(docs)[depth:]  # the tail keeps its order


# ---------------------------------------------------------------------------------- chunk-and-pool
def _long_text(data):
    """A text of unique 3-digit tokens: words of 1-12 tokens, some sentences ending with a full stop."""
    n_words = data.draw(st.integers(1, 14))
    words, t = [], 0
    for _ in range(n_words):
        size = data.draw(st.integers(1, 12) if data.draw(st.integers(0, 4)) == 0 else st.integers(1, 2))
        w = "".join(f"{t + j:03d}" for j in range(size))
        t += size
        words.append(w + ("." if data.draw(st.booleans()) else ""))
    return " ".join(words), {f"{j:03d}" for j in range(t)}


@PROFILE
@given(st.data(), st.integers(3, 10), st.sampled_from(["window", "sentences"]))
def test_chunk_and_pool_reads_every_token(data, limit, mode):
    m = ReadingModel(max_seq_length=limit)
    texts, tokens = zip(*[_long_text(data) for _ in range(data.draw(st.integers(1, 3)))])
    max_tokens = data.draw(st.one_of(st.none(), st.integers(3, limit + 4)))
    if max_tokens is not None and max_tokens > limit:
        with pytest.raises(ValueError, match=f"max_seq_length={limit}"):
            longtext.chunk_and_pool(m, list(texts), max_tokens=max_tokens, mode=mode, encode=direct_encode)
        return
    emb, n = longtext.chunk_and_pool(m, list(texts), max_tokens=max_tokens, mode=mode, encode=direct_encode)
    read = {tok for r in m.read for tok in r}
    for want in tokens:
        assert want <= read, sorted(want - read)  # every token of every text reached the model
    assert emb.shape == (len(texts), m.dim) and np.isfinite(emb).all() and (n >= 1).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


@PROFILE
@given(st.data(), st.integers(3, 9))
def test_chunk_text_chunks_fit_and_keep_every_token_in_order(data, max_tokens):
    m = ReadingModel(max_seq_length=12)
    text, _ = _long_text(data)
    assume(text.strip())
    chunks = longtext.chunk_text(m, text, max_tokens)
    pieces = [t for c in chunks for t in m.tokenizer.encode(c).ids]
    assert pieces == m.tokenizer.encode(text).ids  # the same tokens, in order, none lost or repeated
    assert all(len(m.tokenizer.encode(c).ids) <= max_tokens - 2 for c in chunks)
