import hashlib

import numpy as np
import pytest

from sbert_lessons import longtext as LT


class _Enc:
    def __init__(self, ids, offsets=()):
        self.ids = ids
        self.offsets = list(offsets)


class WordTokenizer:
    """One token per whitespace-separated word (a stand-in for WordPiece)."""

    def encode_batch(self, texts, add_special_tokens=False):
        return [_Enc(t.split()) for t in texts]

    def encode(self, text, add_special_tokens=False):
        offs, pos = [], 0
        for w in text.split():
            start = text.index(w, pos)
            pos = start + len(w)
            offs.append((start, pos))
        return _Enc(text.split(), offs)


class WordModel:
    """Reads at most max_seq_length - 2 words; the embedding is a sum of per-word random vectors."""

    _sbert_lessons_fingerprint = "word-model-test"
    device = "cpu"

    def __init__(self, max_seq_length=6, dim=16):
        self.tokenizer = WordTokenizer()
        self.max_seq_length = max_seq_length
        self.dim = dim
        self.calls = []

    def _word(self, w):
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).normal(size=self.dim)

    def encode(self, texts, **kw):
        self.calls.append(list(texts))
        out = []
        for t in texts:
            words = t.split()[: self.max_seq_length - 2]
            v = sum(self._word(w) for w in words)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


def test_token_lengths_count_special_tokens():
    assert LT.token_lengths(WordModel(), ["a b c", "d"]).tolist() == [5, 3]


def test_tail_past_the_limit_is_ignored():
    m = WordModel(max_seq_length=6)
    r = LT.tail_is_ignored(m, "one two three four five", "six seven")
    assert r["fills_window"] and r["max_abs_diff"] == 0.0
    r = LT.tail_is_ignored(m, "one two", "six seven")
    assert not r["fills_window"] and r["max_abs_diff"] > 0.1


def test_chunks_fit_and_keep_every_word_in_order():
    m = WordModel(max_seq_length=6)  # 4 words per chunk
    text = "Alpha beta gamma. Delta epsilon. Zeta eta theta iota kappa lambda mu. Nu."
    chunks = LT.chunk_text(m, text)
    assert all(len(c.split()) <= 4 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    assert chunks[0] == "Alpha beta gamma."  # whole sentences where they fit
    assert LT.chunk_text(m, "short one.") == ["short one."]


def test_chunk_and_pool_uses_base_rows_for_short_texts_and_encodes_only_long_ones():
    m = WordModel(max_seq_length=6)
    texts = ["tiny text.", "W1 w2 w3. W4 w5 w6 w7. W8."]
    base = m.encode(texts)
    m.calls.clear()
    emb, n = LT.chunk_and_pool(m, texts, mode="sentences", base_embeddings=base,
                               encode=lambda mod, ts: mod.encode(ts))
    assert n.tolist() == [1, 3]
    assert m.calls == [["W1 w2 w3.", "W4 w5 w6 w7.", "W8."]]
    assert np.allclose(emb[0], base[0], atol=1e-6)
    chunks = m.encode(["W1 w2 w3.", "W4 w5 w6 w7.", "W8."])
    pooled = chunks.mean(0) / np.linalg.norm(chunks.mean(0))
    assert np.allclose(emb[1], pooled, atol=1e-6)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)


def test_window_mode_keeps_the_models_own_window_and_chunks_the_rest():
    m = WordModel(max_seq_length=6)  # reads 4 words
    texts = ["tiny text.", "W1 w2 w3. W4 w5 w6 w7. W8 w9."]
    assert LT.tail_text(m, texts[1]) == "w5 w6 w7. W8 w9."
    assert LT.tail_text(m, texts[0]) == ""
    base = m.encode(texts)
    m.calls.clear()
    emb, n = LT.chunk_and_pool(m, texts, base_embeddings=base, encode=lambda mod, ts: mod.encode(ts))
    assert m.calls == [["w5 w6 w7.", "W8 w9."]]
    assert n.tolist() == [1, 3]
    parts = np.vstack([base[1], m.encode(["w5 w6 w7.", "W8 w9."])])
    assert np.allclose(emb[1], parts.mean(0) / np.linalg.norm(parts.mean(0)), atol=1e-6)
    assert np.allclose(emb[0], base[0], atol=1e-6)
    w, _ = LT.chunk_and_pool(m, texts, base_embeddings=base, head_weight=0.5,
                             encode=lambda mod, ts: mod.encode(ts))
    expect = 0.5 * base[1] + 0.5 * parts[1:].mean(0)
    assert np.allclose(w[1], expect / np.linalg.norm(expect), atol=1e-6)
    assert np.allclose(w[0], base[0], atol=1e-6)


def test_tail_text_starts_at_a_word_boundary():
    class Tok:  # two tokens per word of 4+ letters, like word pieces
        def encode_batch(self, texts, add_special_tokens=False):
            return [type("E", (), {"ids": [0] * len(self.encode(t).offsets)})() for t in texts]

        def encode(self, text, add_special_tokens=False):
            offs, pos = [], 0
            for w in text.split():
                start = text.index(w, pos)
                pos = start + len(w)
                offs += [(start, start + 2), (start + 2, pos)] if len(w) >= 4 else [(start, pos)]
            return type("E", (), {"offsets": offs})()

    m = WordModel(max_seq_length=5)  # 3 tokens: "ab" + "cdef" (2) reach the limit inside "ghij"
    m.tokenizer = Tok()
    assert LT.tail_text(m, "ab cdef ghij kl") == "ghij kl"


def test_chunk_and_pool_through_the_cache(tmp_path):
    m = WordModel(max_seq_length=6)
    for mode in ("window", "sentences"):
        emb, n = LT.chunk_and_pool(m, ["a b.", "c d e f. G h."], mode=mode)
        assert emb.shape == (2, 16) and n.tolist() == [1, 2]


def test_bad_input():
    m = WordModel()
    with pytest.raises(ValueError, match="empty"):
        LT.chunk_and_pool(m, [])
    with pytest.raises(TypeError, match="one string"):
        LT.token_lengths(m, "a text")
    with pytest.raises(TypeError, match="item 1"):
        LT.token_lengths(m, ["a", 3])
    with pytest.raises(ValueError, match="empty text"):
        LT.chunk_text(m, "   ")
    with pytest.raises(ValueError, match="at least 3"):
        LT.chunk_text(m, "a b", max_tokens=2)
    with pytest.raises(ValueError, match="shape"):
        LT.chunk_and_pool(m, ["a", "b"], base_embeddings=np.zeros((3, 16)))
    with pytest.raises(TypeError, match="no tokenizer"):
        LT.token_lengths(object(), ["a"])
    with pytest.raises(ValueError, match="mode"):
        LT.chunk_and_pool(m, ["a"], mode="paragraphs")
    with pytest.raises(ValueError, match="strictly between"):
        LT.chunk_and_pool(m, ["a"], head_weight=1.0)
    with pytest.raises(ValueError, match="window"):
        LT.chunk_and_pool(m, ["a"], mode="sentences", head_weight=0.5)
    with pytest.raises(ValueError, match="non-empty tail"):
        LT.tail_is_ignored(m, "a b", "  ")


def test_chunk_vectors_are_the_pooled_chunks_unpooled():
    m = WordModel(max_seq_length=6)
    texts = ["Alpha beta gamma. Delta epsilon zeta eta. Theta.", "short one.", "A b c d. E f g h. I j."]
    base = m.encode(texts)
    enc = lambda mod, ts: mod.encode(ts)
    pooled, n = LT.chunk_and_pool(m, texts, base_embeddings=base, encode=enc)
    vecs, owner = LT.chunk_vectors(m, texts, base_embeddings=base, encode=enc)
    assert np.bincount(owner).tolist() == n.tolist()
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    for i in range(len(texts)):
        mean = vecs[owner == i].mean(0)
        assert np.allclose(mean / np.linalg.norm(mean), pooled[i], atol=1e-6)
    assert np.allclose(vecs[owner == 1][0], base[1])  # a text that fits is its own ordinary embedding
    # max over chunks: a query equal to a tail chunk finds its text with a score of 1
    q = vecs[np.flatnonzero(owner == 0)[-1]]
    best = np.full(len(texts), -np.inf)
    np.maximum.at(best, owner, vecs @ q)
    assert best.argmax() == 0 and best[0] == pytest.approx(1.0, abs=1e-6)


def test_chunk_vectors_bad_input():
    with pytest.raises(ValueError, match="mode"):
        LT.chunk_vectors(WordModel(), ["a b."], mode="paragraphs")
    with pytest.raises(TypeError, match="one string"):
        LT.chunk_vectors(WordModel(), "a b.")
