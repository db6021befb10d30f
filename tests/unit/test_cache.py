import numpy as np
import pytest

from sbert_lessons import cache


class CountingModel:
    device = "cpu"
    max_seq_length = 16
    _sbert_lessons_fingerprint = "fake-model@1"

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kw):
        self.calls += 1
        return np.array([[len(t), 1.0, float(kw["normalize_embeddings"])] for t in texts], dtype=np.float32)


def test_encode_hits_cache_second_time():
    m = CountingModel()
    a = cache.encode(m, ["one", "three"])
    b = cache.encode(m, ["one", "three"])
    assert m.calls == 1 and np.array_equal(a, b) and a.dtype == np.float32


def test_key_depends_on_texts_model_and_options():
    m = CountingModel()
    cache.encode(m, ["a", "b"])
    cache.encode(m, ["b", "a"])                  # order matters
    cache.encode(m, ["a", "b"], normalize=True)  # options matter
    m2 = CountingModel()
    m2._sbert_lessons_fingerprint = "fake-model@2"
    cache.encode(m2, ["a", "b"])                 # weights matter
    assert m.calls == 3 and m2.calls == 1


def test_corrupt_entry_is_recomputed_not_used():
    m = CountingModel()
    good = cache.encode(m, ["x", "yy"])
    files = list((cache.cache_root() / "embeddings").rglob("*.npy"))
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:-8] + b"\0" * 8)  # flip the last values
    again = cache.encode(m, ["x", "yy"])
    assert m.calls == 2 and np.array_equal(good, again)
    files[0].write_bytes(b"garbage")  # truncated
    cache.encode(m, ["x", "yy"])
    assert m.calls == 3


def test_encode_bad_input():
    m = CountingModel()
    with pytest.raises(TypeError, match="not one string"):
        cache.encode(m, "a sentence")
    with pytest.raises(ValueError, match="empty"):
        cache.encode(m, [])
    with pytest.raises(TypeError, match="item 1"):
        cache.encode(m, ["ok", None])
    with pytest.raises(TypeError, match="normalize"):
        cache.encode(m, ["ok"], normalize="yes")
    with pytest.raises(ValueError, match="batch_size"):
        cache.encode(m, ["ok"], batch_size=0)


def test_nan_model_output_is_refused_and_not_cached():
    class NaNModel(CountingModel):
        def encode(self, texts, **kw):
            out = super().encode(texts, **kw)
            out[1, 0] = np.nan
            return out

    m = NaNModel()
    with pytest.raises(ValueError, match="text 1"):
        cache.encode(m, ["a", "b", "c"])
    assert not list((cache.cache_root() / "embeddings").rglob("*.npy"))


def test_texts_hash_no_concatenation_collisions():
    assert cache.texts_hash(["ab", "c"]) != cache.texts_hash(["a", "bc"])


def test_fingerprint_from_tensors_when_unknown():
    import torch

    lin = torch.nn.Linear(3, 2)
    fp1 = cache.model_fingerprint(lin)
    lin2 = torch.nn.Linear(3, 2)
    assert fp1.startswith("tensors:") and fp1 != cache.model_fingerprint(lin2)
    assert cache.model_fingerprint(lin) == fp1


def test_declared_fingerprint_dropped_after_training_step():
    import torch

    lin = torch.nn.Linear(3, 2)
    cache.set_fingerprint(lin, "base-model@abc")
    assert cache.model_fingerprint(lin) == f"base-model@abc|{cache.tensor_hash(lin)}"
    other = torch.nn.Linear(3, 2)
    cache.set_fingerprint(other, "base-model@abc")  # one label, other weights: other fingerprint
    assert cache.model_fingerprint(other) != cache.model_fingerprint(lin)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    lin(torch.ones(1, 3)).sum().backward()
    opt.step()  # in-place update: the declared hash no longer describes these weights
    fp = cache.model_fingerprint(lin)
    assert fp.startswith("base-model@abc|changed:") and cache.tensor_hash(lin) in fp


def test_stub_without_weights_must_declare_fingerprint():
    class Stub:
        pass

    with pytest.raises(TypeError, match="_sbert_lessons_fingerprint"):
        cache.model_fingerprint(Stub())


def test_cached_model_trains_once_and_failed_training_leaves_nothing():
    runs = []

    def train(folder):
        runs.append(folder)
        (folder / "weights.bin").write_bytes(b"w")

    key = {"recipe": "r", "data": "d"}
    a = cache.cached_model("toy", key, train)
    b = cache.cached_model("toy", key, train)
    assert a == b and len(runs) == 1 and (a / "weights.bin").exists()

    def broken(folder):
        (folder / "half.bin").write_bytes(b"h")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cache.cached_model("toy", {"recipe": "other"}, broken)
    assert not cache.model_dir("toy", {"recipe": "other"}).exists()
    assert not [p for p in (cache.cache_root() / "models" / "toy").iterdir() if p.name.endswith(".tmp")]


def test_half_written_model_folder_is_not_used():
    key = {"recipe": "half"}
    final = cache.model_dir("toy", key)
    final.mkdir(parents=True)
    (final / "partial.bin").write_bytes(b"p")  # no completion marker
    out = cache.cached_model("toy", key, lambda f: (f / "full.bin").write_bytes(b"f"))
    assert (out / "full.bin").exists() and not (out / "partial.bin").exists()


def test_verify_sha256(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"hello")
    good = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert cache.verify_sha256(p, good) == p
    with pytest.raises(cache.ChecksumError, match="expected"):
        cache.verify_sha256(p, "0" * 64)
    p.write_bytes(b"hellO")  # changed after a successful check: re-checked, refused
    with pytest.raises(cache.ChecksumError):
        cache.verify_sha256(p, good)


def test_same_weights_other_pooling_is_another_cache_entry():
    import torch

    class Encoder(torch.nn.Module):
        device = "cpu"
        max_seq_length = 8

        def __init__(self, lin, mode):
            super().__init__()
            self.lin, self.mode = lin, mode

        def extra_repr(self):
            return f"pooling={self.mode}"

        def encode(self, texts, **kw):
            x = torch.tensor([[float(len(t)), 1.0, 2.0] for t in texts])
            y = self.lin(x)
            return (y.max(dim=1, keepdim=True).values if self.mode == "max" else y.mean(1, keepdim=True)
                    ).detach().numpy()

    lin = torch.nn.Linear(3, 2)
    mean, mx = Encoder(lin, "mean"), Encoder(lin, "max")
    assert cache.model_fingerprint(mean) == cache.model_fingerprint(mx)  # same weights
    a, b = cache.encode(mean, ["abc", "de"]), cache.encode(mx, ["abc", "de"])
    assert not np.allclose(a, b)


def test_structure_ignores_memory_addresses():
    class Plain:
        pass

    assert cache.model_structure(Plain()) == cache.model_structure(Plain())


def test_tokenizer_hash_reads_a_bare_tokenizers_object():
    from tokenizers import Tokenizer, models, normalizers

    def make(lower):
        tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
        if lower:
            tok.normalizer = normalizers.Lowercase()
        return tok

    assert cache.tokenizer_hash(make(True)) != cache.tokenizer_hash(make(False))
    assert cache.tokenizer_hash(make(True)) == cache.tokenizer_hash(make(True))
