"""Property-based tests (hypothesis) over the public helpers of evaluation, embeddings, pooling, losses,
timing and cache (issue 9, property 5): shapes, NaN/inf, empty input, duplicates, huge and tiny magnitudes.

Bounded so that the unit stage stays fast: profile ``sbert-unit`` (the default) runs a few dozen examples
per property; ``SBERT_LESSONS_HYPOTHESIS=sbert-deep`` runs many more when hunting for bugs by hand.
"""

import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sbert_lessons import cache, embeddings, evaluation, losses, pooling, timing
from sbert_lessons.models import GloVe

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large]}
settings.register_profile("sbert-unit", max_examples=25, **_COMMON)
settings.register_profile("sbert-deep", max_examples=400, **_COMMON)
PROFILE = settings.get_profile(os.environ.get("SBERT_LESSONS_HYPOTHESIS", "sbert-unit"))

# finite floats of ordinary size, and scales from tiny to huge (float64 only: float32 would overflow)
moderate = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
scales = st.sampled_from([1e-200, 1e-30, 1e-6, 1.0, 1e6, 1e30, 1e200])
bad_values = st.sampled_from([math.nan, math.inf, -math.inf])


def matrices(min_rows=1, max_rows=8, min_cols=1, max_cols=6, elements=moderate):
    shape = st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols))
    return shape.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def with_nonzero_rows(m: np.ndarray) -> np.ndarray:
    m = m.copy()
    zero = ~m.any(axis=1)
    m[zero, 0] = 1.0
    return m


def poison(m: np.ndarray, data, value) -> tuple[np.ndarray, int]:
    m = m.copy()
    r = data.draw(st.integers(0, m.shape[0] - 1))
    c = data.draw(st.integers(0, m.shape[1] - 1))
    m[r, c] = value
    return m, r


# ----------------------------------------------------------------------------------- evaluation
@PROFILE
@given(hnp.arrays(np.float64, st.integers(1, 15), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0, 3.0]) | moderate))
def test_rankdata_matches_scipy_with_ties(x):
    from scipy.stats import rankdata as scipy_rankdata

    r = evaluation.rankdata(x)
    np.testing.assert_allclose(r, scipy_rankdata(x, method="average"))
    assert r.sum() == pytest.approx(len(x) * (len(x) + 1) / 2)


@PROFILE
@given(st.data(), hnp.arrays(np.float64, st.integers(2, 15), elements=moderate))
def test_spearman_bounded_symmetric_and_rank_invariant(data, a):
    b = data.draw(hnp.arrays(np.float64, len(a), elements=moderate))
    assume(len(set(a)) > 1 and len(set(b)) > 1)
    rho = evaluation.spearman(a, b)
    assert -1 - 1e-12 <= rho <= 1 + 1e-12
    assert rho == pytest.approx(evaluation.spearman(b, a), abs=1e-12)
    assert rho == pytest.approx(evaluation.spearman(4 * a, b), abs=1e-12)     # exact monotone maps
    assert -rho == pytest.approx(evaluation.spearman(-a, b), abs=1e-12)


@PROFILE
@given(st.data(), hnp.arrays(np.float64, st.integers(2, 12), elements=moderate), bad_values)
def test_spearman_never_returns_nan(data, a, bad):
    a, _ = poison(a[:, None], data, bad)
    with pytest.raises(ValueError):
        evaluation.spearman(a[:, 0], np.arange(len(a), dtype=float))


@PROFILE
@given(st.data(), matrices(), scales, scales)
def test_paired_cosine_bounded_and_scale_invariant(data, u, su, sv):
    u = with_nonzero_rows(u)
    v = with_nonzero_rows(data.draw(hnp.arrays(np.float64, u.shape, elements=moderate)))
    c = evaluation.paired_cosine(u, v)
    assert np.isfinite(c).all() and (np.abs(c) <= 1 + 1e-9).all()
    us, vs = u * su, v * sv
    # rows pushed below the normal float64 range lose digits (or become zero): not a scaling of u any more
    assume((np.abs(us).max(axis=1) > 1e-290).all() and (np.abs(vs).max(axis=1) > 1e-290).all())
    np.testing.assert_allclose(evaluation.paired_cosine(us, vs), c, atol=1e-9)


@PROFILE
@given(st.data(), matrices(), bad_values)
def test_paired_cosine_never_returns_nan(data, u, bad):
    u = with_nonzero_rows(u)
    bad_u, row = poison(u, data, bad)
    with pytest.raises(ValueError, match=f"row {row}"):
        evaluation.paired_cosine(bad_u, with_nonzero_rows(np.ones_like(u)))


# ----------------------------------------------------------------------------------- embeddings
@PROFILE
@given(st.data(), hnp.arrays(np.float64, st.integers(1, 8), elements=moderate), scales, scales)
def test_cosine_symmetric_bounded_scale_invariant(data, u, su, sv):
    v = data.draw(hnp.arrays(np.float64, len(u), elements=moderate))
    assume(u.any() and v.any())
    c = embeddings.cosine(u, v)
    assert -1 - 1e-12 <= c <= 1 + 1e-12 and c == pytest.approx(embeddings.cosine(v, u), abs=1e-12)
    assume(np.abs(u * su).max() > 1e-290 and np.abs(v * sv).max() > 1e-290)
    assert embeddings.cosine(u * su, v * sv) == pytest.approx(c, abs=1e-9)


WORDS = [f"w{i}" for i in range(12)]


@PROFILE
@given(st.data(), hnp.arrays(np.float32, (12, 4), elements=st.floats(-10, 10, width=32)),
       st.integers(1, 15), st.lists(st.sampled_from(WORDS + ["unknown"]), max_size=5))
def test_nearest_sorted_finite_and_respects_exclude(data, vecs, k, exclude):
    vecs = with_nonzero_rows(vecs).astype(np.float32)
    wv = GloVe(words=WORDS, vectors=vecs, index={w: i for i, w in enumerate(WORDS)})
    query = data.draw(st.sampled_from(WORDS))
    out = embeddings.nearest(wv, query, k=k, exclude=exclude)
    sims = [s for _, s in out]
    assert len(out) <= k and sims == sorted(sims, reverse=True) and all(np.isfinite(sims))
    banned = set(exclude) | {query}
    assert not banned & {w for w, _ in out}
    assert len(out) == min(k, len(WORDS) - len(banned & set(WORDS)))


@PROFILE
@given(st.data(), hnp.arrays(np.float32, (6, 3), elements=st.floats(-10, 10, width=32)), bad_values)
def test_nearest_never_ranks_a_nan_vector(data, vecs, bad):
    vecs, _ = poison(with_nonzero_rows(vecs).astype(np.float32), data, bad)
    wv = GloVe(words=WORDS[:6], vectors=vecs, index={w: i for i, w in enumerate(WORDS[:6])})
    with pytest.raises(ValueError, match="NaN or infinite"):
        embeddings.nearest(wv, np.ones(3), k=6)


@PROFILE
@given(hnp.arrays(np.float32, (5, 3), elements=st.floats(-1e3, 1e3, width=32)),
       st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "zz"]), max_size=6), min_size=1, max_size=6))
def test_average_vectors_is_the_mean_or_a_clear_error(vecs, token_lists):
    words = ["a", "b", "c", "d", "e"]
    wv = GloVe(words=words, vectors=vecs, index={w: i for i, w in enumerate(words)})
    known = [[t for t in toks if t in wv.index] for toks in token_lists]
    if not all(known):
        with pytest.raises(ValueError, match="sentence"):
            embeddings.average_vectors(token_lists, wv)
        return
    out = embeddings.average_vectors(token_lists, wv)
    want = np.stack([vecs[[wv.index[t] for t in ks]].astype(np.float64).mean(axis=0) for ks in known])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-3)


@PROFILE
@given(matrices(min_rows=2, max_rows=8, min_cols=2, max_cols=5))
def test_principal_component_is_unit_and_removed(x):
    assume(np.abs(x).max() > 1e-3)
    pc = embeddings.first_principal_component(x)
    assert np.linalg.norm(pc) == pytest.approx(1.0)
    cleaned = embeddings.remove_component(x, pc).astype(np.float64)
    assert np.abs(cleaned @ pc).max() <= 1e-4 * max(1.0, np.abs(x).max())


# -------------------------------------------------------------------------------------- pooling
SMALL32 = st.floats(-50, 50, width=32)


@st.composite
def pooling_batches(draw, elements=SMALL32):
    b, t, d = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    x = torch.from_numpy(draw(hnp.arrays(np.float32, (b, t, d), elements=elements)))
    lengths = [draw(st.integers(1, t)) for _ in range(b)]
    mask = torch.tensor([[1] * n + [0] * (t - n) for n in lengths])
    return x, mask


@PROFILE
@given(pooling_batches(), st.data())
def test_pooling_ignores_padding_content(batch, data):
    x, mask = batch
    noise = torch.from_numpy(data.draw(hnp.arrays(np.float32, tuple(x.shape), elements=st.floats(-50, 50, width=32))))
    other = torch.where(mask.unsqueeze(-1).bool(), x, noise)
    for mode in pooling.MODES:
        a = pooling.pool(mode, x, mask)
        assert a.shape == (x.shape[0], x.shape[2]) and torch.isfinite(a).all()
        torch.testing.assert_close(a, pooling.pool(mode, other, mask), rtol=1e-5, atol=1e-5)
    assert (pooling.max_pool(x, mask) >= pooling.mean_pool(x, mask) - 1e-4).all()


@PROFILE
@given(pooling_batches(), st.data(), bad_values)
def test_pooling_never_returns_nan(batch, data, bad):
    x, mask = batch
    b = data.draw(st.integers(0, x.shape[0] - 1))
    t = data.draw(st.integers(0, x.shape[1] - 1))
    x = x.clone()
    x[b, t, 0] = bad
    for mode in pooling.MODES:
        with pytest.raises(ValueError, match="NaN or infinite"):
            pooling.pool(mode, x, mask)


@PROFILE
@given(pooling_batches(elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
def test_pooling_huge_values_finite_or_clear_error(batch):
    x, mask = batch
    for mode in pooling.MODES:
        try:
            out = pooling.pool(mode, x, mask)
        except ValueError as exc:
            assert "overflowed" in str(exc)
        else:
            assert torch.isfinite(out).all()


# --------------------------------------------------------------------------------------- losses
@st.composite
def loss_batches(draw):
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["random", "identical", "zero", "duplicates", "tiny", "large"]))
    base = draw(hnp.arrays(np.float32, (n, d), elements=st.floats(-5, 5, width=32)))
    cols = [draw(hnp.arrays(np.float32, (n, d), elements=st.floats(-5, 5, width=32))) for _ in range(3)]
    if kind == "identical":
        cols = [base] * 3
    elif kind == "zero":
        cols = [np.zeros((n, d), np.float32)] * 3
    elif kind == "duplicates":
        cols = [np.repeat(c[:1], n, axis=0) for c in cols]
    elif kind == "tiny":
        cols = [c * 1e-20 for c in cols]
    elif kind == "large":
        cols = [c * 1e15 for c in cols]
    return [torch.tensor(c, requires_grad=True) for c in cols]


@PROFILE
@given(loss_batches(), st.sampled_from(["cosine", "softmax", "triplet", "mnrl"]))
def test_losses_finite_with_finite_gradients_or_clear_error(cols, name):
    n, d = cols[0].shape
    torch.manual_seed(0)
    try:
        if name == "cosine":
            loss = losses.cosine_similarity_loss(cols[0], cols[1], torch.linspace(0, 1, n))
        elif name == "softmax":
            loss = losses.softmax_loss(cols[0], cols[1], torch.arange(n) % 3, torch.nn.Linear(3 * d, 3))
        elif name == "triplet":
            loss = losses.triplet_loss(*cols)
        else:
            loss = losses.mnrl_loss(*cols)
    except ValueError as exc:  # the documented rule: a loss that overflows is refused, never returned
        assert "overflow" in str(exc)
        return
    loss.backward()
    assert torch.isfinite(loss), f"{name} returned {loss}"
    for c in cols:
        assert c.grad is None or torch.isfinite(c.grad).all(), f"{name}: non-finite gradient"


@PROFILE
@given(st.data(), st.integers(1, 4), st.integers(1, 4), bad_values, st.sampled_from(["cosine", "triplet", "mnrl"]))
def test_losses_refuse_nan_inputs(data, n, d, bad, name):
    cols = [torch.randn(n, d) for _ in range(3)]
    which = data.draw(st.integers(0, 2 if name != "cosine" else 1))
    cols[which][data.draw(st.integers(0, n - 1)), 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        if name == "cosine":
            losses.cosine_similarity_loss(cols[0], cols[1], torch.zeros(n))
        elif name == "triplet":
            losses.triplet_loss(*cols)
        else:
            losses.mnrl_loss(*cols)


@settings(PROFILE, max_examples=min(PROFILE.max_examples, 10))
@given(st.integers(1, 5), st.integers(1, 4), st.sampled_from(["cosine", "triplet", "mnrl"]),
       st.integers(0, 2**31 - 1))
def test_losses_equal_the_library(n, d, name, seed):
    g = torch.Generator().manual_seed(seed)
    cols = [torch.randn(n, d, generator=g) for _ in range(3)]
    if name == "cosine":
        labels = torch.rand(n, generator=g)
        ours, lib = losses.cosine_similarity_loss(cols[0], cols[1], labels), losses.library_loss(
            "cosine", cols[:2], labels)
    elif name == "triplet":
        ours, lib = losses.triplet_loss(*cols), losses.library_loss("triplet", cols)
    else:
        ours, lib = losses.mnrl_loss(*cols), losses.library_loss("mnrl", cols)
    torch.testing.assert_close(ours, lib.to(ours.dtype), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------- timing
@PROFILE
@given(matrices(min_rows=2, max_rows=9, min_cols=1, max_cols=4,
                elements=st.sampled_from([-1.0, 0.0, 1.0, 2.0]) | moderate), scales, st.integers(1, 10))
def test_most_similar_pair_is_the_brute_force_maximum(x, scale, chunk):
    x = with_nonzero_rows(x)
    assume((np.abs(x * scale).max(axis=1) > 1e-290).all())
    i, j, c = timing.most_similar_pair(x * scale, chunk=chunk)
    xs = x / np.abs(x).max(axis=1, keepdims=True)
    unit = xs / np.linalg.norm(xs, axis=1, keepdims=True)
    full = unit @ unit.T
    iu = np.triu_indices(len(x), 1)
    assert 0 <= i < j < len(x)
    assert c == pytest.approx(full[iu].max(), abs=1e-5)
    assert full[i, j] == pytest.approx(full[iu].max(), abs=1e-5)


@PROFILE
@given(st.data(), matrices(min_rows=2, max_rows=6), bad_values)
def test_most_similar_pair_never_answers_minus_one(data, x, bad):
    x, row = poison(with_nonzero_rows(x), data, bad)
    with pytest.raises(ValueError, match=f"row {row}"):
        timing.most_similar_pair(x)


@PROFILE
@given(st.integers(2, 10**6), st.floats(1e-9, 1e9), st.integers(2, 10**6))
def test_extrapolation_arithmetic(n, t, target):
    assert timing.pair_count(n) == n * (n - 1) // 2
    assert timing.extrapolate_pairs(n, t, n) == pytest.approx(t)
    assert timing.extrapolate_linear(n, t, target) == pytest.approx(t * target / n)
    est = timing.extrapolate_pairs(n, t, target)
    assert math.isfinite(est) and est > 0
    assert isinstance(timing.format_duration(est), str)


@PROFILE
@given(st.sampled_from([math.nan, math.inf, -1.0, -math.inf]))
def test_durations_refuse_nan(bad):
    with pytest.raises(ValueError):
        timing.format_duration(bad)
    with pytest.raises(ValueError):
        timing.extrapolate_pairs(10, bad, 100)


@PROFILE
@given(st.integers(0, 2), st.integers(1, 4))
def test_time_call_median_within_runs(warmup, repeats):
    t = timing.time_call(sum, [1, 2, 3], warmup=warmup, repeats=repeats)
    assert len(t.runs_s) == repeats and min(t.runs_s) <= t.median_s <= max(t.runs_s) and t.result == 6


# ---------------------------------------------------------------------------------------- cache
texts_st = st.lists(st.text(max_size=12), min_size=1, max_size=6)


@PROFILE
@given(texts_st, texts_st)
def test_texts_hash_is_injective(a, b):
    assert (cache.texts_hash(a) == cache.texts_hash(b)) == (a == b)


@PROFILE
@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_key_of_ignores_dict_order(d):
    assert cache.key_of(d) == cache.key_of(dict(reversed(list(d.items()))))


class CharModel(torch.nn.Module):
    """A tiny torch "sentence model": character statistics through a linear layer, with the settings
    that change a SentenceTransformer's output (truncate_dim, prompts, a default prompt)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)
        self.truncate_dim = None
        self.prompts = {"q": "query: "}
        self.default_prompt_name = None
        self.device = "cpu"

    def encode(self, texts, normalize_embeddings=False, prompt_name=None, **_):
        name = prompt_name or self.default_prompt_name
        prefix = self.prompts.get(name, "") if name else ""
        feats = torch.tensor([[len(prefix + t), sum(map(ord, prefix + t)) % 97, 1.0] for t in texts])
        with torch.no_grad():
            out = self.lin(feats)
        if self.truncate_dim:
            out = out[:, : self.truncate_dim]
        if normalize_embeddings:
            out = torch.nn.functional.normalize(out, dim=1)
        return out.numpy()


OPS = st.sampled_from(["swap_data", "data_inplace", "optimizer_step", "truncate", "untruncate", "prompt",
                       "edit_prompt", "no_prompt", "encode", "encode_normalized"])


@PROFILE
@given(st.lists(OPS, min_size=1, max_size=10), texts_st, st.integers(0, 2**31 - 1))
def test_cache_never_returns_what_the_model_would_not_compute_now(ops, texts, seed):
    torch.manual_seed(seed)
    m = CharModel()
    cache.set_fingerprint(m, "char-model@base")
    for op in ops + ["encode"]:
        if op == "swap_data":
            m.lin.weight.data = m.lin.weight.data * 1.5 + 0.1
        elif op == "data_inplace":
            m.lin.bias.data.add_(0.25)
        elif op == "optimizer_step":
            opt = torch.optim.SGD(m.parameters(), lr=0.1)
            m.lin(torch.ones(1, 3)).sum().backward()
            opt.step()
            opt.zero_grad()
        elif op == "truncate":
            m.truncate_dim = 2
        elif op == "untruncate":
            m.truncate_dim = None
        elif op == "prompt":
            m.default_prompt_name = "q"
        elif op == "edit_prompt":
            m.prompts = {"q": m.prompts["q"] + "x"}
        elif op == "no_prompt":
            m.default_prompt_name = None
        normalize = op == "encode_normalized"
        want = m.encode(texts, normalize_embeddings=normalize)
        got = cache.encode(m, texts, normalize=normalize)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"after {op} in {ops}")
