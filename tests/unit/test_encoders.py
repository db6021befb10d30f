"""The GloVe bi-encoders of chapter 5: tokenizer, encode protocol, training, caching (tiny fake vectors)."""

import numpy as np
import pandas as pd
import pytest

from sbert_lessons import cache
from sbert_lessons import encoders as E

WORDS = ["a", "cat", "dog", "man", "runs", "sleeps", "the", "woman", "."]


def vectors(d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(len(WORDS), d)).astype(np.float32)


def test_tokenize():
    assert E.tokenize("A man's hat.") == ["a", "man", "'", "s", "hat", "."]
    with pytest.raises(TypeError):
        E.tokenize(3)


def test_avg_is_plain_average_of_known_words():
    v = vectors()
    m = E.GloveEncoder(WORDS, v, arch="avg")
    emb = m.encode(["The cat sleeps unknownword."])
    want = v[[WORDS.index(w) for w in ("the", "cat", "sleeps", ".")]].mean(axis=0)
    np.testing.assert_allclose(emb[0], want, rtol=1e-5)


@pytest.mark.parametrize("arch,dim", [("avg", 5), ("mean", 7), ("bilstm", 6)])
def test_encode_protocol_and_padding_invariance(arch, dim):
    m = E.GloveEncoder(WORDS, vectors(), arch=arch, out_dim=7, hidden=3)
    assert m.dim == dim
    alone = m.encode(["a cat runs"])
    batch = m.encode(["a cat runs", "the woman and the man and the dog sleeps ."], batch_size=2)
    assert batch.shape == (2, dim) and batch.dtype == np.float32
    np.testing.assert_allclose(alone[0], batch[0], rtol=1e-5, atol=1e-6)
    n = m.encode(["a cat runs"], normalize_embeddings=True)
    assert np.linalg.norm(n) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="empty"):
        m.encode([])


def test_bad_construction():
    with pytest.raises(ValueError, match="arch"):
        E.GloveEncoder(WORDS, vectors(), arch="cnn")
    with pytest.raises(ValueError, match="words but"):
        E.GloveEncoder(WORDS[:-1], vectors())
    with pytest.raises(ValueError, match="unknown recipe"):
        E.recipe("nope", "smoke")
    with pytest.raises(ValueError, match="profile"):
        E.recipe("nli_mnrl", "medium")


def test_warmup_schedule():
    f = [E.warmup_linear(s, 10, 2) for s in range(10)]
    assert f[0] < f[1] < f[2] == 1.0 and f[-1] < f[2]
    assert all(0 <= x <= 1 for x in f)


def triplets(n=24):
    rng = np.random.default_rng(0)
    subj = ["a cat", "the dog", "a man", "the woman"]
    rows = []
    for i in range(n):
        s = subj[i % 4]
        rows.append({"anchor": f"{s} runs", "positive": f"{s} runs .", "negative": f"{subj[(i + 1) % 4]} sleeps"})
    return pd.DataFrame(rows).sample(frac=1, random_state=int(rng.integers(100))).reset_index(drop=True)


@pytest.mark.parametrize("arch", ["mean", "bilstm"])
def test_mnrl_training_lowers_the_loss_and_round_trips(tmp_path, arch):
    rec = {"arch": arch, "objective": "mnrl", "epochs": 6, "batch_size": 8, "lr": 1e-2, "warmup": 0.1, "eval_every": 5}
    m = E.GloveEncoder(WORDS, vectors(), arch=arch, out_dim=8, hidden=4)
    dev = pd.DataFrame({"sentence1": ["a cat runs", "the dog sleeps", "a man runs"],
                        "sentence2": ["a cat runs .", "a woman runs", "the man runs"], "score": [5.0, 1.0, 4.0]})
    h = E.train(m, rec, triplets(), dev=dev)
    assert h["loss"][-1] < h["loss"][0]
    assert h["eval_step"][0] == 0 and len(h["dev_spearman"]) == len(h["eval_step"])
    m.save(tmp_path)
    again = E.GloveEncoder.load(tmp_path)
    np.testing.assert_allclose(again.encode(["a dog runs"]), m.encode(["a dog runs"]), rtol=1e-6)


def test_softmax_training_runs():
    df = pd.DataFrame({"premise": ["a cat runs", "a dog sleeps"] * 6,
                       "hypothesis": ["a cat runs .", "a dog runs"] * 6,
                       "label": ["entailment", "contradiction"] * 6})
    rec = {"arch": "mean", "objective": "softmax", "epochs": 3, "batch_size": 4, "lr": 1e-2, "warmup": 0.1, "eval_every": 100}
    m = E.GloveEncoder(WORDS, vectors(), arch="mean", out_dim=4)
    h = E.train(m, rec, df)
    assert h["loss"][-1] < h["loss"][0]
    with pytest.raises(ValueError, match="objective"):
        E.train(m, dict(rec, objective="hinge"), df)


def test_trained_encoder_is_cached(monkeypatch):
    calls = []
    df = triplets(16)

    def fake_data(kind):
        calls.append(kind)
        return df

    monkeypatch.setattr(E, "training_data", fake_data)
    monkeypatch.setitem(E.RECIPES, "tiny", {"arch": "mean", "out_dim": 4, "objective": "mnrl", "data": "snli_triplets",
                                                "epochs": 1, "batch_size": 8, "lr": 1e-2, "warmup": 0.1, "eval_every": 5})
    trained = []
    real_train = E.train
    monkeypatch.setattr(E, "train", lambda *a, **k: trained.append(1) or real_train(*a, **k))
    m1, _h1 = E.trained_encoder("tiny", "smoke", WORDS, vectors())
    m2, _h2 = E.trained_encoder("tiny", "smoke", WORDS, vectors())
    assert len(trained) == 1, "the second call must come from the cache"
    np.testing.assert_allclose(m1.encode(["a cat"]), m2.encode(["a cat"]))
    assert cache.model_fingerprint(m1) == cache.model_fingerprint(m2)
    assert cache.model_fingerprint(m1).startswith("glove-encoder:")
    E.trained_encoder("tiny", "full", WORDS, vectors())
    assert len(trained) == 2, "another profile is another model"
