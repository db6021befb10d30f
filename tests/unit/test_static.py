"""sbert_lessons.static (chapter 11): the smoke vocabulary, Model2Vec's weights, the cached distillation."""

import re

import numpy as np
import pytest
from tokenizers import Tokenizer

from sbert_lessons import models, static


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_file(str(models.model_path(models.MINILM) / "tokenizer.json"))


def test_used_tokens_are_the_pieces_of_the_texts_in_id_order(tokenizer):
    toks = static.used_tokens(tokenizer, ["Playing guitars.", "The dog bit the man."])
    assert "[PAD]" in toks and "[UNK]" in toks
    pieces = set(tokenizer.encode("Playing guitars.", add_special_tokens=False).tokens)
    assert pieces <= set(toks)
    ids = [tokenizer.token_to_id(t) for t in toks]
    assert ids == sorted(ids)


def test_keep_only_pattern_removes_everything_else(tokenizer):
    keep = ["[PAD]", "[UNK]", "dog", "##s", "(", "."]
    pattern = re.compile(static.keep_only_pattern(keep))
    assert not any(pattern.match(t) for t in keep)
    assert pattern.match("dogs") and pattern.match("##") and pattern.match("cat") and pattern.match("[CLS]")
    removed = [t for t in tokenizer.get_vocab() if pattern.match(t)]
    assert len(removed) == tokenizer.get_vocab_size() - len(keep)


def test_zipf_sif_weights_match_model2vec():
    inference = pytest.importorskip("model2vec.distill.inference")
    for n, a in ((5, 1e-4), (1000, 1e-3)):
        assert np.allclose(static.zipf_sif_weights(n, a), inference.compute_weights(n, sif_coefficient=a))
    w = static.zipf_sif_weights(100)
    assert np.all(np.diff(w) > 0) and np.all((0 < w) & (w < 1))  # frequent (low-rank) tokens weigh least


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_zipf_sif_weights_refuse_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_tokens"):
        static.zipf_sif_weights(bad)


@pytest.mark.parametrize("a", [0, 1, -0.1, 2.0, None])
def test_zipf_sif_weights_refuse_bad_coefficients(a):
    with pytest.raises(ValueError, match="sif_coefficient"):
        static.zipf_sif_weights(10, a)


def test_bad_token_lists_are_refused(tokenizer):
    for bad in ([], "dog", ["dog", ""], ["dog", 3]):
        with pytest.raises(ValueError):
            static.keep_only_pattern(bad)
    with pytest.raises(TypeError, match="not one string"):
        static.used_tokens(tokenizer, "one sentence")
    with pytest.raises(ValueError, match="non-empty"):
        static.used_tokens(tokenizer, [])


class _FakeStatic:
    def __init__(self, calls):
        self.calls = calls

    def save_pretrained(self, folder):
        (__import__("pathlib").Path(folder) / "tokenizer.json").write_text("{}")


def test_cached_distillation_runs_once_and_keys_the_vocabulary(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "model.safetensors").write_bytes(b"weights")
    calls = []

    def fake_distill(path, **settings):
        calls.append((path, settings))
        return _FakeStatic(calls)

    a = static.cached_distillation("smoke", teacher, ["[PAD]", "dog"], fake_distill, pca_dims=None)
    again = static.cached_distillation("smoke", teacher, ["[PAD]", "dog"], fake_distill, pca_dims=None)
    other = static.cached_distillation("smoke", teacher, ["[PAD]", "cat"], fake_distill, pca_dims=None)
    whole = static.cached_distillation("full", teacher, None, fake_distill, pca_dims=None)
    assert a == again and len({a, other, whole}) == 3 and len(calls) == 3
    assert calls[0][1]["token_remove_pattern"] == static.keep_only_pattern(["[PAD]", "dog"])
    assert "token_remove_pattern" not in calls[2][1]  # the whole vocabulary: nothing removed
    assert (a / "tokenizer.json").is_file()


def test_cached_distillation_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        static.cached_distillation("smoke", tmp_path, None, lambda p, **k: None)
    (tmp_path / "model.safetensors").write_bytes(b"w")
    with pytest.raises(TypeError, match="distillation function"):
        static.cached_distillation("smoke", tmp_path, None, "distill")
    with pytest.raises(ValueError, match="tokens="):
        static.cached_distillation("smoke", tmp_path, None, lambda p, **k: None, token_remove_pattern="x")


def test_load_static_needs_a_saved_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        static.load_static(tmp_path, "nothing")


def test_load_static_round_trip(tmp_path, tokenizer):
    """A tiny Model2Vec model (random float16 table) loads as a float32 StaticEmbedding with its vectors."""
    model2vec = pytest.importorskip("model2vec")
    rng = np.random.default_rng(0)
    table = rng.normal(size=(tokenizer.get_vocab_size(), 8)).astype(np.float16)
    model2vec.StaticModel(vectors=table, tokenizer=tokenizer, normalize=True).save_pretrained(str(tmp_path))
    st = static.load_static(tmp_path, "tiny")
    assert str(st[0].embedding.weight.dtype) == "torch.float32"
    ours = st.encode(["The dog bit the man."], normalize_embeddings=True)
    theirs = model2vec.StaticModel.from_pretrained(str(tmp_path)).encode(["The dog bit the man."])
    assert np.allclose(ours, theirs, atol=1e-3)
