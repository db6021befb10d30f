"""From-scratch objectives (chapter 5) equal sentence-transformers' losses, values and gradients."""

import pytest
import torch

from sbert_lessons import losses


def tensors(k, n=8, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(k)]


def check(name, ours_fn, ts, **kw):
    a = [t.clone().requires_grad_(True) for t in ts]
    b = [t.clone().requires_grad_(True) for t in ts]
    ours, lib = ours_fn(*a), losses.library_loss(name, b, **kw)
    torch.testing.assert_close(ours, lib.to(ours.dtype), rtol=1e-6, atol=1e-9)
    ours.backward()
    lib.backward()
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-6, atol=1e-9)


SIZES = [8, 1, 3]


@pytest.mark.parametrize("n", SIZES)
def test_cosine(n):
    u, v = tensors(2, n)
    s = torch.rand(n, dtype=torch.float64)
    check("cosine", lambda a, b: losses.cosine_similarity_loss(a, b, s), [u, v], labels=s)


@pytest.mark.parametrize("n", SIZES)
def test_softmax(n):
    u, v = tensors(2, n)
    y = torch.arange(n) % 3
    clf = torch.nn.Linear(18, 3).double()
    check("softmax", lambda a, b: losses.softmax_loss(a, b, y, clf), [u, v], labels=y, classifier=clf)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("margin", [5.0, 0.5])
def test_triplet(n, margin):
    check("triplet", lambda a, p, q: losses.triplet_loss(a, p, q, margin=margin), tensors(3, n), margin=margin)
    check("triplet", lambda a, p, q: losses.triplet_loss(a, p, q, margin=margin, squared=True), tensors(3, n),
          margin=margin, squared=True)


@pytest.mark.parametrize("n", SIZES)
def test_mnrl(n):
    check("mnrl", losses.mnrl_loss, tensors(2, n))
    check("mnrl", losses.mnrl_loss, tensors(3, n))
    check("mnrl", lambda a, p, q: losses.mnrl_loss(a, p, q, scale=7.0), tensors(3, n), scale=7.0)


def test_values_by_hand():
    u = torch.tensor([[1.0, 0.0]])
    v = torch.tensor([[0.0, 1.0]])
    assert float(losses.cosine_similarity_loss(u, v, [1.0])) == pytest.approx(1.0)
    # triplet: d(a,p) = 1, d(a,n) = 0 -> 1 - 0 + 5
    assert float(losses.triplet_loss(u, v, u)) == pytest.approx(2 ** 0.5 + 5)
    # MNRL, batch of one, no negatives: one candidate, loss 0
    assert float(losses.mnrl_loss(u, v)) == pytest.approx(0.0)


def test_seed002_squared_formula_is_not_the_library_default():
    a, p, q = tensors(3, 16, seed=3)
    assert not torch.isclose(losses.triplet_loss(a, p, q, squared=True), losses.library_loss("triplet", [a, p, q]))


def test_bad_input_is_rejected_clearly():
    u, v, w = tensors(3, 4)
    with pytest.raises(ValueError, match="4 rows but"):
        losses.mnrl_loss(u, v[:3])
    with pytest.raises(ValueError, match="dimension"):
        losses.triplet_loss(u, v, w[:, :3])
    with pytest.raises(ValueError, match="empty batch"):
        losses.cosine_similarity_loss(u[:0], v[:0], [])
    with pytest.raises(ValueError, match="4 pairs but 3 labels"):
        losses.cosine_similarity_loss(u, v, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        losses.softmax_loss(u, v, [0, 1, 2, 3], torch.nn.Linear(18, 3).double())
    with pytest.raises(ValueError, match="takes 10 inputs"):
        losses.softmax_loss(u, v, [0, 1, 2, 0], torch.nn.Linear(10, 3).double())
    with pytest.raises(ValueError, match=r"\(batch, dim\)"):
        losses.mnrl_loss(u[0], v[0])
    with pytest.raises(TypeError, match="torch tensor"):
        losses.mnrl_loss(u.numpy(), v)
    with pytest.raises(ValueError, match="NaN"):
        losses.cosine_similarity_loss(u, v, [0.1, float("nan"), 0.2, 0.3])
    with pytest.raises(ValueError, match="scale"):
        losses.mnrl_loss(u, v, scale=0)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.library_loss("contrastive", [u, v])
