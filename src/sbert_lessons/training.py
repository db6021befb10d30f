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
that does what the library's losses do, written out so that chapter 3 can show the mechanics;
chapter 6 (:mod:`sbert_lessons.finetune`) trains the same recipes with the library's trainers.

This module is also the one home of what every training run of the course shares: the recipe type
:class:`Recipe` (chapter 3's hand loops, chapter 5's GloVe encoders and chapter 6's trainers are all
described by it), the optimizer and warm-up schedule (:func:`make_optimizer`, :func:`warmup_factor`),
the shuffled batches (:func:`batches`) and one optimisation step (:func:`optimizer_step`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from . import cache, data, models, trained
from .profile import Profile, active, get_device, seed_everything

__all__ = [
    "BI_ENCODER_RECIPE",
    "CROSS_ENCODER_RECIPE",
    "LOSSES",
    "Recipe",
    "batches",
    "bi_encoder_features",
    "fit_bi_encoder",
    "fit_cross_encoder",
    "last_training_seconds",
    "load_cross_encoder",
    "load_sts_bi_encoder",
    "make_optimizer",
    "optimizer_step",
    "recipe_for",
    "stsb_training_pairs",
    "train_cross_encoder",
    "train_sts_bi_encoder",
    "training_key",
    "warmup_factor",
    "with_overrides",
]

SCORE_MAX = 5.0


#: Objectives a recipe may name (``Recipe.loss``). Chapter 3 and chapter 5 name theirs implicitly or by
#: the chapter-5 names ``softmax`` / ``mnrl``; chapter 6 names every library loss it trains with.
LOSSES = ("cosine", "cosent", "angle", "softmax", "mnrl", "mnrl_hard", "cached_mnrl", "matryoshka", "bce")
OPTIMIZERS = ("adamw", "adam")
#: ``linear``: transformers' ``get_linear_schedule_with_warmup`` (chapters 3 and 6, and the library's
#: trainers): the factor is ``step / warmup`` during warm-up, so the very first step has learning rate 0;
#: warm-up steps are ``round(fraction * total)``. ``linear_shifted``: chapter 5's loop, whose first step
#: already moves (``(step + 1) / (warmup + 1)``) and whose warm-up is ``int(fraction * total)`` steps.
SCHEDULES = ("linear", "linear_shifted")

# Fields added for chapters 5-6. They are part of a model's cache key only when they differ from their
# defaults, so the keys (and cached models) of chapter 3's recipes did not change when they were added.
_NEW_FIELDS = ("loss", "data", "optimizer", "schedule", "max_grad_norm", "eval_every", "mini_batch_size",
               "options")


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer{' or None' if allow_none else ''}, "
                        f"got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open: bool = True,
                 allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number{' or None' if allow_none else ''}, "
                        f"got {type(value).__name__} {value!r}")
    if not ((lo < value if lo_open else lo <= value) and value < hi):
        raise ValueError(f"{name} must be in {'(' if lo_open else '['}{lo}, {hi}), got {value!r}")


@dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of one training run: the one recipe type of the course.

    Chapter 3's hand loops, chapter 5's GloVe encoders (:func:`sbert_lessons.encoders.recipe`) and
    chapter 6's library trainers are all described by it, and all build their optimizer and warm-up
    schedule from it with :func:`make_optimizer`. ``n_train=None`` means the whole (profile-sized)
    split. ``options`` holds what only one family of models needs (an architecture, a loss's scale,
    Matryoshka dimensions) as ``(name, value)`` pairs; read them with :meth:`option`.
    """

    epochs: int = 1
    batch_size: int = 16
    lr: float = 5e-5
    warmup_fraction: float = 0.1
    max_length: int = 128
    n_train: int | None = None
    weight_decay: float = 0.01
    seed: int = 0
    head_lr: float | None = None  # learning rate of a freshly initialised head (None: same as lr)
    # chapters 5-6
    loss: str | None = None  # the objective (one of LOSSES); None: the recipe's function implies it
    data: str | None = None  # the training data's name, e.g. "stsb" or "snli_pairs"
    optimizer: str = "adamw"
    schedule: str = "linear"
    max_grad_norm: float | None = 1.0  # gradient-norm clipping (None: no clipping)
    eval_every: int | None = None  # steps between dev evaluations (None: only at the end)
    mini_batch_size: int | None = None  # cached (GradCache) losses: sentences per forward pass
    options: tuple = ()

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0, 1)
        _check_float("warmup_fraction", self.warmup_fraction, 0, 1, lo_open=False)
        _check_int("max_length", self.max_length, 8)
        _check_int("n_train", self.n_train, 2, allow_none=True)
        _check_float("weight_decay", self.weight_decay, 0, 1, lo_open=False)
        _check_int("seed", self.seed, 0)
        _check_float("head_lr", self.head_lr, 0, 1, allow_none=True)
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if self.data is not None and not isinstance(self.data, str):
            raise TypeError(f"data must be a dataset name (str) or None, got {type(self.data).__name__}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.max_grad_norm is not None:
            _check_float("max_grad_norm", self.max_grad_norm, 0, float("inf"))
        _check_int("eval_every", self.eval_every, 1, allow_none=True)
        _check_int("mini_batch_size", self.mini_batch_size, 1, allow_none=True)
        if self.mini_batch_size is not None and self.mini_batch_size > self.batch_size:
            raise ValueError(f"mini_batch_size ({self.mini_batch_size}) cannot exceed batch_size "
                             f"({self.batch_size})")
        opts = self.options
        if isinstance(opts, dict):
            opts = tuple(opts.items())
            object.__setattr__(self, "options", opts)
        if not isinstance(opts, tuple) or not all(isinstance(o, tuple) and len(o) == 2
                                                  and isinstance(o[0], str) for o in opts):
            raise TypeError("options must be a dict or a tuple of (name, value) pairs")
        object.__setattr__(self, "options", tuple((k, tuple(v) if isinstance(v, list) else v)
                                                  for k, v in opts))

    def option(self, name: str, default: Any = None) -> Any:
        """The value of option ``name`` (``default`` if the recipe does not set it)."""
        return dict(self.options).get(name, default)

    def total_steps(self, n_examples: int) -> int:
        """Optimisation steps of the whole run: ``ceil(n / batch_size) * epochs``."""
        _check_int("n_examples", n_examples, 1)
        return math.ceil(n_examples / self.batch_size) * self.epochs

    def warmup_steps(self, n_examples: int) -> int:
        """Warm-up steps: ``warmup_fraction`` of :meth:`total_steps` (rounded as :data:`SCHEDULES` says)."""
        steps = self.total_steps(n_examples)
        if self.schedule == "linear_shifted":
            return int(self.warmup_fraction * steps)
        return round(self.warmup_fraction * steps)

    def key_fields(self) -> dict[str, Any]:
        """The recipe as a cache-key dict: every chapter-3 field, plus the newer ones that are set."""
        d = asdict(self)
        for f in _NEW_FIELDS:
            if d[f] == Recipe.__dataclass_fields__[f].default:
                del d[f]
        if "options" in d:
            d["options"] = [list(o) for o in self.options]
        return d


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
        "recipe": recipe.key_fields(),
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


def batches(n: int, batch_size: int, epochs: int, seed: int):
    """Shuffled index batches, one fresh permutation per epoch, from a seeded generator."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).tolist()
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def warmup_factor(step: int, total: int, warmup_steps: int, schedule: str = "linear") -> float:
    """Learning-rate factor at ``step`` (0-based): linear warm-up to 1, then linear decay to 0.

    ``schedule`` is one of :data:`SCHEDULES`; ``linear`` equals transformers'
    ``get_linear_schedule_with_warmup`` (which the library's trainers use), ``linear_shifted`` is
    chapter 5's variant whose first step is not wasted at learning rate 0.
    """
    _check_int("total", total, 1)
    _check_int("warmup_steps", warmup_steps, 0)
    _check_int("step", step, 0)
    if schedule == "linear":
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total - step) / max(1, total - warmup_steps))
    if schedule == "linear_shifted":
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total - step) / max(1, total - warmup_steps))
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def make_optimizer(params: Any, recipe: Recipe, n_examples: int, head_prefix: str | None = None):
    """The optimizer and warm-up schedule of ``recipe`` for a run over ``n_examples`` examples.

    ``params`` is a module (its named parameters are grouped: no weight decay on biases and norms, and
    ``recipe.head_lr`` for names starting with ``head_prefix``, a freshly initialised head) or a plain
    list of tensors (one group). ``adamw``: ``torch.optim.AdamW``; ``adam``: ``torch.optim.Adam`` without
    weight decay (chapter 5). The schedule is :func:`warmup_factor` over :meth:`Recipe.total_steps`.
    Every hand-written loop of the course gets its optimizer here, and so does chapter 6's
    ``CrossEncoderTrainer`` (through its ``optimizers`` argument, for the head's own learning rate);
    chapter 6's ``SentenceTransformerTrainer`` builds the same AdamW and schedule from its arguments.
    """
    import torch

    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a training.Recipe, got {type(recipe).__name__}")
    total = recipe.total_steps(n_examples)
    warm = recipe.warmup_steps(n_examples)
    if hasattr(params, "named_parameters"):
        groups: dict[tuple[bool, bool], list] = {}
        for name, p in params.named_parameters():
            if p.requires_grad:
                is_head = bool(head_prefix) and recipe.head_lr is not None and name.startswith(head_prefix)
                no_decay = "bias" in name or "LayerNorm" in name or "norm" in name
                groups.setdefault((is_head, no_decay), []).append(p)
        param_groups: Any = [{"params": ps, "weight_decay": 0.0 if nd else recipe.weight_decay,
                              "lr": recipe.head_lr if head else recipe.lr}
                             for (head, nd), ps in groups.items()]
    else:
        param_groups = [p for p in params if p.requires_grad]
        if not param_groups:
            raise ValueError("make_optimizer got no trainable parameters")
    if recipe.optimizer == "adam":
        opt = torch.optim.Adam(param_groups, lr=recipe.lr)
    else:
        opt = torch.optim.AdamW(param_groups, lr=recipe.lr)
    if recipe.schedule == "linear":
        from transformers import get_linear_schedule_with_warmup

        return opt, get_linear_schedule_with_warmup(opt, warm, total)
    return opt, torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_factor(s, total, warm, recipe.schedule))


def _optimizer(module: Any, recipe: Recipe, n: int, head_prefix: str | None = None):
    """Chapter 3's name for :func:`make_optimizer` (kept for its notebook)."""
    return make_optimizer(module, recipe, n, head_prefix)


_batches = batches


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
    opt, sched = make_optimizer(hf, recipe, len(labels), head_prefix="classifier")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y_all = torch.tensor(labels, dtype=torch.float32)
    hf.train()
    losses = []
    for idx in batches(len(labels), recipe.batch_size, recipe.epochs, recipe.seed):
        feats = tok([s1[i] for i in idx], [s2[i] for i in idx], padding=True, truncation=True,
                    max_length=recipe.max_length, return_tensors="pt")
        logits = hf(**_to(dict(feats), device)).logits.view(-1)
        losses.append(optimizer_step(loss_fn(logits, y_all[idx].to(device)), hf, opt, sched,
                                     recipe.max_grad_norm))
    hf.eval()
    return losses


def optimizer_step(loss: Any, params: Any, opt: Any, sched: Any, max_grad_norm: float | None = 1.0,
                   norms: list | None = None) -> float:
    """One optimisation step shared by every hand loop: backward, clip the gradient norm (unless
    ``max_grad_norm`` is None), step the optimizer and the schedule, reset the gradients.

    ``norms``: a list to which the step appends the total gradient norm *before* clipping (chapter 6
    uses it to show whether the clipping ever acts)."""
    import torch

    if norms is not None and not isinstance(norms, list):
        raise TypeError(f"norms must be a list (or None), got {type(norms).__name__}")
    loss.backward()
    if max_grad_norm is not None or norms is not None:
        ps = params.parameters() if hasattr(params, "parameters") else params
        limit = max_grad_norm if max_grad_norm is not None else float("inf")
        total = torch.nn.utils.clip_grad_norm_(ps, limit)
        if norms is not None:
            norms.append(float(total))
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def _step(loss: Any, module: Any, opt: Any, sched: Any) -> float:
    """Chapter 3's step: :func:`optimizer_step` with the gradient norm clipped at 1."""
    return optimizer_step(loss, module, opt, sched, 1.0)


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

    opt, sched = make_optimizer(model, recipe, len(labels))
    y_all = torch.tensor(labels, dtype=torch.float32)
    model.train()
    losses = []
    for idx in batches(len(labels), recipe.batch_size, recipe.epochs, recipe.seed):
        u = model(bi_encoder_features(model, [s1[i] for i in idx]))["sentence_embedding"]
        v = model(bi_encoder_features(model, [s2[i] for i in idx]))["sentence_embedding"]
        cos = torch.nn.functional.cosine_similarity(u, v)
        loss = torch.nn.functional.mse_loss(cos, y_all[idx].to(cos.device))
        losses.append(optimizer_step(loss, model, opt, sched, recipe.max_grad_norm))
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
    folder = train_sts_bi_encoder(profile, recipe, train_df)
    prof = _profile(profile)
    return trained.load_sentence_transformer(folder, f"trained:bi_encoder_stsb/{folder.name}",
                                             device or prof.device)


def with_overrides(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of ``recipe`` with some hyper-parameters changed (validated like the original)."""
    return replace(recipe, **changes)
