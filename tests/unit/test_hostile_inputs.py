"""Regression tests for issue 9: no silent NaN (property 3) and errors that name the problem (property 4).

Each test reproduces one probe that gave a wrong answer or a raw exception from deep inside a library.
"""

import gzip
import hashlib
import json

import numpy as np
import pytest
import torch

from sbert_lessons import data, embeddings, evaluation, losses, pooling, profile, report, timing
from sbert_lessons.models import GloVe


# ------------------------------------------------------------------------------ no silent NaN
def test_most_similar_pair_refuses_nan_instead_of_minus_one():
    emb = np.array([[1.0, 0.0], [np.nan, 1.0], [0.9, 0.1]], dtype=np.float32)
    with pytest.raises(ValueError, match="row 1"):
        timing.most_similar_pair(emb)
    with pytest.raises(ValueError, match="row 0"):
        timing.most_similar_pair(np.array([[np.inf, 0.0], [1.0, 1.0]]))
    all_nan = np.full((3, 2), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        timing.most_similar_pair(all_nan)   # used to return (-1, -1, -inf)


def test_most_similar_pair_huge_and_tiny_magnitudes():
    base = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    want = timing.most_similar_pair(base)[:2]
    for scale in (1e30, 1e200, 1e-30, 1e-200):
        i, j, c = timing.most_similar_pair(base * scale)
        assert (i, j) == want and c == pytest.approx(timing.most_similar_pair(base)[2], abs=1e-6), scale


def test_paired_cosine_names_the_nan_row_and_survives_magnitudes():
    u = np.array([[1.0, 2.0], [3.0, np.nan]])
    with pytest.raises(ValueError, match="row 1"):
        evaluation.paired_cosine(u, np.ones((2, 2)))
    u = np.array([[1e200, 1e200], [1e-200, 2e-200]])
    np.testing.assert_allclose(evaluation.paired_cosine(u, np.array([[1.0, 1.0], [1.0, 2.0]])), [1.0, 1.0])
    with pytest.raises(ValueError, match="zero-length"):
        evaluation.paired_cosine(np.zeros((1, 2)), np.ones((1, 2)))


def test_rankdata_and_spearman_refuse_nan():
    with pytest.raises(ValueError, match="position 1"):
        evaluation.rankdata([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="gold"):
        evaluation.spearman([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])


def toy_wv(vectors=None):
    words = ["king", "queen", "man", "woman", "apple"]
    v = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32) if vectors is None else vectors
    return GloVe(words=words, vectors=np.asarray(v, dtype=np.float32), index={w: i for i, w in enumerate(words)})


def test_nan_word_vector_never_ranks():
    v = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    v[4] = np.nan
    with pytest.raises(ValueError, match="apple"):
        embeddings.nearest(toy_wv(v), "king", k=4)
    v[4] = np.inf
    with pytest.raises(ValueError, match="apple"):
        embeddings.nearest(toy_wv(v), "king", k=4)


def test_exclude_as_a_string_is_refused():
    wv = toy_wv()
    with pytest.raises(TypeError, match=r"exclude=\['man'\]"):
        embeddings.nearest(wv, "king", exclude="man")
    with pytest.raises(TypeError, match="integer"):
        embeddings.nearest(wv, "king", k=2.5)
    assert embeddings.nearest(wv, "king", k=10, exclude=["queen", "not-a-word"])  # unknown words are fine
    assert len(embeddings.nearest(wv, "king", k=10, exclude=["queen", "not-a-word"])) == 3


def test_cosine_huge_and_tiny_vectors():
    assert embeddings.cosine([1e200, 1e200], [1.0, 1.0]) == pytest.approx(1.0)
    assert embeddings.cosine([1e-200, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero"):
        embeddings.cosine([0.0, 0.0], [1.0, 0.0])


def test_average_of_nan_vectors_is_refused():
    v = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    v[2] = np.nan
    wv = GloVe(words=["king", "queen", "man", "woman", "apple"], vectors=v,
               index={w: i for i, w in enumerate(["king", "queen", "man", "woman", "apple"])})
    with pytest.raises(ValueError, match="sentence 1"):
        embeddings.average_vectors([["king"], ["man", "queen"]], wv)


def test_pooling_refuses_nan_even_in_padding():
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    x[0, 2] = float("nan")                   # a padding position: 0 x NaN is NaN in a masked sum
    with pytest.raises(ValueError, match="row 0, token 2"):
        pooling.mean_pool(x, mask)
    big = torch.full((1, 3, 2), 3e38)
    with pytest.raises(ValueError, match="overflowed"):
        pooling.mean_pool(big, torch.ones(1, 3))
    assert torch.isfinite(pooling.mean_pool(big.double(), torch.ones(1, 3))).all()


@pytest.mark.parametrize("name", ["cosine", "softmax", "triplet", "mnrl"])
@pytest.mark.parametrize("case", ["identical", "zero", "single"])
def test_losses_have_finite_gradients_on_degenerate_batches(name, case):
    torch.manual_seed(0)
    n, d = (1, 4) if case == "single" else (3, 4)
    a = torch.randn(n, d)
    if case == "zero":
        cols = [torch.zeros(n, d) for _ in range(3)]
    else:
        cols = [a.clone() for _ in range(3)]
    cols = [c.requires_grad_(True) for c in cols]
    clf = torch.nn.Linear(3 * d, 3)
    if name == "cosine":
        loss = losses.cosine_similarity_loss(cols[0], cols[1], torch.full((n,), 0.5))
    elif name == "softmax":
        loss = losses.softmax_loss(cols[0], cols[1], torch.zeros(n, dtype=torch.long), clf)
    elif name == "triplet":
        loss = losses.triplet_loss(*cols)
    else:
        loss = losses.mnrl_loss(cols[0], cols[1], cols[2])
    loss.backward()
    assert torch.isfinite(loss)
    for c in cols:
        assert c.grad is None or torch.isfinite(c.grad).all(), f"{name}/{case}: NaN gradient"


def test_triplet_values_unchanged_by_the_gradient_fix():
    torch.manual_seed(0)
    a, p, q = (torch.randn(8, 5) for _ in range(3))
    plain = torch.relu(((a - p) ** 2).sum(1).sqrt() - ((a - q) ** 2).sum(1).sqrt() + 5.0).mean()
    assert torch.equal(losses.triplet_loss(a, p, q), plain)


def test_losses_refuse_nan_and_bad_numbers():
    u, v = torch.randn(2, 3), torch.randn(2, 3)
    u[1, 0] = float("nan")
    with pytest.raises(ValueError, match="u contains NaN.*row 1"):
        losses.cosine_similarity_loss(u, v, [0.1, 0.2])
    a = torch.randn(2, 3)
    with pytest.raises(ValueError, match="margin"):
        losses.triplet_loss(a, a, a, margin=float("nan"))
    with pytest.raises(ValueError, match="scale"):
        losses.mnrl_loss(a, a, scale=float("inf"))
    with pytest.raises(ValueError, match="whole class ids"):
        losses.softmax_loss(a, a, [0.5, 1.0], torch.nn.Linear(9, 3))


def test_claim_rows_refuse_a_nan_tolerance():
    with pytest.raises(report.MetricError, match="tolerance"):
        report.claim_rows([("x", 1.0, 1.0, float("nan"))])


# --------------------------------------------------------------------- errors name the problem
def _mirror(tmp_path, files: dict[str, bytes], manifest: object = None):
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(content)
    if manifest is None:
        manifest = {rel: {"sha256": hashlib.sha256(c).hexdigest()} for rel, c in files.items()}
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (tmp_path / "MANIFEST.json").write_text(text)
    data._MANIFESTS.clear()
    return tmp_path


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", {"stsb/train.jsonl": {"rows": 3}}])
def test_malformed_manifest_is_named(tmp_path, monkeypatch, manifest):
    root = _mirror(tmp_path, {"stsb/train.jsonl": b'{"a": 1}\n'}, manifest)
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(root))
    with pytest.raises(data.DataUnavailableError, match="MANIFEST.json"):
        data.verified_file("stsb/train.jsonl")
    data._MANIFESTS.clear()


def test_truncated_gzip_that_passes_its_checksum(tmp_path, monkeypatch):
    whole = gzip.compress(b"".join(b'{"text": "sentence %d"}\n' % i for i in range(2000)))
    root = _mirror(tmp_path, {"corpus/sentences.txt.gz": whole[: len(whole) // 2]})
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(root))
    with pytest.raises(data.DataUnavailableError, match=r"sentences\.txt\.gz is truncated"):
        data.load_corpus("all")
    data._MANIFESTS.clear()


def test_damaged_jsonl_line_is_named(tmp_path, monkeypatch):
    root = _mirror(tmp_path, {"banking77/train.jsonl": b'{"text": "a", "label": "x"}\n{"text": "b", "lab\n'})
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(root))
    with pytest.raises(data.DataUnavailableError, match="line 2"):
        data.load_banking77("train")
    data._MANIFESTS.clear()


def test_unknown_dataset_message_is_readable():
    with pytest.raises(KeyError) as info:
        data.load("msmarco", "train")
    assert str(info.value).startswith("unknown dataset 'msmarco'")
    with pytest.raises(TypeError, match="integer"):
        data.sample_rows(data.pd.DataFrame({"a": [1, 2, 3]}), 1.5)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cpu:0", "", "tpu", 3])
def test_unknown_device_strings(device, monkeypatch):
    monkeypatch.delenv("SBERT_LESSONS_DEVICE", raising=False)
    if device == "":
        monkeypatch.setenv("SBERT_LESSONS_DEVICE", "gpu")
    with pytest.raises(profile.ProfileError, match="device"):
        profile.get_device(device or None)


def test_devices_that_do_not_exist_here(monkeypatch):
    monkeypatch.delenv("SBERT_LESSONS_DEVICE", raising=False)
    if not torch.cuda.is_available():
        with pytest.raises(profile.ProfileError, match="no CUDA GPU"):
            profile.get_device("cuda:0")
    else:
        with pytest.raises(profile.ProfileError, match="does not exist"):
            profile.get_device(f"cuda:{torch.cuda.device_count()}")
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        with pytest.raises(profile.ProfileError, match="mps"):
            profile.get_device("mps")
    assert profile.get_device(" CPU ") == "cpu"
    assert profile.get_device(torch.device("cpu")) == "cpu"
    with pytest.raises(profile.ProfileError, match="seed"):
        profile.setup("smoke", seed=True, quiet=False)


def test_more_wrong_types_are_named():
    with pytest.raises(TypeError, match="spearman needs two sequences of numbers"):
        evaluation.spearman(["a", "b"], [1, 2])
    with pytest.raises(TypeError, match="numeric"):
        timing.most_similar_pair([["a"], ["b"]])
    with pytest.raises(TypeError, match="seconds"):
        timing.format_duration("3")
    with pytest.raises(TypeError, match="one string"):
        data.unique_texts("a sentence")
    with pytest.raises(ValueError, match="'score' column"):
        data.stsb_gold(data.pd.DataFrame({"x": [1]}))
