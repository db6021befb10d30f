"""Texts longer than a model reads: token counts, the truncation proof, chunk-and-pool encoding
(introduced in chapter 10, ``10_choosing_a_model``).

A sentence-transformers model reads at most ``max_seq_length`` tokens (256 for all-MiniLM-L6-v2,
[CLS] and [SEP] included) and silently drops the rest. :func:`token_lengths` counts the tokens a text
would need, :func:`tail_is_ignored` proves that words past the limit leave the embedding unchanged,
:func:`tail_text` returns the part of a text the model never reads, and :func:`chunk_and_pool` encodes
a long text as the mean of its chunks' embeddings. Chunks are runs of whole sentences (or, for a sentence
longer than a chunk, of whole words) that fit the limit; in the default ``"window"`` mode the first chunk
is exactly what the model reads anyway (the text cut at the limit), so the ordinary, cached embedding of
the whole text is reused and only the unread tail costs new encoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["chunk_and_pool", "chunk_text", "tail_is_ignored", "tail_text", "token_lengths"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def _texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string: wrap it as [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("the list of texts is empty")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts must be strings; item {i} is {type(t).__name__}")
    return texts


def _counter(model: Any) -> Callable[[list[str]], list[int]]:
    """Word-piece counts without special tokens, from a SentenceTransformer's HF tokenizer or a
    ``tokenizers.Tokenizer`` (the ONNX encoders)."""
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise TypeError(f"{type(model).__name__} has no tokenizer: cannot count its tokens")
    if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer
        return lambda ts: [len(e.ids) for e in tok.encode_batch(ts, add_special_tokens=False)]
    return lambda ts: [len(ids) for ids in tok(ts, add_special_tokens=False)["input_ids"]]


def _limit(model: Any) -> int:
    limit = getattr(model, "max_seq_length", None)
    if not isinstance(limit, int) or limit < 3:
        raise TypeError(f"{type(model).__name__} has no usable max_seq_length ({limit!r})")
    return limit


def token_lengths(model: Any, texts: Sequence[str]) -> np.ndarray:
    """Tokens each text needs, [CLS] and [SEP] included (compare with ``model.max_seq_length``)."""
    texts = _texts(texts)
    return np.asarray(_counter(model)(texts), dtype=np.int64) + 2


def _offsets(model: Any, text: str) -> list[tuple[int, int]]:
    tok = model.tokenizer
    if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer
        return [tuple(o) for o in tok.encode(text, add_special_tokens=False).offsets]
    return [tuple(o) for o in tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]


def tail_text(model: Any, text: str, max_tokens: int | None = None) -> str:
    """The part of ``text`` past the first ``max_tokens`` tokens ([CLS] and [SEP] included; default the
    model's ``max_seq_length``), starting at the word that holds the first unread token; ``""`` when the
    whole text is read."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    limit = _limit(model) if max_tokens is None else int(max_tokens)
    if limit < 3:
        raise ValueError(f"max_tokens must be at least 3 ([CLS], [SEP] and one token), got {limit}")
    offsets = _offsets(model, text)
    if len(offsets) <= limit - 2:
        return ""
    start = offsets[limit - 2][0]
    while start > 0 and not text[start - 1].isspace():  # back up to the start of the word
        start -= 1
    return text[start:].strip()


def tail_is_ignored(model: Any, text: str, tail: str) -> dict[str, Any]:
    """Encode ``text`` and ``text + tail``; when ``text`` already fills the window the two are identical.

    Returns the token count of ``text``, the limit, and the largest absolute difference between the
    two embeddings (computed without the cache, so the model really runs twice).
    """
    if not isinstance(text, str) or not isinstance(tail, str) or not tail.strip():
        raise ValueError("tail_is_ignored needs a text and a non-empty tail, both strings")
    n = int(token_lengths(model, [text])[0])
    a, b = model.encode([text, text + " " + tail], convert_to_numpy=True, show_progress_bar=False)
    return {"tokens": n, "limit": _limit(model), "max_abs_diff": float(np.abs(a - b).max()),
            "fills_window": n >= _limit(model)}


def _split_words(sentence: str, budget: int, count: Callable[[list[str]], list[int]]) -> list[str]:
    words = sentence.split()
    # a single word longer than the budget stays whole: the model truncates it
    return _pack(words, count(words), budget)


def _pack(pieces: list[str], sizes: list[int], budget: int) -> list[str]:
    """Join consecutive pieces greedily into strings of at most ``budget`` tokens (a piece over the
    budget on its own stays one string)."""
    out, cur, used = [], [], 0
    for p, n in zip(pieces, sizes):
        if cur and used + n > budget:
            out.append(" ".join(cur))
            cur, used = [], 0
        cur.append(p)
        used += n
    if cur:
        out.append(" ".join(cur))
    return out


def chunk_text(model: Any, text: str, max_tokens: int | None = None) -> list[str]:
    """Split ``text`` into consecutive chunks of whole sentences that each fit ``max_tokens`` tokens
    ([CLS] and [SEP] included; default: the model's ``max_seq_length``). A text that fits is one chunk."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("cannot chunk an empty text")
    limit = _limit(model) if max_tokens is None else int(max_tokens)
    if limit < 3:
        raise ValueError(f"max_tokens must be at least 3 ([CLS], [SEP] and one token), got {limit}")
    budget = limit - 2
    count = _counter(model)
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    pieces: list[str] = []
    for s, n in zip(sentences, count(sentences)):
        pieces += [s] if n <= budget else _split_words(s, budget, count)
    return _pack(pieces, count(pieces), budget)


def chunk_and_pool(model: Any, texts: Sequence[str], *, max_tokens: int | None = None,
                   mode: str = "window", base_embeddings: Any = None, head_weight: float | None = None,
                   encode: Callable[..., np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed each text as the L2-normalised mean of its chunks' embeddings.

    ``mode="window"``: the first chunk is what the model reads of the whole text (its ordinary
    embedding), the rest (:func:`tail_text`) is cut into sentence chunks. ``mode="sentences"``: the
    whole text is cut into sentence chunks from the start. A text that fits in one window is one chunk
    in both modes and keeps its ordinary embedding. Ordinary embeddings come from ``base_embeddings``
    (row i for text i, e.g. the corpus embeddings already cached) when given, else they are encoded;
    every other chunk is encoded in one call of ``encode`` (default :func:`sbert_lessons.cache.encode`).
    By default every chunk weighs the same; in window mode ``head_weight`` (between 0 and 1) gives the
    first window that share of the vector and the tail chunks the rest, split equally.
    Returns the ``(n, dim)`` embeddings and the number of chunks of each text.
    """
    texts = _texts(texts)
    if mode not in ("window", "sentences"):
        raise ValueError(f"mode must be 'window' or 'sentences', got {mode!r}")
    if head_weight is not None:
        if mode != "window":
            raise ValueError("head_weight applies to mode='window' only (the head is the model's own window)")
        if not (isinstance(head_weight, (int, float)) and 0.0 < float(head_weight) < 1.0):
            raise ValueError(f"head_weight must lie strictly between 0 and 1, got {head_weight!r}")
    if encode is None:
        from .cache import encode
    limit = _limit(model) if max_tokens is None else int(max_tokens)
    lengths = token_lengths(model, texts)
    fits = lengths <= limit
    chunks: list[list[str]] = []
    for t, ok in zip(texts, fits):
        if ok:
            chunks.append([])
        elif mode == "window":
            tail = tail_text(model, t, limit)
            chunks.append(chunk_text(model, tail, limit) if tail else [])
        else:
            chunks.append(chunk_text(model, t, limit))
    # texts whose ordinary embedding is used: every text that fits, and every text in window mode
    use_base = [i for i in range(len(texts)) if fits[i] or mode == "window"]
    if base_embeddings is not None:
        base = np.asarray(base_embeddings, dtype=np.float32)
        if base.ndim != 2 or base.shape[0] != len(texts):
            raise ValueError(f"base_embeddings has shape {base.shape}, expected ({len(texts)}, dim)")
    elif use_base:
        emb = np.asarray(encode(model, [texts[i] for i in use_base]), dtype=np.float32)
        base = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        base[use_base] = emb
    else:
        base = None
    flat = [c for cs in chunks for c in cs]
    chunk_emb = np.asarray(encode(model, flat), dtype=np.float32) if flat else None
    dim = (base if base is not None else chunk_emb).shape[1]
    out = np.zeros((len(texts), dim), dtype=np.float32)
    n_chunks = np.zeros(len(texts), dtype=np.int64)
    pos, based = 0, set(use_base)
    for i, cs in enumerate(chunks):
        parts = [base[i]] if i in based else []
        parts += list(chunk_emb[pos:pos + len(cs)]) if cs else []
        pos += len(cs)
        if head_weight is not None and cs:
            out[i] = head_weight * base[i] + (1.0 - head_weight) * np.mean(parts[1:], axis=0)
        else:
            out[i] = np.mean(parts, axis=0)
        n_chunks[i] = len(parts)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.clip(norms, 1e-12, None), n_chunks
