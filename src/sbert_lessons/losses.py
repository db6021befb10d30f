"""Training objectives written from scratch (introduced in chapter 5, ``05_losses``).

Each function takes sentence embeddings (float tensors ``(batch, dim)``) and returns a scalar loss,
differentiable with respect to the embeddings:

=============================== ============================== =========================================
data you have                   from-scratch function          sentence-transformers loss
=============================== ============================== =========================================
pairs with a similarity score   :func:`cosine_similarity_loss` ``CosineSimilarityLoss``
pairs with a class label (NLI)  :func:`softmax_loss`           ``SoftmaxLoss`` (u, v, |u - v|)
(anchor, positive, negative)    :func:`triplet_loss`           ``TripletLoss`` (Euclidean, margin 5)
positive pairs only (+ hard     :func:`mnrl_loss`              ``MultipleNegativesRankingLoss``
negatives if you have them)                                    (scale 20, cosine, in-batch negatives)
=============================== ============================== =========================================

:func:`library_loss` computes the library's loss on the *same* embedding tensors (through a stand-in
model that returns them), so tests and the lesson can compare values and gradients.
Bad input (mismatched shapes, an empty batch, labels out of range, NaN or infinite values) raises a
``ValueError`` naming it. Every loss has finite gradients on degenerate batches (identical vectors, zero
vectors, a batch of one), like the library's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def _check_embeddings(*tensors: Any, names: Sequence[str]) -> None:
    for t, name in zip(tensors, names):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be (batch, dim), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be floating point, got {t.dtype}")
    first = tensors[0]
    if first.shape[0] == 0:
        raise ValueError("empty batch: a loss needs at least one example")
    for t, name in zip(tensors, names):
        finite = torch.isfinite(t.detach()).all(dim=1)
        if not bool(finite.all()):
            row = int(torch.nonzero(~finite).flatten()[0])
            raise ValueError(f"{name} contains NaN or infinite values (first in row {row}); "
                             "a loss on them would turn every gradient into NaN")
    for t, name in zip(tensors[1:], names[1:]):
        if t.shape[1] != first.shape[1]:
            raise ValueError(f"{names[0]} has dimension {first.shape[1]} but {name} has {t.shape[1]}")
        if t.shape[0] != first.shape[0]:
            raise ValueError(f"{names[0]} has {first.shape[0]} rows but {name} has {t.shape[0]}")


def _check_labels(labels: Any, n: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    labels = labels.reshape(-1)
    if labels.numel() != n:
        raise ValueError(f"{n} pairs but {labels.numel()} labels")
    if labels.dtype == torch.bool:
        raise TypeError("labels must be numbers, not booleans")
    return labels


def _check_number(name: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not (
            isinstance(value, torch.Tensor) and value.numel() == 1):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite {'positive' if positive else 'non-negative'} number, "
                         f"got {value}")
    return value


def cosine_similarity_loss(u: torch.Tensor, v: torch.Tensor, scores: Any) -> torch.Tensor:
    """Mean squared error between ``cos(u_i, v_i)`` and the gold similarity ``scores`` (in [0, 1])."""
    _check_embeddings(u, v, names=("u", "v"))
    scores = _check_labels(scores, u.shape[0]).to(u.dtype)
    if not torch.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    cos = (u * v).sum(dim=1) / (u.norm(dim=1) * v.norm(dim=1)).clamp_min(1e-8)
    return ((cos - scores) ** 2).mean()


def nli_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SBERT's classifier input ``(u, v, |u - v|)``, concatenated: ``(batch, 3 * dim)``."""
    return torch.cat([u, v, (u - v).abs()], dim=1)


def softmax_loss(u: torch.Tensor, v: torch.Tensor, labels: Any, classifier: nn.Linear) -> torch.Tensor:
    """SBERT's NLI objective: cross-entropy of ``softmax(W (u, v, |u - v|) + b)`` against the labels."""
    _check_embeddings(u, v, names=("u", "v"))
    labels = _check_labels(labels, u.shape[0])
    if labels.is_floating_point() and not (bool(torch.isfinite(labels).all())
                                           and bool((labels == labels.round()).all())):
        raise ValueError("labels must be whole class ids 0..k-1, got non-integer values")
    labels = labels.long()
    if not isinstance(classifier, nn.Linear):
        raise TypeError(f"classifier must be an nn.Linear, got {type(classifier).__name__}")
    if classifier.in_features != 3 * u.shape[1]:
        raise ValueError(f"classifier takes {classifier.in_features} inputs, but (u, v, |u-v|) has {3 * u.shape[1]}")
    k = classifier.out_features
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in 0..{k - 1}, got {int(labels.min())}..{int(labels.max())}")
    logits = classifier(nli_features(u, v))
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_p[torch.arange(len(labels)), labels].mean()


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise Euclidean distance ``||a_i - b_i||``.

    Its gradient is finite where ``a_i == b_i`` (the derivative of a plain ``sqrt`` at 0 is infinite and
    turns the gradient into NaN): a zero distance gets gradient 0, as ``torch.linalg.vector_norm``
    does. Values are exactly ``sqrt(sum((a - b)^2))``.
    """
    sq = ((a - b) ** 2).sum(dim=1)
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 5.0, squared: bool = False) -> torch.Tensor:
    """``mean(max(d(a, p) - d(a, n) + margin, 0))`` with Euclidean ``d``.

    ``squared=True`` uses squared distances, the formula of FaceNet and of A. Sen's tutorial "SBERT: How to
    Use Sentence Embeddings to Solve Real-World Problems" (bibliography key ``senSbertRealWorld``); the
    library's ``TripletLoss`` (and Hermans et al.) use plain distances, ``squared=False``.
    """
    _check_embeddings(anchor, positive, negative, names=("anchor", "positive", "negative"))
    margin = _check_number("margin", margin)
    d_pos, d_neg = euclidean(anchor, positive), euclidean(anchor, negative)
    if squared:
        d_pos, d_neg = d_pos**2, d_neg**2
    return torch.relu(d_pos - d_neg + margin).mean()


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All cosines between the rows of ``a`` and of ``b``: ``(len(a), len(b))``."""
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return a @ b.T


def mnrl_loss(anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor | None = None,
              scale: float = 20.0) -> torch.Tensor:
    """Multiple negatives ranking loss (in-batch softmax, InfoNCE).

    Anchor ``i`` must pick its own positive among every candidate of the batch: the other anchors'
    positives (in-batch negatives) and, when given, every hard negative. Cross-entropy over
    ``scale * cos(anchor_i, candidate_j)`` with the target ``j = i``.
    """
    tensors = [anchors, positives] + ([negatives] if negatives is not None else [])
    _check_embeddings(*tensors, names=("anchors", "positives", "negatives")[: len(tensors)])
    scale = _check_number("scale", scale, positive=True)
    candidates = torch.cat(tensors[1:], dim=0)
    logits = scale * cosine_matrix(anchors, candidates)
    target = torch.arange(anchors.shape[0], device=anchors.device)
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_p[target, target].mean()


# ---------------------------------------------------------------------- the library, same batch
class EmbeddingsAsModel(nn.Module):
    """A stand-in ``SentenceTransformer``: each "feature" dict already holds its sentence embedding.

    The library's losses call ``model(features)["sentence_embedding"]``; this model hands back the
    tensor it is given, so the library loss runs on exactly our embeddings (and gradients flow to them).
    """

    def __init__(self) -> None:
        super().__init__()
        self._anchor = nn.Parameter(torch.zeros(0))  # gives the module a device

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": features["sentence_embedding"]}


def _no_merging():
    try:  # 6.2 merges columns into one forward pass; our stand-in has nothing to merge anyway
        from sentence_transformers.base.losses.merged_forward import column_merging_disabled

        return column_merging_disabled()
    except ImportError:  # 6.0/6.1
        return contextlib.nullcontext()


def library_loss(name: str, embeddings: Sequence[torch.Tensor], labels: Any = None, *,
                 classifier: nn.Linear | None = None, margin: float = 5.0, scale: float = 20.0,
                 squared: bool = False) -> torch.Tensor:
    """sentence-transformers' loss ``name`` on the given embedding columns.

    ``name``: ``"cosine"`` (u, v; labels = scores), ``"softmax"`` (u, v; labels = class ids; the
    classifier's weights are copied from ``classifier`` so both sides use the same layer),
    ``"triplet"`` (anchor, positive, negative), ``"mnrl"`` (anchor, positive[, negative]).
    """
    try:
        from sentence_transformers.sentence_transformer import losses as L
    except ImportError:  # sentence-transformers < 6.2
        from sentence_transformers import losses as L

    model = EmbeddingsAsModel().to(embeddings[0].device)
    if name == "cosine":
        loss = L.CosineSimilarityLoss(model)
    elif name == "softmax":
        if classifier is None:
            raise ValueError("the softmax loss needs the classifier whose weights to use")
        loss = L.SoftmaxLoss(model, int(embeddings[0].shape[1]), int(classifier.out_features))
        loss.classifier = classifier
    elif name == "triplet":
        if squared:
            metric = lambda x, y: ((x - y) ** 2).sum(dim=-1)
        else:
            metric = L.TripletDistanceMetric.EUCLIDEAN
        loss = L.TripletLoss(model, distance_metric=metric, triplet_margin=margin)
    elif name == "mnrl":
        loss = L.MultipleNegativesRankingLoss(model, scale=scale)
    else:
        raise ValueError(f"unknown loss {name!r}: choose cosine, softmax, triplet or mnrl")
    features = [{"sentence_embedding": e} for e in embeddings]
    if labels is None:
        labels = torch.zeros(embeddings[0].shape[0])
    labels = torch.as_tensor(labels)
    with _no_merging():
        return loss(features, labels)
