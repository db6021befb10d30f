"""Static embeddings: a distilled or trained token table, averaged (introduced in chapter 11,
``11_static_embeddings``).

The lesson runs Model2Vec's ``distill`` and sentence-transformers' ``StaticEmbedding`` in its own cells;
this module holds the plumbing around them:

* :func:`used_tokens` and :func:`keep_only_pattern` — the smoke profile's honest vocabulary reduction:
  the word pieces a set of texts tokenizes into, and a ``token_remove_pattern`` for ``distill`` that
  removes every other token of the teacher's vocabulary (WordPiece's greedy longest match still splits
  those texts into the same pieces, since every piece it chose is kept);
* :func:`cached_distillation` — a ``distill`` run saved once in the model cache (keyed by profile, the
  teacher's weights, the kept vocabulary and the settings);
* :func:`load_static` — a saved Model2Vec folder as a ``SentenceTransformer`` with one
  ``StaticEmbedding`` module, fingerprinted for the embedding cache;
* :func:`zipf_sif_weights` — Model2Vec's token weights, from the rank of each token in the vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import cache

__all__ = ["SPECIAL_TOKENS", "cached_distillation", "keep_only_pattern", "load_static", "used_tokens",
           "zipf_sif_weights"]

# the special tokens Model2Vec keeps as rows ([CLS], [SEP] and [MASK] it removes itself)
SPECIAL_TOKENS = ("[PAD]", "[UNK]")


def used_tokens(tokenizer: Any, texts: Iterable[str], extra: Sequence[str] = SPECIAL_TOKENS) -> list[str]:
    """The word pieces ``tokenizer`` (a ``tokenizers.Tokenizer``) splits ``texts`` into, plus ``extra``,
    in the tokenizer's id order."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty list of strings")
    ids: set[int] = set()
    for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
        ids.update(enc.ids)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in extra if t in vocab)
    inverse = {i: t for t, i in vocab.items()}
    return [inverse[i] for i in sorted(ids)]


def keep_only_pattern(tokens: Sequence[str]) -> str:
    """A regex for ``distill(token_remove_pattern=...)`` that matches every token *not* in ``tokens``.

    Model2Vec removes the tokens the pattern matches (``re.match``), so this keeps exactly ``tokens``.
    """
    if isinstance(tokens, str) or not tokens:
        raise ValueError("tokens must be a non-empty list of token strings")
    if not all(isinstance(t, str) and t for t in tokens):
        raise ValueError("every token must be a non-empty string")
    alternatives = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
    return rf"(?!(?:{alternatives})$)"


def zipf_sif_weights(n_tokens: int, sif_coefficient: float = 1e-4) -> np.ndarray:
    """Model2Vec's weight of the token of rank ``r`` (0-based id order): ``a / (a + p_r)``, with
    ``p_r`` proportional to ``1 / (r + 2)`` (Zipf's law) and summing to one over the vocabulary."""
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)) or n_tokens < 1:
        raise ValueError(f"n_tokens must be a positive integer, got {n_tokens!r}")
    if isinstance(sif_coefficient, bool) or not isinstance(sif_coefficient, (int, float)) \
            or not 0 < sif_coefficient < 1:
        raise ValueError(f"sif_coefficient must be a number in (0, 1), got {sif_coefficient!r}")
    inv_rank = 1.0 / np.arange(2, n_tokens + 2)
    p = inv_rank / inv_rank.sum()
    return sif_coefficient / (sif_coefficient + p)


def cached_distillation(profile_name: str, teacher_path: str | Path, tokens: Sequence[str] | None,
                        distill: Callable[..., Any], **settings: Any) -> Path:
    """The folder of ``distill(teacher_path, **settings)`` saved with ``save_pretrained``, computed once.

    ``tokens`` (None: the teacher's whole vocabulary) become ``token_remove_pattern`` via
    :func:`keep_only_pattern`. ``distill`` is the library function (passed in so that the lesson's cell
    shows which one runs).
    """
    if not callable(distill):
        raise TypeError(f"distill must be the distillation function, got {type(distill).__name__}")
    teacher_path = Path(teacher_path)
    weights = teacher_path / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"no model.safetensors in {teacher_path}: pass the teacher's local folder")
    if "token_remove_pattern" in settings:
        raise ValueError("pass tokens=..., not token_remove_pattern: the key must name the vocabulary")
    if tokens is not None:
        settings["token_remove_pattern"] = keep_only_pattern(tokens)
    key = {"profile": profile_name, "teacher": cache.file_sha256(weights),
           "tokens": None if tokens is None else cache.texts_hash(list(tokens)),
           "settings": {k: v for k, v in settings.items() if k != "token_remove_pattern"}}

    def run(folder: Path) -> None:
        distill(str(teacher_path), **settings).save_pretrained(str(folder))

    return cache.cached_model("ch11_distilled", key, run)


def load_static(folder: str | Path, name: str, device: str = "cpu"):
    """The Model2Vec model saved in ``folder`` as a ``SentenceTransformer([StaticEmbedding])`` with a
    float32 table, fingerprinted ``static:<name>/<folder name>`` for :func:`sbert_lessons.cache.encode`."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no saved Model2Vec model in {folder} (no tokenizer.json)")
    module = StaticEmbedding.from_model2vec(str(folder))
    # a float16 table (Model2Vec's default) is widened: sums in float16 depend on the order of the terms
    module.embedding.weight.data = module.embedding.weight.data.float()
    model = SentenceTransformer(modules=[module], device=device)
    cache.set_fingerprint(model, f"static:{name}/{folder.name}")
    return model
