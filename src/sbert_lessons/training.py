"""Training recipes for the STS-B cross-encoder and bi-encoder (introduced in chapter 3).

No package ships a trained cross-encoder, so chapter 3 trains one from the MiniLM-L6 transformer
weights; later chapters (re-ranking) reuse it. Every model is trained through
:func:`sbert_lessons.cache.cached_model`, keyed by the profile, the recipe (every hyper-parameter),
the base model's sha256 and a hash of the training data, so a second run loads instead of training.

* :func:`train_cross_encoder` / :func:`load_cross_encoder`: ``CrossEncoder(minilm_dir, num_labels=1)``
  fine-tuned on STS-B train with scores scaled to [0, 1] (binary cross-entropy on a sigmoid output).
* :func:`train_sts_bi_encoder` / :func:`load_sts_bi_encoder`: all-MiniLM-L6-v2 fine-tuned on STS-B
  train with a cosine-similarity (MSE) objective, the SBERT paper's regression recipe.

Both are trained by a short plain-PyTorch loop (:func:`fit_cross_encoder`, :func:`fit_bi_encoder`)
that does what the library's losses do: the library's trainers (and the old ``fit()``, which wraps
them) need ``accelerate``, which the course does not install. Warm-up is explicit (10 % of steps).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from . import cache, data, models
from .profile import Profile, active, get_device, seed_everything

__all__ = [
    "BI_ENCODER_RECIPE",
    "CROSS_ENCODER_RECIPE",
    "Recipe",
    "bi_encoder_features",
    "fit_bi_encoder",
    "fit_cross_encoder",
    "last_training_seconds",
    "load_cross_encoder",
    "load_sts_bi_encoder",
    "recipe_for",
    "stsb_training_pairs",
    "train_cross_encoder",
    "train_sts_bi_encoder",
    "training_key",
    "with_overrides",
]

SCORE_MAX = 5.0


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one fine-tune. ``n_train=None`` means the whole (profile-sized) split."""

    epochs: int = 1
    batch_size: int = 16
    lr: float = 5e-5
    warmup_fraction: float = 0.1
    max_length: int = 128
    n_train: int | None = None
    weight_decay: float = 0.01
    seed: int = 0
    head_lr: float | None = None  # learning rate of a freshly initialised head (None: same as lr)

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ValueError(f"lr must be in (0, 1), got {self.lr!r}")
        if not (0 <= self.warmup_fraction < 1):
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if not (isinstance(self.max_length, int) and self.max_length >= 8):
            raise ValueError(f"max_length must be an integer >= 8, got {self.max_length!r}")
        if self.head_lr is not None and not (isinstance(self.head_lr, (int, float)) and 0 < self.head_lr < 1):
            raise ValueError(f"head_lr must be None or in (0, 1), got {self.head_lr!r}")
        if self.n_train is not None and not (isinstance(self.n_train, int) and self.n_train >= 2):
            raise ValueError(f"n_train must be None or an integer >= 2, got {self.n_train!r}")

    def warmup_steps(self, n_examples: int) -> int:
        steps = math.ceil(n_examples / self.batch_size) * self.epochs
        return round(self.warmup_fraction * steps)


#: Chapter 3's recipes per profile. Smoke: a cheap recipe that reaches the chapter's bar on 2 cores;
#: full: the SBERT paper's STS-B regression setting (4 epochs, batch 16, 10 % warm-up).
CROSS_ENCODER_RECIPE = {
    "smoke": Recipe(epochs=1, batch_size=16, lr=5e-5, head_lr=5e-4),
    "full": Recipe(epochs=4, batch_size=16, lr=5e-5, head_lr=5e-4),
}
BI_ENCODER_RECIPE = {
    "smoke": Recipe(epochs=1, batch_size=16, lr=2e-5, n_train=600),
    "full": Recipe(epochs=4, batch_size=16, lr=2e-5),
}


def _profile(profile: Profile | str | None) -> Profile:
    if profile is None:
        return active()
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str):
        from .profile import get_profile

        return Profile(name=get_profile(profile), device=get_device())
    raise TypeError(f"profile must be a Profile, a profile name or None, got {type(profile).__name__}")


def recipe_for(kind: str, profile: Profile | str | None = None) -> Recipe:
    """The recipe chapter 3 uses for ``kind`` ("cross_encoder" or "bi_encoder") in ``profile``."""
    table = {"cross_encoder": CROSS_ENCODER_RECIPE, "bi_encoder": BI_ENCODER_RECIPE}
    if kind not in table:
        raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(table)}")
    return table[kind][_profile(profile).name]


def stsb_training_pairs(df: Any, n: int | None = None) -> tuple[list[str], list[str], list[float]]:
    """``(sentence1, sentence2, score / 5)`` lists from an STS-B frame (first ``n`` rows if given)."""
    for col in ("sentence1", "sentence2", "score"):
        if col not in getattr(df, "columns", ()):
            raise ValueError(f"the training frame has no column {col!r} (STS-B schema expected)")
    if n is not None:
        if n > len(df):
            raise ValueError(f"asked for {n} training pairs but the frame has only {len(df)}")
        df = df.iloc[:n]
    if len(df) < 2:
        raise ValueError("need at least two training pairs")
    scores = [float(s) / SCORE_MAX for s in df["score"]]
    bad = [s for s in scores if not (0.0 <= s <= 1.0)]
    if bad:
        raise ValueError(f"STS scores must lie in [0, {SCORE_MAX}]; found {bad[0] * SCORE_MAX}")
    return [str(s) for s in df["sentence1"]], [str(s) for s in df["sentence2"]], scores


def training_key(kind: str, profile_name: str, recipe: Recipe, s1: list[str], s2: list[str],
                 labels: list[float]) -> dict:
    """The cache key of a trained model: profile, recipe, base weights sha256 and data hash."""
    return {
        "kind": kind,
        "profile": profile_name,
        "recipe": asdict(recipe),
        "base_model": models.MINILM,
        "base_sha256": models.REGISTRY[models.MINILM].sha256,
        "data": cache.texts_hash(list(s1) + list(s2) + [f"{x:.6g}" for x in labels]),
        "n_train": len(labels),
        "format": 1,
    }


_LAST_SECONDS: dict[str, float] = {}


def last_training_seconds(kind: str) -> float | None:
    """Seconds the last training of ``kind`` took in this process (None if it was loaded from cache)."""
    return _LAST_SECONDS.get(kind)


def _batches(n: int, batch_size: int, epochs: int, seed: int):
    """Shuffled index batches, one fresh permutation per epoch, from a seeded generator."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).tolist()
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def _optimizer(module: Any, recipe: Recipe, n: int, head_prefix: str | None = None):
    """AdamW (no decay on biases and LayerNorm) with a linear warm-up then linear decay to zero.

    Parameters whose name starts with ``head_prefix`` (a freshly initialised head) use ``recipe.head_lr``.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    groups: dict[tuple[bool, bool], list] = {}
    for name, p in module.named_parameters():
        if p.requires_grad:
            is_head = bool(head_prefix) and recipe.head_lr is not None and name.startswith(head_prefix)
            no_decay = "bias" in name or "LayerNorm" in name or "norm" in name
            groups.setdefault((is_head, no_decay), []).append(p)
    opt = torch.optim.AdamW([{"params": ps, "weight_decay": 0.0 if nd else recipe.weight_decay,
                              "lr": recipe.head_lr if head else recipe.lr}
                             for (head, nd), ps in groups.items()], lr=recipe.lr)
    total = math.ceil(n / recipe.batch_size) * recipe.epochs
    return opt, get_linear_schedule_with_warmup(opt, recipe.warmup_steps(n), total)


def _to(features: dict, device: str) -> dict:
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in features.items()}


def fit_cross_encoder(model: Any, s1: list[str], s2: list[str], labels: list[float], recipe: Recipe
                      ) -> list[float]:
    """Fine-tune a one-label ``CrossEncoder`` in place: each pair is read *together* by one transformer.

    Binary cross-entropy between the logit and the [0, 1] score (the library's
    ``BinaryCrossEntropyLoss``), AdamW, linear warm-up. Returns the per-step losses.
    A plain PyTorch loop: the library's trainers need ``accelerate``, which the course does not install.
    """
    import torch

    hf, tok = model.model, model.tokenizer
    device = str(next(hf.parameters()).device)
    opt, sched = _optimizer(hf, recipe, len(labels), head_prefix="classifier")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y_all = torch.tensor(labels, dtype=torch.float32)
    hf.train()
    losses = []
    for idx in _batches(len(labels), recipe.batch_size, recipe.epochs, recipe.seed):
        feats = tok([s1[i] for i in idx], [s2[i] for i in idx], padding=True, truncation=True,
                    max_length=recipe.max_length, return_tensors="pt")
        logits = hf(**_to(dict(feats), device)).logits.view(-1)
        losses.append(_step(loss_fn(logits, y_all[idx].to(device)), hf, opt, sched))
    hf.eval()
    return losses


def _step(loss: Any, module: Any, opt: Any, sched: Any) -> float:
    """One optimisation step shared by both recipes: backward, clip the gradient norm at 1, step, reset."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def bi_encoder_features(model: Any, texts: list[str]) -> dict:
    """Tokenized inputs of a ``SentenceTransformer`` (``preprocess`` in >= 6.2, ``tokenize`` before)."""
    prep = getattr(model, "preprocess", None) or model.tokenize
    return _to(dict(prep(list(texts))), str(model.device))


def fit_bi_encoder(model: Any, s1: list[str], s2: list[str], labels: list[float], recipe: Recipe
                   ) -> list[float]:
    """Fine-tune a ``SentenceTransformer`` in place with the cosine-similarity objective.

    Both sides of a pair go through **the same** module (one set of weights): u = f(a), v = f(b),
    loss = MSE(cos(u, v), score). This is the library's ``CosineSimilarityLoss``. Returns the losses.
    """
    import torch

    opt, sched = _optimizer(model, recipe, len(labels))
    y_all = torch.tensor(labels, dtype=torch.float32)
    model.train()
    losses = []
    for idx in _batches(len(labels), recipe.batch_size, recipe.epochs, recipe.seed):
        u = model(bi_encoder_features(model, [s1[i] for i in idx]))["sentence_embedding"]
        v = model(bi_encoder_features(model, [s2[i] for i in idx]))["sentence_embedding"]
        cos = torch.nn.functional.cosine_similarity(u, v)
        losses.append(_step(torch.nn.functional.mse_loss(cos, y_all[idx].to(cos.device)), model, opt, sched))
    model.eval()
    return losses


def _resolve(kind: str, profile: Profile | str | None, recipe: Recipe | None, train_df: Any):
    prof = _profile(profile)
    recipe = recipe or recipe_for(kind, prof)
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a training.Recipe, got {type(recipe).__name__}")
    if train_df is None:
        train_df = data.load("stsb", "train", prof.name)
    s1, s2, labels = stsb_training_pairs(train_df, recipe.n_train)
    return prof, recipe, s1, s2, labels


def _train_cached(kind: str, profile: Profile | str | None, recipe: Recipe | None, train_df: Any,
                  build: Any, fit: Any) -> Path:
    """Train ``build(prof, recipe)`` with ``fit`` once per (profile, recipe, data); return its folder."""
    prof, recipe, s1, s2, labels = _resolve(kind, profile, recipe, train_df)
    key = training_key(kind, prof.name, recipe, s1, s2, labels)

    def train(folder: Path) -> None:
        start = time.perf_counter()
        seed_everything(recipe.seed)
        model = build(prof, recipe)
        fit(model, s1, s2, labels, recipe)
        model.save(str(folder))
        _LAST_SECONDS[kind] = time.perf_counter() - start

    _LAST_SECONDS.pop(kind, None)
    return cache.cached_model(f"{kind}_stsb", key, train)


def _new_cross_encoder(prof: Profile, recipe: Recipe):
    from sentence_transformers.cross_encoder import CrossEncoder

    return CrossEncoder(str(models.model_path(models.MINILM)), num_labels=1,
                        max_length=recipe.max_length, device=prof.device)


def _new_bi_encoder(prof: Profile, recipe: Recipe):
    model = models.load_sentence_model(models.MINILM, device=prof.device)
    model.max_seq_length = recipe.max_length
    return model


def train_cross_encoder(profile: Profile | str | None = None, recipe: Recipe | None = None,
                        train_df: Any = None) -> Path:
    """Folder of the STS-B cross-encoder for ``profile``, training it once if it is not cached.

    Chapter 3 introduces it; chapter "re-ranking" reuses it through :func:`load_cross_encoder`.
    """
    return _train_cached("cross_encoder", profile, recipe, train_df, _new_cross_encoder, fit_cross_encoder)


def load_cross_encoder(profile: Profile | str | None = None, recipe: Recipe | None = None,
                       train_df: Any = None, device: str | None = None):
    """The trained STS-B ``CrossEncoder`` (trained on first use, then loaded from the cache)."""
    from sentence_transformers.cross_encoder import CrossEncoder

    folder = train_cross_encoder(profile, recipe, train_df)
    prof = _profile(profile)
    return CrossEncoder(str(folder), device=get_device(device or prof.device))


def train_sts_bi_encoder(profile: Profile | str | None = None, recipe: Recipe | None = None,
                         train_df: Any = None) -> Path:
    """Folder of all-MiniLM-L6-v2 fine-tuned on STS-B train with a cosine-similarity objective."""
    return _train_cached("bi_encoder", profile, recipe, train_df, _new_bi_encoder, fit_bi_encoder)


def load_sts_bi_encoder(profile: Profile | str | None = None, recipe: Recipe | None = None,
                        train_df: Any = None, device: str | None = None):
    """The STS-B-tuned ``SentenceTransformer``, fingerprinted by its cache folder for ``cache.encode``."""
    from sentence_transformers import SentenceTransformer

    folder = train_sts_bi_encoder(profile, recipe, train_df)
    prof = _profile(profile)
    model = SentenceTransformer(str(folder), device=get_device(device or prof.device),
                                trust_remote_code=False)
    cache.set_fingerprint(model, f"trained:bi_encoder_stsb/{folder.name}")
    return model


def with_overrides(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of ``recipe`` with some hyper-parameters changed (validated like the original)."""
    return replace(recipe, **changes)
