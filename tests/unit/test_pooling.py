"""From-scratch pooling (chapter 4) equals sentence-transformers' Pooling, values and gradients."""

import numpy as np
import pytest
import torch

from sbert_lessons import pooling


def batch(n=4, t=7, d=8, seed=0, lengths=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t, d, generator=g, dtype=torch.float64)
    lengths = lengths or [t] + [int(v) for v in torch.randint(1, t + 1, (n - 1,), generator=g)]
    mask = torch.zeros(n, t, dtype=torch.long)
    for i, k in enumerate(lengths):
        mask[i, :k] = 1
    return x, mask


CASES = [{"n": 4, "t": 7, "d": 8}, {"n": 1, "t": 5, "d": 3}, {"n": 3, "t": 6, "d": 4, "lengths": [6, 1, 3]},
         {"n": 5, "t": 1, "d": 2, "lengths": [1] * 5}]


@pytest.mark.parametrize("mode", pooling.MODES)
@pytest.mark.parametrize("case", CASES, ids=["padded", "size1", "very-padded", "one-token"])
def test_equals_library_values_and_gradients(mode, case):
    x, mask = batch(**case)
    xo, xl = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, lib = pooling.pool(mode, xo, mask), pooling.library_pool(mode, xl, mask)
    assert ours.shape == (x.shape[0], x.shape[2])
    torch.testing.assert_close(ours, lib, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(ours)
    (ours * w).sum().backward()
    (lib * w).sum().backward()
    torch.testing.assert_close(xo.grad, xl.grad, rtol=1e-10, atol=1e-10)


def test_padding_never_changes_masked_poolings_but_changes_unmasked_mean():
    x, mask = batch(n=1, t=4, d=6, lengths=[4])
    padded = torch.cat([x, torch.randn(1, 3, 6, dtype=torch.float64)], dim=1)
    pmask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    for mode in pooling.MODES:
        torch.testing.assert_close(pooling.pool(mode, x, mask), pooling.pool(mode, padded, pmask))
    assert not torch.allclose(pooling.mean_pool_unmasked(x, mask), pooling.mean_pool_unmasked(padded, pmask))


@pytest.mark.parametrize("mode", pooling.MODES)
def test_left_padding_pools_like_right_padding_and_like_the_library(mode):
    """The real tokens moved to the end of each row (a left-padded batch, as decoder tokenizers pad) pool to
    the same vectors: the functions find the real tokens from the mask, not from fixed positions."""
    x, mask = batch(n=3, t=6, d=4, lengths=[6, 1, 3])
    shift = (mask == 0).sum(dim=1)
    x_left = torch.stack([torch.roll(x[i], int(shift[i]), dims=0) for i in range(len(x))])
    mask_left = torch.stack([torch.roll(mask[i], int(shift[i]), dims=0) for i in range(len(mask))])
    assert mask_left[:, -1].all() and not mask_left[:, 0].all()  # padded on the left indeed
    left = pooling.pool(mode, x_left, mask_left)
    torch.testing.assert_close(left, pooling.pool(mode, x, mask), rtol=1e-10, atol=1e-10)
    # the library's vectors of the same sentences (older releases weight left-padded positions differently)
    torch.testing.assert_close(left, pooling.library_pool(mode, x, mask), rtol=1e-10, atol=1e-10)


def test_weighted_mean_in_half_precision_neither_overflows_nor_drifts():
    x, mask = batch(n=2, t=400, d=4, lengths=[400, 37])  # weights up to 400: their sum overflows float16
    ref = pooling.weighted_mean_pool(x, mask)  # float64
    half = pooling.weighted_mean_pool(x.half(), mask)
    assert half.dtype == torch.float16 and bool(torch.isfinite(half).all())
    torch.testing.assert_close(half.double(), ref, rtol=0, atol=1e-2)


def test_cls_weighted_and_last_token_by_hand_on_a_left_padded_row():
    x = torch.tensor([[[100.0, 100.0], [1.0, -2.0], [3.0, 4.0]]])
    m = torch.tensor([[0, 1, 1]])
    assert pooling.cls_pool(x, m).tolist() == [[1.0, -2.0]]
    assert pooling.last_token_pool(x, m).tolist() == [[3.0, 4.0]]
    assert torch.allclose(pooling.weighted_mean_pool(x, m), torch.tensor([[(1 + 6) / 3, (-2 + 8) / 3]]))


def test_mean_and_max_by_hand():
    x = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pooling.mean_pool(x, m).tolist() == [[2.0, 1.0]]
    assert pooling.max_pool(x, m).tolist() == [[3.0, 4.0]]
    assert pooling.cls_pool(x, m).tolist() == [[1.0, -2.0]]
    assert pooling.last_token_pool(x, m).tolist() == [[3.0, 4.0]]
    assert torch.allclose(pooling.weighted_mean_pool(x, m), torch.tensor([[(1 + 6) / 3, (-2 + 8) / 3]]))


@pytest.mark.parametrize("mode", pooling.MODES)
def test_bad_input_is_rejected_clearly(mode):
    x, mask = batch()
    with pytest.raises(ValueError, match="does not match"):
        pooling.pool(mode, x, mask[:, :-1])
    with pytest.raises(ValueError, match="empty batch"):
        pooling.pool(mode, x[:0], mask[:0])
    bad = mask.clone()
    bad[2] = 0
    with pytest.raises(ValueError, match="all padding.*row 2"):
        pooling.pool(mode, x, bad)
    with pytest.raises(ValueError, match=r"\(batch, tokens, dim\)"):
        pooling.pool(mode, x[0], mask[0])
    with pytest.raises(ValueError, match="only 0"):
        pooling.pool(mode, x, mask * 2)
    with pytest.raises(TypeError, match="torch tensors"):
        pooling.pool(mode, x.numpy(), mask)


def test_unknown_mode():
    x, mask = batch()
    with pytest.raises(ValueError, match="unknown pooling mode"):
        pooling.pool("median", x, mask)
    with pytest.raises(ValueError, match="unknown pooling mode"):
        pooling.library_pooling_module("median", 8)


class FakeTransformer(torch.nn.Module):
    """Token embeddings = a fixed embedding of the character codes; enough to test PooledEncoder."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(256, 4)

    def forward(self, feats):
        return {"token_embeddings": self.emb(feats["input_ids"]), "attention_mask": feats["attention_mask"]}


class FakeModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.t = FakeTransformer()
        self.calls = 0

    def __getitem__(self, i):
        return self.t

    def tokenize(self, texts):
        self.calls += 1
        width = max(len(t) for t in texts)
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, t in enumerate(texts):
            ids[i, : len(t)] = torch.tensor([ord(c) % 256 for c in t])
            mask[i, : len(t)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def test_pooled_encoder_one_pass_many_views():
    from sbert_lessons.cache import encode

    model = FakeModel()
    pe = pooling.PooledEncoder(model, modes=("mean", "max"), batch_size=2)
    texts = ["abc", "a", "hello"]
    mean = encode(pe.view("mean"), texts)
    calls = model.calls
    mx = encode(pe.view("max"), texts)
    assert model.calls == calls, "the second view must reuse the first pass"
    assert mean.shape == mx.shape == (3, 4)
    with torch.no_grad():
        e = model.t.emb(torch.tensor([ord("a")]))
    np.testing.assert_allclose(mean[1], e[0].numpy(), rtol=1e-6)
    assert pe.view("mean")._sbert_lessons_fingerprint != pe.view("max")._sbert_lessons_fingerprint
    with pytest.raises(ValueError):
        pe.view("cls")
