"""Loading a model the course trained and cached (introduced in chapter 6, ``06_fine_tuning``).

One concept: a trained model's folder in the model cache (:func:`sbert_lessons.cache.cached_model`)
becomes a ``SentenceTransformer`` that carries a cache fingerprint (so that :func:`sbert_lessons.cache.encode`
keys its embeddings by the folder), and the small JSON files a training run wrote beside it (the trainer's
log, the training time) are read back. It sits below both :mod:`sbert_lessons.training` (chapter 3's loops)
and :mod:`sbert_lessons.finetune` (chapter 6's trainers), which import it; it imports neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import cache
from .profile import get_device

__all__ = ["load_sentence_transformer", "read_json"]


def load_sentence_transformer(folder: str | Path, fingerprint: str, device: str | None = None):
    """The ``SentenceTransformer`` saved in ``folder``, fingerprinted ``fingerprint`` for the embedding cache.

    Raises ``FileNotFoundError`` naming the folder when it holds no saved model.
    """
    from sentence_transformers import SentenceTransformer

    folder = Path(folder)
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no saved model in {folder} (no modules.json or config.json)")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ValueError("fingerprint must be a non-empty string naming the trained model")
    model = SentenceTransformer(str(folder), device=get_device(device), trust_remote_code=False)
    cache.set_fingerprint(model, fingerprint)
    return model


def read_json(folder: str | Path, name: str, default: Any = None) -> Any:
    """The JSON file ``name`` a training run wrote into ``folder`` (``default`` when it is absent)."""
    path = Path(folder) / name
    if not path.is_file():
        return default
    return json.loads(path.read_text())
