"""Texts longer than a model reads: token counts, the truncation proof, chunk-and-pool encoding
(introduced in chapter 10, ``10_choosing_a_model``).

A sentence-transformers model reads at most ``max_seq_length`` tokens (256 for all-MiniLM-L6-v2,
[CLS] and [SEP] included) and silently drops the rest. :func:`token_lengths` counts the tokens a text
would need, :func:`tail_is_ignored` proves that words past the limit leave the embedding unchanged,
:func:`tail_text` returns the part of a text the model never reads, :func:`chunk_and_pool` encodes
a long text as the mean of its chunks' embeddings, and :func:`chunk_vectors` returns the same chunks'
embeddings unpooled (to score a document by its best chunk). Chunks are runs of whole sentences (or, for
a sentence longer than a chunk, of whole words; a single word longer than a chunk is cut between its tokens) that fit
the limit, so that every token of the text is read by the model in some chunk; in the default ``"window"``
mode the first chunk is exactly what the model reads anyway (the text cut at the limit), so the ordinary,
cached embedding of the whole text is reused and only the unread tail costs new encoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["chunk_and_pool", "chunk_text", "chunk_vectors", "tail_is_ignored", "tail_text", "token_lengths"]

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
    if not hasattr(tok, "encode_batch") and not callable(tok):
        raise TypeError(f"{type(model).__name__}.tokenizer ({type(tok).__name__}) is neither a Hugging Face "
                        "tokenizer nor a tokenizers.Tokenizer: cannot count its tokens")
    if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer
        return lambda ts: [len(e.ids) for e in tok.encode_batch(ts, add_special_tokens=False)]
    return lambda ts: [len(ids) for ids in tok(ts, add_special_tokens=False)["input_ids"]]


def _limit(model: Any) -> int:
    limit = getattr(model, "max_seq_length", None)
    if not isinstance(limit, int) or limit < 3:
        raise TypeError(f"{type(model).__name__} has no usable max_seq_length ({limit!r})")
    return limit


def _window(model: Any, max_tokens: Any, *, at_most_model: bool = False) -> int:
    """``max_tokens`` (default: the model's ``max_seq_length``) checked: an integer >= 3, and with
    ``at_most_model`` no larger than what the model reads."""
    if max_tokens is None:
        return _limit(model)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)):
        raise TypeError(f"max_tokens must be an integer (tokens per chunk), got {type(max_tokens).__name__} "
                        f"{max_tokens!r}")
    limit = int(max_tokens)
    if limit < 3:
        raise ValueError(f"max_tokens must be at least 3 ([CLS], [SEP] and one token), got {limit}")
    if at_most_model and limit > _limit(model):
        raise ValueError(
            f"max_tokens={limit} is larger than the model's max_seq_length={_limit(model)}: the model would "
            f"read only the first {_limit(model)} tokens of each chunk and silently drop the rest. Use "
            f"max_tokens <= {_limit(model)}, or raise model.max_seq_length first (if its position "
            "embeddings allow it).")
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
    limit = _window(model, max_tokens)
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


def _split_words(model: Any, sentence: str, budget: int, count: Callable[[list[str]], list[int]]) -> list[str]:
    words = sentence.split()
    pieces: list[str] = []
    for w, n in zip(words, count(words)):
        pieces += [w] if n <= budget else _split_word(model, w, budget, count)
    return _pack(pieces, count(pieces), budget)


def _split_word(model: Any, word: str, budget: int, count: Callable[[list[str]], list[int]]) -> list[str]:
    """Cut one word longer than ``budget`` tokens between its tokens into pieces that each fit (a long
    URL, a chemical name): otherwise the model would read its first ``budget`` tokens only."""
    starts = [a for a, _ in _offsets(model, word)]
    if not starts:
        return [word]
    starts[0] = 0
    out, i = [], 0
    while i < len(starts):
        j = min(i + budget, len(starts))
        while True:  # a piece re-tokenised on its own may need more tokens: shrink until it fits
            piece = word[starts[i]:starts[j] if j < len(starts) else len(word)]
            if count([piece])[0] <= budget:
                break
            if j - i == 1:
                raise ValueError(f"max_tokens leaves room for {budget} token(s), but {piece!r} (part of the "
                                 f"word {word[:40]!r}) needs {count([piece])[0]}: use a larger max_tokens")
            j = i + (j - i) // 2
        out.append(piece)
        i = j
    return out


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
    ([CLS] and [SEP] included; default: the model's ``max_seq_length``). A text that fits is one chunk.

    A sentence longer than a chunk is cut between words, and a word longer than a chunk between its
    tokens, so that every token of the text is in some chunk. This only splits text: ``max_tokens`` may
    exceed the model's limit here (:func:`chunk_and_pool`, which encodes the chunks, refuses that).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("cannot chunk an empty text")
    limit = _window(model, max_tokens)
    budget = limit - 2
    count = _counter(model)
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    pieces: list[str] = []
    for s, n in zip(sentences, count(sentences)):
        pieces += [s] if n <= budget else _split_words(model, s, budget, count)
    return _pack(pieces, count(pieces), budget)


def _encoded_chunks(model: Any, texts: Any, max_tokens: Any, mode: str, base_embeddings: Any,
                    head_weight: Any, encode: Any) -> tuple:
    """The validated inputs of :func:`chunk_and_pool` and :func:`chunk_vectors`, encoded: ``(texts, chunks,
    base, chunk_emb, use_base)``."""
    texts = _texts(texts)
    if mode not in ("window", "sentences"):
        raise ValueError(f"mode must be 'window' or 'sentences', got {mode!r}")
    if head_weight is not None:
        if mode != "window":
            raise ValueError("head_weight applies to mode='window' only (the head is the model's own window)")
        if isinstance(head_weight, bool) or not (isinstance(head_weight, (int, float))
                                                 and 0.0 < float(head_weight) < 1.0):
            raise ValueError(f"head_weight must lie strictly between 0 and 1, got {head_weight!r}")
    if encode is None:
        from .cache import encode
    elif not callable(encode):
        raise TypeError(f"encode must be a function encode(model, texts), got {type(encode).__name__}")
    limit = _window(model, max_tokens, at_most_model=True)
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
        base = _rows(base_embeddings, len(texts), "base_embeddings", f"({len(texts)}, dim)")
        _finite_rows(base[use_base], "base_embeddings", use_base)
    elif use_base:
        emb = _rows(encode(model, [texts[i] for i in use_base]), len(use_base), "the encoded texts",
                    f"({len(use_base)}, dim)")
        _finite_rows(emb, "the encoded texts", use_base)
        base = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        base[use_base] = emb
    else:
        base = None
    flat = [c for cs in chunks for c in cs]
    chunk_emb = None
    if flat:
        chunk_emb = _rows(encode(model, flat), len(flat), "the encoded chunks", f"({len(flat)}, dim)")
        _finite_rows(chunk_emb, "the encoded chunks", range(len(flat)))
        if base is not None and chunk_emb.shape[1] != base.shape[1]:
            raise ValueError(f"base_embeddings have {base.shape[1]} dimensions but the model's chunk embeddings "
                             f"{chunk_emb.shape[1]}: were they made by another model?")
    return texts, chunks, base, chunk_emb, use_base


def chunk_and_pool(model: Any, texts: Sequence[str], *, max_tokens: int | None = None,
                   mode: str = "window", base_embeddings: Any = None, head_weight: float | None = None,
                   encode: Callable[..., np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed each text as the L2-normalised mean of its chunks' embeddings.

    ``mode="window"``: the first chunk is what the model reads of the whole text (its ordinary
    embedding), the rest (:func:`tail_text`) is cut into sentence chunks. ``mode="sentences"``: the
    whole text is cut into sentence chunks from the start. A text that fits in one window is one chunk
    in both modes and keeps its ordinary embedding. Ordinary embeddings come from ``base_embeddings``
    (row i for text i, e.g. the corpus embeddings already cached; they must have been encoded reading at
    least ``max_tokens`` tokens, or the tokens in between are read by no chunk) when given, else they are encoded;
    every other chunk is encoded in one call of ``encode`` (default :func:`sbert_lessons.cache.encode`).
    By default every chunk weighs the same; in window mode ``head_weight`` (between 0 and 1) gives the
    first window that share of the vector and the tail chunks the rest, split equally.
    Returns the ``(n, dim)`` embeddings and the number of chunks of each text.

    ``max_tokens`` (default: the model's ``max_seq_length``) larger than the model's ``max_seq_length`` is
    an error, not clamped: the chunks would be longer than the model reads, so their tails would be
    dropped without a word (the very problem chunking exists to solve), and quietly using a smaller
    window instead would give other vectors than the ones asked for. The error says both remedies: a
    smaller ``max_tokens``, or a larger ``model.max_seq_length``. Every token of every text is read by the
    model in some chunk (a word longer than a chunk is cut between its tokens, see :func:`chunk_text`).
    """
    texts, chunks, base, chunk_emb, use_base = _encoded_chunks(model, texts, max_tokens, mode,
                                                              base_embeddings, head_weight, encode)
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
    norms = np.linalg.norm(out.astype(np.float64), axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] < 1e-12)
    if zero.size:
        raise ValueError(f"text {zero[0]}: its pooled embedding is a zero vector (its chunk embeddings cancel "
                         "out, or its base embedding row is zeros), so it has no direction")
    return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None), n_chunks


def chunk_vectors(model: Any, texts: Sequence[str], *, max_tokens: int | None = None, mode: str = "window",
                  base_embeddings: Any = None, encode: Callable[..., np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The chunks of :func:`chunk_and_pool` one by one, unpooled: ``(vectors, owner)``, where row r of the
    L2-normalised ``vectors`` is one chunk of text ``owner[r]`` (its ordinary embedding first, in window
    mode, then its tail chunks in order). Same chunks, same encoder calls and cache entries as
    :func:`chunk_and_pool`, so a lesson can score a document by its best chunk (max over chunks) without
    encoding anything twice."""
    texts, chunks, base, chunk_emb, use_base = _encoded_chunks(model, texts, max_tokens, mode, base_embeddings,
                                                               None, encode)
    rows, owner, pos, based = [], [], 0, set(use_base)
    for i, cs in enumerate(chunks):
        if i in based:
            rows.append(base[i])
            owner.append(i)
        for r in range(len(cs)):
            rows.append(chunk_emb[pos + r])
            owner.append(i)
        pos += len(cs)
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return vectors, np.asarray(owner, dtype=np.int64)


def _rows(x: Any, n: int, what: str, expect: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a numeric (n, dim) array, got {type(x).__name__}") from None
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
        raise ValueError(f"{what} has shape {arr.shape}, expected {expect}")
    return arr


def _finite_rows(arr: np.ndarray, what: str, index: Any) -> None:
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: row {list(index)[bad[0]]} holds NaN or infinite values")
    zero = np.flatnonzero(~arr.any(axis=1))
    if zero.size:
        raise ValueError(f"{what}: row {list(index)[zero[0]]} is all zeros (an embedding with no direction)")
