"""Fakes shared by the chapter 7-10 bad-input and property tests: a tokenizer with several tokens per word
and a model that records exactly which tokens it read (no real model is loaded)."""

import hashlib

import numpy as np


class _Enc:
    def __init__(self, ids, offsets):
        self.ids = ids
        self.offsets = offsets


class PieceTokenizer:
    """Every whitespace-separated word is cut into tokens of ``width`` characters (like word pieces), so a
    long word is several tokens; offsets are character spans, as a fast tokenizer returns them."""

    def __init__(self, width=3):
        self.width = width

    def _spans(self, text):
        spans, pos = [], 0
        for w in text.split():
            start = text.index(w, pos)
            pos = start + len(w)
            spans += [(a, min(a + self.width, pos)) for a in range(start, pos, self.width)]
        return spans

    def encode(self, text, add_special_tokens=False):
        spans = self._spans(text)
        return _Enc([text[a:b] for a, b in spans], spans)

    def encode_batch(self, texts, add_special_tokens=False):
        return [self.encode(t) for t in texts]


class ReadingModel:
    """Reads at most ``max_seq_length - 2`` tokens of each text, records them, and embeds the text as the
    normalised sum of per-token random vectors."""

    _sbert_lessons_fingerprint = "reading-model-test"
    device = "cpu"

    def __init__(self, max_seq_length=8, width=3, dim=8):
        self.tokenizer = PieceTokenizer(width)
        self.max_seq_length = max_seq_length
        self.dim = dim
        self.read: list[list[str]] = []

    def _vec(self, token):
        seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).normal(size=self.dim)

    def encode(self, texts, **kw):
        out = []
        for t in texts:
            tokens = self.tokenizer.encode(t).ids[: self.max_seq_length - 2]
            self.read.append(tokens)
            v = sum((self._vec(tok) for tok in tokens), np.zeros(self.dim)) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


def direct_encode(model, texts):
    """``chunk_and_pool``'s ``encode=`` without the on-disk cache (so every read is recorded)."""
    return model.encode(list(texts))
