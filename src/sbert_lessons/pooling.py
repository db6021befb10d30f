"""Pooling: from token embeddings to one sentence vector (introduced in chapter 4, ``04_pooling``).

A transformer returns one vector per token, padded to the longest sentence of the batch. Pooling
reduces them to one vector per sentence. Every function here takes

* ``token_embeddings``: a float tensor ``(batch, tokens, dim)``,
* ``attention_mask``: a tensor ``(batch, tokens)`` of 0/1 (1 = a real token, 0 = padding),

and returns ``(batch, dim)``. They are written from scratch, for teaching, and are tested to equal
sentence-transformers' ``Pooling`` module (values and gradients). They find each row's real tokens from the
mask, so a batch padded on the right (BERT-style tokenizers) and one padded on the left (many decoder
tokenizers) pool the same. So do recent releases of the library; older ones (6.0.1 among them) count
weighted mean's positions from the start of a left-padded row. Where the mask is not one contiguous run of
1s (holes, or the library's ``include_prompt=False``), weighted mean differs from the library, which counts
positions from the first real token: these functions count real tokens. Prompts are not handled here.
:func:`library_pool` runs that module on the same batch.

:func:`mean_pool_unmasked` is the padding bug on purpose: it averages the padding too, so a
sentence's vector depends on what else is in its batch. Chapter 4 measures the drift.

:class:`PooledEncoder` pools a ``SentenceTransformer``'s token embeddings in several ways from a
single forward pass, and gives each way an ``encode`` method so that ``cache.encode`` and
``evaluation.evaluate_sts`` can use it like any model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

MODES = ("mean", "max", "cls", "weightedmean", "lasttoken")


def check_batch(token_embeddings: Any, attention_mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a pooling batch; return ``(token_embeddings, mask as the embeddings' dtype)``.

    Raises ``TypeError`` for non-tensors and ``ValueError`` (naming the problem) for wrong ranks,
    mismatched shapes, an empty batch, a mask that is not 0/1, or a row with no real token (its
    pooled vector would be undefined: a division by zero for mean, ``-inf`` for max).
    """
    if not isinstance(token_embeddings, torch.Tensor) or not isinstance(attention_mask, torch.Tensor):
        raise TypeError("pooling expects torch tensors: token_embeddings (batch, tokens, dim) and "
                        f"attention_mask (batch, tokens); got {type(token_embeddings).__name__} and "
                        f"{type(attention_mask).__name__}")
    if token_embeddings.ndim != 3:
        raise ValueError(f"token_embeddings must be (batch, tokens, dim), got shape {tuple(token_embeddings.shape)}")
    if not token_embeddings.is_floating_point():
        raise TypeError(f"token_embeddings must be floating point, got {token_embeddings.dtype}")
    if attention_mask.ndim != 2:
        raise ValueError(f"attention_mask must be (batch, tokens), got shape {tuple(attention_mask.shape)}")
    if tuple(attention_mask.shape) != tuple(token_embeddings.shape[:2]):
        raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} does not match the first two "
                         f"dimensions of token_embeddings {tuple(token_embeddings.shape)}")
    if token_embeddings.shape[0] == 0:
        raise ValueError("empty batch: there is no sentence to pool")
    if token_embeddings.shape[1] == 0:
        raise ValueError("the batch has zero tokens per sentence")
    m = attention_mask
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("attention_mask must contain only 0 (padding) and 1 (real token)")
    empty = torch.nonzero(m.sum(dim=1) == 0).flatten()
    if empty.numel():
        raise ValueError(f"{empty.numel()} row(s) of the batch are all padding (first: row {int(empty[0])}); "
                         "a sentence needs at least one real token to be pooled")
    finite = torch.isfinite(token_embeddings.detach()).all(dim=2)
    if not bool(finite.all()):
        row, tok = (int(i) for i in torch.nonzero(~finite)[0])
        raise ValueError(f"token_embeddings contain NaN or infinite values (first: row {row}, token {tok}); "
                         "pooling would spread them into the sentence vector (padding too: 0 x NaN is NaN)")
    return token_embeddings, m.to(token_embeddings.dtype)


def _finite(pooled: torch.Tensor, mode: str) -> torch.Tensor:
    """Refuse a pooled batch that overflowed (finite inputs whose sum is too large for the dtype)."""
    if not bool(torch.isfinite(pooled.detach()).all()):
        raise ValueError(f"{mode} pooling overflowed {pooled.dtype}: the token embeddings are too large "
                         "to sum; cast them to float64 first")
    return pooled


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' vectors: ``sum(mask * x) / sum(mask)``."""
    x, m = check_batch(token_embeddings, attention_mask)
    return _finite((x * m.unsqueeze(-1)).sum(dim=1) / m.sum(dim=1, keepdim=True), "mean")


def mean_pool_unmasked(token_embeddings: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The padding bug: average over *all* positions, padding included (the mask is ignored)."""
    if attention_mask is not None:
        check_batch(token_embeddings, attention_mask)
    elif not isinstance(token_embeddings, torch.Tensor) or token_embeddings.ndim != 3 or token_embeddings.shape[0] == 0:
        raise ValueError("token_embeddings must be a non-empty (batch, tokens, dim) tensor")
    elif token_embeddings.shape[1] == 0:
        raise ValueError("the batch has zero tokens per sentence")
    elif not bool(torch.isfinite(token_embeddings.detach()).all()):
        raise ValueError("token_embeddings contain NaN or infinite values")
    return _finite(token_embeddings.mean(dim=1), "unmasked mean")


def max_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the real tokens (padding positions can never win)."""
    x, m = check_batch(token_embeddings, attention_mask)
    return x.masked_fill(m.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values  # inputs are finite


def cls_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Each row's first real token (BERT's ``[CLS]``): position 0 when padded on the right."""
    x, m = check_batch(token_embeddings, attention_mask)
    first = m.argmax(dim=1)  # the first 1 of each row (every row has one: check_batch)
    return x[torch.arange(x.shape[0], device=x.device), first]


def weighted_mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Position-weighted mean: a row's ``t``-th real token (counted from 1) gets weight ``t``; padding 0.

    Used by decoder-style (GPT) embedders whose later tokens have seen more of the sentence (SGPT,
    Muennighoff 2022). Counting real tokens, not positions, keeps the weights the same on either padding side.
    """
    x, m = check_batch(token_embeddings, attention_mask)
    acc = torch.promote_types(x.dtype, torch.float32)  # half precision: weights up to ~500 and their sum overflow
    w = (m.to(acc).cumsum(dim=1) * m.to(acc)).unsqueeze(-1)
    return _finite(((x.to(acc) * w).sum(dim=1) / w.sum(dim=1)).to(x.dtype), "weighted mean")


def last_token_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The vector of each row's last real token (the last position when padded on the left)."""
    x, m = check_batch(token_embeddings, attention_mask)
    last = m.shape[1] - 1 - m.flip(dims=[1]).argmax(dim=1)  # the last 1 of each row
    return x[torch.arange(x.shape[0], device=x.device), last]


POOLERS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": mean_pool, "max": max_pool, "cls": cls_pool,
    "weightedmean": weighted_mean_pool, "lasttoken": last_token_pool,
}


def pool(mode: str, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Pool with the from-scratch function named ``mode`` (one of :data:`MODES`)."""
    if mode not in POOLERS:
        raise ValueError(f"unknown pooling mode {mode!r}; choose one of {', '.join(MODES)}")
    return POOLERS[mode](token_embeddings, attention_mask)


def library_pooling_module(mode: str, dim: int):
    """sentence-transformers' ``Pooling`` module for ``mode``.

    6.2 moved the class to ``sentence_transformers.sentence_transformer.modules`` and keeps
    ``sentence_transformers.models`` as a deprecated alias, the path of 6.0/6.1; we try the new path
    first. The dimension is passed positionally because its keyword was renamed
    (``word_embedding_dimension`` -> ``embedding_dimension``).
    """
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:  # sentence-transformers < 6.2
        from sentence_transformers.models import Pooling

    if mode not in MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; choose one of {', '.join(MODES)}")
    return Pooling(int(dim), pooling_mode=mode)


def library_pool(mode: str, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The same batch pooled by the library's ``Pooling`` module (for checking the from-scratch code)."""
    x, _ = check_batch(token_embeddings, attention_mask)
    module = library_pooling_module(mode, x.shape[-1])
    out = module({"token_embeddings": x, "attention_mask": attention_mask.long()})
    return out["sentence_embedding"]


# ------------------------------------------------------------------------ many poolings, one pass
def token_embeddings_batches(model: Any, texts: Sequence[str], batch_size: int = 32):
    """Yield ``(token_embeddings, attention_mask)`` per batch of ``texts`` from ``model``'s first module.

    ``model`` is a ``SentenceTransformer`` whose first module is the transformer; pooling is skipped,
    so each batch comes back padded to its own longest sentence, on the tokenizer's padding side (the right
    for BERT-style tokenizers such as MiniLM's).
    """
    if isinstance(texts, str):
        raise TypeError("token_embeddings_batches() takes a list of texts, not one string")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to encode")
    transformer = model[0]
    device = getattr(model, "device", torch.device("cpu"))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            feats = model.tokenize(texts[start:start + batch_size])
            feats = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in feats.items()}
            out = transformer(feats)
            yield out["token_embeddings"].float().cpu(), feats["attention_mask"].cpu()


class PooledEncoder:
    """One ``SentenceTransformer``, its token embeddings pooled in several ways from one forward pass.

    ``PooledEncoder(model).view("max")`` is an object with ``encode(texts, ...)`` (the ``cache.encode``
    protocol) whose embeddings are ``max``-pooled token embeddings; its cache fingerprint is the base
    model's plus the pooling name. The first view that misses the cache computes every mode for those
    texts at once and keeps them in memory, so the other views cost no second forward pass.
    """

    def __init__(self, model: Any, modes: Sequence[str] = MODES, batch_size: int = 32):
        from .cache import model_fingerprint

        bad = [m for m in modes if m not in POOLERS]
        if bad:
            raise ValueError(f"unknown pooling mode(s) {bad}; choose from {', '.join(MODES)}")
        self.model, self.modes, self.batch_size = model, tuple(modes), batch_size
        self.base_fingerprint = model_fingerprint(model)
        self._memo: dict[str, dict[str, np.ndarray]] = {}

    def current_fingerprint(self) -> str:
        """The base model's weights and output settings now (they may have changed since ``__init__``)."""
        from .cache import key_of, model_fingerprint, output_settings

        return f"{model_fingerprint(self.model)}|settings={key_of(output_settings(self.model))[:16]}"

    def pooled(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        from .cache import texts_hash

        key = f"{self.current_fingerprint()}|{texts_hash(texts)}"
        if key not in self._memo:
            parts: dict[str, list[np.ndarray]] = {m: [] for m in self.modes}
            for x, mask in token_embeddings_batches(self.model, texts, self.batch_size):
                for m in self.modes:
                    parts[m].append(pool(m, x, mask).numpy())
            self._memo[key] = {m: np.concatenate(v).astype(np.float32) for m, v in parts.items()}
        return self._memo[key]

    def view(self, mode: str) -> _PoolingView:
        if mode not in self.modes:
            raise ValueError(f"{mode!r} is not one of this encoder's modes {self.modes}")
        return _PoolingView(self, mode)


class _PoolingView:
    def __init__(self, parent: PooledEncoder, mode: str):
        self.parent, self.mode = parent, mode
        self.device = getattr(parent.model, "device", "cpu")
        self.max_seq_length = getattr(parent.model, "max_seq_length", None)

    @property
    def _sbert_lessons_fingerprint(self) -> str:
        """The base model as it is *now* (weights and settings) plus the pooling name."""
        return f"{self.parent.current_fingerprint()}|pooling={self.mode}"

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        emb = self.parent.pooled(list(texts))[self.mode]
        if normalize_embeddings:  # like the library's Normalize (eps 1e-12): a zero row stays zero, not NaN
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb
