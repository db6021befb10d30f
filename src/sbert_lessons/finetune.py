"""Fine-tuning with the library's own trainers, cached (introduced in chapter 6, ``06_fine_tuning``).

Chapters 3 and 5 train with hand-written loops to show the mechanics. Chapter 6 trains the way the
sentence-transformers docs do, and this module holds what that needs, once:

* :func:`pairs_dataset`: a validated ``datasets.Dataset`` from columns of texts (and labels), with
  :func:`stsb_dataset` and :func:`snli_pairs` for the course's sets;
* :data:`SIZES`: every smoke/full size of the chapter (training slices, dev set, transfer subsets);
* :func:`recipe`: the chapter's recipes, all :class:`sbert_lessons.training.Recipe` objects, with
  :func:`make_loss` turning a recipe's ``loss`` into the library's loss object;
* :func:`training_arguments` / :func:`build_trainer`: ``SentenceTransformerTrainingArguments`` and
  ``SentenceTransformerTrainer`` exactly as chapter 6's key cell writes them (the trainer builds its own
  optimizer and warm-up from the arguments; an evaluator and eval loss during training, the best checkpoint
  reloaded at the end), for the chapters that load chapter 6's models without running its page;
* :func:`train_bi_encoder` / :func:`load_bi_encoder`: a model trained by such a trainer (or by the function
  the lesson passes as ``build``), once per (profile, recipe, seed, data) through
  :func:`sbert_lessons.cache.cached_model`; loading goes through :mod:`sbert_lessons.trained`;
* :func:`train_cross_encoder_trainer` / :func:`load_cross_encoder_trainer`: ``CrossEncoderTrainer``
  on chapter 3's cross-encoder recipe;
* :func:`legacy_fit`: the tutorials' ``model.fit`` (``InputExample`` + ``DataLoader``), run inside a
  temporary working directory because ``fit`` writes checkpoints relative to it;
* :func:`load_matryoshka`: the Matryoshka model, for later chapters;
* :func:`scifact_transfer`, :func:`scifact_ndcg10`, :func:`clinc_domains`, :func:`clinc_domain_nmi`: the
  "does it transfer?" tasks, encoded through :func:`sbert_lessons.cache.encode` only.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, data, models, trained, training
from .profile import Profile, get_device, seed_everything
from .training import Recipe

__all__ = [
    "IN_BATCH_NEGATIVE_LOSSES",
    "LABEL_RANGES",
    "SIZES",
    "build_trainer",
    "cached_run",
    "clinc_domain_nmi",
    "clinc_domains",
    "dev_dataset",
    "fresh_bi_encoder",
    "history_frame",
    "legacy_fit",
    "load_bi_encoder",
    "load_cross_encoder_trainer",
    "load_matryoshka",
    "make_loss",
    "pairs_dataset",
    "quiet",
    "recipe",
    "scifact_ndcg10",
    "scifact_transfer",
    "size",
    "snli_pairs",
    "stsb_dataset",
    "train_bi_encoder",
    "train_cross_encoder_trainer",
    "training_arguments",
    "truncate",
]

#: Every size of chapter 6 per profile: the one place where they are defined. ``stsb_train``: STS-B
#: training pairs (first rows of the profile's train split); ``stsb_dev``: dev pairs the evaluator scores
#: during training; ``snli_pairs``: (premise, entailed hypothesis) pairs; ``ce_train``: the cross-encoder
#: comparison's pairs; ``scifact_queries`` / ``scifact_docs``: the transfer subset (None = the whole
#: test split / corpus); ``scifact_max_seq_length``: tokens read per abstract; ``clinc``: CLINC150
#: in-scope test utterances clustered by domain (None = all 4,500).
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"stsb_train": 256, "stsb_dev": 100, "eval_every": 8, "snli_pairs": 256, "ce_train": 192,
              "scifact_queries": 50, "scifact_docs": 300, "scifact_max_seq_length": 128, "clinc": 600},
    "full": {"stsb_train": None, "stsb_dev": None, "eval_every": 90, "snli_pairs": None, "ce_train": None,
             "scifact_queries": None, "scifact_docs": None, "scifact_max_seq_length": 256, "clinc": None},
}

#: The label range each pair loss accepts (None: any real number, only the order matters).
LABEL_RANGES: dict[str, tuple[float, float] | None] = {
    "cosine": (0.0, 1.0), "cosent": None, "angle": None, "matryoshka": None, "bce": (0.0, 1.0),
}
MATRYOSHKA_DIMS = (384, 256, 128, 64)


def _prof(profile: Profile | str | None) -> Profile:
    return training._profile(profile)


def size(what: str, profile: Profile | str | None = None) -> Any:
    """The size ``what`` of :data:`SIZES` in ``profile``."""
    table = SIZES[_prof(profile).name]
    if what not in table:
        raise ValueError(f"unknown size {what!r}; known: {', '.join(table)}")
    return table[what]


# ------------------------------------------------------------------------------------------ datasets
def pairs_dataset(columns: dict[str, Sequence[str]], labels: Sequence[float] | None = None,
                  loss: str | None = None):
    """A ``datasets.Dataset`` with the text ``columns`` in order and, if given, a ``label`` column last.

    The library's trainers read the text columns by position and the label by its name. Raises
    ``ValueError`` for an empty dataset, columns of different lengths, a non-string text, NaN labels or
    labels outside the range of ``loss`` (:data:`LABEL_RANGES`), and ``TypeError`` for wrong types.
    """
    from datasets import Dataset

    if not isinstance(columns, dict) or not columns:
        raise TypeError("columns must be a non-empty dict of column name -> list of texts")
    lengths = {}
    cols: dict[str, list] = {}
    for name, values in columns.items():
        if isinstance(values, str):
            raise TypeError(f"column {name!r} is one string; pass a list of texts")
        values = list(values)
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise TypeError(f"column {name!r}: item {i} is {type(v).__name__}, not a text")
        lengths[name] = len(values)
        cols[name] = values
    if labels is not None:
        if isinstance(labels, str):
            raise TypeError("labels must be a list of numbers, not a string")
        labels = list(labels)
        lengths["label"] = len(labels)
    if len(set(lengths.values())) != 1:
        raise ValueError(f"columns of different lengths: {lengths}")
    if next(iter(lengths.values())) == 0:
        raise ValueError("the dataset is empty: no training examples")
    if labels is not None:
        for i, y in enumerate(labels):
            if isinstance(y, bool) or not isinstance(y, (int, float, np.integer, np.floating)):
                raise TypeError(f"label {i} is {type(y).__name__} {y!r}, not a number")
            if not math.isfinite(float(y)):
                raise ValueError(f"label {i} is {y!r}: labels must be finite")
        rng = LABEL_RANGES.get(loss) if loss else None
        if rng is not None:
            bad = [(i, y) for i, y in enumerate(labels) if not (rng[0] <= float(y) <= rng[1])]
            if bad:
                raise ValueError(f"{len(bad)} label(s) outside [{rng[0]}, {rng[1]}], the range of the {loss!r} "
                                 f"loss; first: label {bad[0][0]} = {bad[0][1]!r} (STS-B scores must be divided by 5)")
        cols["label"] = [float(y) for y in labels]
    return Dataset.from_dict(cols)


def stsb_dataset(df: Any, n: int | None = None, loss: str | None = "cosine"):
    """STS-B pairs as a ``Dataset`` (``sentence1, sentence2, label``) with the score divided by 5."""
    s1, s2, y = training.stsb_training_pairs(df, n)
    return pairs_dataset({"sentence1": s1, "sentence2": s2}, y, loss=loss)


def snli_pairs(profile: Profile | str | None = None) -> Any:
    """(anchor, positive) = (premise, entailed hypothesis) from SNLI ``train_sample``, one per premise,
    the first :data:`SIZES` ``snli_pairs`` of them (a frame with columns ``anchor, positive``)."""
    import pandas as pd

    df = data.load_snli("train_sample")
    ent = df[df["label"] == "entailment"].drop_duplicates("premise")
    out = pd.DataFrame({"anchor": list(ent["premise"]), "positive": list(ent["hypothesis"])})
    n = size("snli_pairs", profile)
    return out if n is None else out.iloc[:n].reset_index(drop=True)


def stsb_dev(profile: Profile | str | None = None) -> Any:
    """The STS-B dev pairs the evaluator scores during training (first :data:`SIZES` ``stsb_dev`` rows)."""
    df = data.load("stsb", "validation", _prof(profile).name)
    n = size("stsb_dev", profile)
    return df if n is None else df.iloc[:n].reset_index(drop=True)


# ------------------------------------------------------------------------------------------- recipes
def recipe(name: str, profile: Profile | str | None = None) -> Recipe:
    """Chapter 6's recipe ``name`` in ``profile``.

    The STS-B recipes (``cosine``, ``cosent``, ``angle``, ``matryoshka``) are chapter 3's bi-encoder
    recipe with the chapter's training size; ``cross_encoder`` is chapter 3's cross-encoder recipe;
    ``mnrl`` / ``mnrl_hard`` / ``cached_mnrl`` train on SNLI pairs with batch 32 (one epoch, lr 2e-5).
    """
    prof = _prof(profile)
    sts = training.with_overrides(training.recipe_for("bi_encoder", prof), n_train=size("stsb_train", prof),
                                  eval_every=size("eval_every", prof))
    if name in ("cosine", "cosent", "angle"):
        return training.with_overrides(sts, loss=name, data="stsb")
    if name == "matryoshka":
        return training.with_overrides(sts, loss="matryoshka", data="stsb",
                                       options=(("inner", "cosent"), ("dims", MATRYOSHKA_DIMS)))
    if name == "cross_encoder":
        return training.with_overrides(training.recipe_for("cross_encoder", prof), loss="bce", data="stsb",
                                       n_train=size("ce_train", prof))
    if name in ("mnrl", "mnrl_hard", "cached_mnrl"):
        r = Recipe(epochs=1, batch_size=32, lr=2e-5, warmup_fraction=0.1, loss=name, data="snli_pairs",
                   max_length=128)
        if name == "mnrl_hard":
            r = training.with_overrides(r, options=(("range_max", 10), ("relative_margin", 0.05)))
        if name == "cached_mnrl":
            r = training.with_overrides(r, batch_size=128, mini_batch_size=16)
        return r
    raise ValueError(f"unknown chapter-6 recipe {name!r}; known: cosine, cosent, angle, matryoshka, "
                     "cross_encoder, mnrl, mnrl_hard, cached_mnrl")


def _st_losses():
    try:  # sentence-transformers >= 6.2
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # pragma: no cover - 6.0 / 6.1
        from sentence_transformers import losses
    return losses


def make_loss(model: Any, rec: Recipe) -> Any:
    """The library's loss object for ``rec.loss`` (``rec.mini_batch_size`` for the cached loss)."""
    losses = _st_losses()
    name = rec.loss
    if name == "cosine":
        return losses.CosineSimilarityLoss(model)
    if name == "cosent":
        return losses.CoSENTLoss(model)
    if name == "angle":
        return losses.AnglELoss(model)
    if name in ("mnrl", "mnrl_hard"):
        return losses.MultipleNegativesRankingLoss(model)
    if name == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=rec.mini_batch_size or 16)
    if name == "matryoshka":
        inner = make_loss(model, training.with_overrides(rec, loss=rec.option("inner", "cosent")))
        return losses.MatryoshkaLoss(model, inner, matryoshka_dims=list(rec.option("dims", MATRYOSHKA_DIMS)))
    raise ValueError(f"no bi-encoder loss for recipe loss {name!r}")


# ------------------------------------------------------------------------------------------- trainers
@contextlib.contextmanager
def quiet():
    """Hide the trainers' console chatter (a metrics dict printed per log step when progress bars are off,
    the model card's example-widget progress bar, the CPU-only ``pin_memory`` warning); errors still raise."""
    import functools
    import io
    import warnings

    card = None
    with contextlib.suppress(ImportError):  # its progress bar is a notebook widget, not a stream
        from sentence_transformers.base import model_card as card
    saved = getattr(card, "tqdm", None)
    if saved is not None:
        card.tqdm = functools.partial(saved, disable=True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            yield
    finally:
        if saved is not None:
            card.tqdm = saved


@contextlib.contextmanager
def _scratch_dir():
    """A temporary folder that is also the working directory (the trainers and ``fit`` write relative
    paths); the caller's working directory is restored and the folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sbert_lessons_ch06_") as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def _args(cls: Any, rec: Recipe, output_dir: Path, n: int, evaluate: bool, **extra: Any) -> Any:
    """Training arguments for ``rec``: checkpoints off, no reporting, no progress bars, loss every step."""
    kw: dict[str, Any] = {
        "output_dir": str(output_dir), "num_train_epochs": rec.epochs, "per_device_train_batch_size": rec.batch_size,
        "per_device_eval_batch_size": 64, "learning_rate": rec.lr, "weight_decay": rec.weight_decay,
        "warmup_steps": rec.warmup_steps(n), "max_grad_norm": rec.max_grad_norm or 0.0, "seed": rec.seed,
        "data_seed": rec.seed, "logging_steps": 1, "save_strategy": "no", "report_to": "none", "disable_tqdm": True,
        "eval_strategy": "steps" if evaluate and rec.eval_every else "no", "dataloader_num_workers": 0,
    }
    if evaluate and rec.eval_every:
        kw["eval_steps"] = rec.eval_every
    if get_device() == "cpu":
        kw["use_cpu"] = True
    kw.update(extra)
    return cls(**kw)


def history_frame(history: list[dict]) -> Any:
    """The trainer's ``log_history`` as a frame: ``step``, ``loss`` and any ``eval_*`` metric."""
    import pandas as pd

    rows = [{k: v for k, v in h.items() if k == "step" or k == "loss" or k.startswith("eval_")}
            for h in history if "step" in h]
    return pd.DataFrame(rows).groupby("step", as_index=False).first() if rows else pd.DataFrame()


def _dev_evaluator(dev: Any, name: str = "stsb-dev") -> Any:
    try:
        from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    except ImportError:  # pragma: no cover - 6.0 / 6.1
        from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator
    return EmbeddingSimilarityEvaluator(list(dev["sentence1"]), list(dev["sentence2"]),
                                        [float(s) / training.SCORE_MAX for s in dev["score"]], name=name,
                                        show_progress_bar=False)


def _mine(ds: Any, model: Any, rec: Recipe) -> Any:
    """(anchor, positive, negative) triplets: for each anchor, the most similar other positive (among the
    ``range_max`` nearest) that is not within ``relative_margin`` of the true positive's score."""
    from sentence_transformers.util import mine_hard_negatives

    return mine_hard_negatives(ds, model, anchor_column_name="anchor", positive_column_name="positive",
                               range_max=int(rec.option("range_max", 10)),
                               relative_margin=float(rec.option("relative_margin", 0.05)),
                               num_negatives=1, sampling_strategy="top", batch_size=64, verbose=False)


def _train_dataset(rec: Recipe, prof: Profile):
    """The training ``Dataset`` of ``rec`` (before any mining)."""
    if rec.data == "stsb":
        train_df = data.load("stsb", "train", prof.name)
        return stsb_dataset(train_df, rec.n_train, loss=rec.loss)
    if rec.data == "snli_pairs":
        pairs = snli_pairs(prof)
        if rec.n_train is not None:
            pairs = pairs.iloc[:rec.n_train]
        return pairs_dataset({"anchor": list(pairs["anchor"]), "positive": list(pairs["positive"])})
    raise ValueError(f"recipe data {rec.data!r} is not a chapter-6 training set")


def _key(kind: str, prof: Profile, rec: Recipe, ds: Any, dev: Any) -> dict:
    return {"kind": kind, "profile": prof.name, "recipe": rec.key_fields(), "base_model": models.MINILM,
            "base_sha256": models.REGISTRY[models.MINILM].sha256,
            "data": cache.texts_hash([str(v) for c in ds.column_names for v in ds[c]]),
            "dev": None if dev is None else cache.texts_hash([str(v) for c in dev.columns for v in dev[c]]),
            "format": 1}


def fresh_bi_encoder(prof: Profile | str | None, rec: Recipe):
    """all-MiniLM-L6-v2 as shipped (a fresh copy from the registry), reading ``rec.max_length`` tokens."""
    prof = _prof(prof)
    model = models.load_sentence_model(models.MINILM, device=prof.device)
    model.max_seq_length = rec.max_length
    return model


def cached_run(kind: str, profile: Profile | str | None, rec: Recipe, ds: Any, run: Any) -> dict:
    """The result of ``run(scratch_folder)`` (a JSON-able dict, e.g. per-step losses), computed once per
    (kind, profile, recipe, data) and kept in the model cache; ``run`` only runs on a miss, inside a
    temporary working folder, with the trainers' console chatter hidden."""
    if not callable(run):
        raise TypeError(f"run must be a function run(folder) -> dict, got {type(run).__name__}")
    prof = _prof(profile)
    if not isinstance(rec, Recipe):
        raise TypeError(f"rec must be a training.Recipe, got {type(rec).__name__}")
    key = _key(f"run_{kind}", prof, rec, ds, None)

    def train(folder: Path) -> None:
        start = time.perf_counter()
        seed_everything(rec.seed)
        with _scratch_dir() as tmp, quiet():
            result = run(tmp)
        if not isinstance(result, dict):
            raise TypeError(f"run must return a dict, got {type(result).__name__}")
        (folder / "result.json").write_text(json.dumps(result))
        (folder / "train_seconds.json").write_text(json.dumps(time.perf_counter() - start))

    folder = cache.cached_model(f"ch06_run_{kind}", key, train)
    return trained.read_json(folder, "result.json")


IN_BATCH_NEGATIVE_LOSSES = ("mnrl", "mnrl_hard", "cached_mnrl")


def training_arguments(rec: Recipe, output_dir: str | Path, evaluator: Any = None, **extra: Any) -> Any:
    """``SentenceTransformerTrainingArguments`` for ``rec``: the same code as the key cell of chapter 6.

    The trainer builds its own optimizer and schedule from these arguments (AdamW at ``rec.lr``, linear
    warm-up over ``rec.warmup_fraction`` of the steps, then linear decay). With an ``evaluator`` it
    evaluates (and saves a checkpoint) every ``rec.eval_every`` steps and reloads the best checkpoint by
    the evaluator's primary metric at the end. ``extra`` overrides any argument.
    """
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    if not isinstance(rec, Recipe):
        raise TypeError(f"rec must be a training.Recipe, got {type(rec).__name__}")
    evaluate = evaluator is not None and rec.eval_every is not None
    kw: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": rec.epochs,
        "per_device_train_batch_size": rec.batch_size,
        "learning_rate": rec.lr,
        "warmup_steps": rec.warmup_fraction,  # a float below 1: that fraction of all steps
        "weight_decay": rec.weight_decay,
        "max_grad_norm": rec.max_grad_norm or 0.0,
        "seed": rec.seed,
        "batch_sampler": (BatchSamplers.NO_DUPLICATES if rec.loss in IN_BATCH_NEGATIVE_LOSSES
                       else BatchSamplers.BATCH_SAMPLER),
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": rec.eval_every if evaluate else None,
        "save_strategy": "steps" if evaluate else "no",
        "save_steps": rec.eval_every if evaluate else None,
        "save_only_model": True,
        "load_best_model_at_end": evaluate,
        "metric_for_best_model": f"eval_{evaluator.name}_spearman_cosine" if evaluate else None,
        "per_device_eval_batch_size": 64,
        "logging_steps": 1,
        "report_to": "none",
        "disable_tqdm": True,
    }
    kw.update(extra)
    return SentenceTransformerTrainingArguments(**kw)


def build_trainer(model: Any, rec: Recipe, train_dataset: Any, loss: Any, output_dir: str | Path,
                  eval_dataset: Any = None, evaluator: Any = None, **extra: Any) -> Any:
    """``SentenceTransformerTrainer`` with :func:`training_arguments`: chapter 6's key cell, for the
    chapters that load its models without running its page. No ``optimizers=``: the arguments decide."""
    from sentence_transformers import SentenceTransformerTrainer

    args = training_arguments(rec, output_dir, evaluator, **extra)
    return SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset,
                                      eval_dataset=eval_dataset if args.eval_strategy != "no" else None,
                                      loss=loss, evaluator=evaluator)


def dev_dataset(dev: Any, loss: str | None = "cosine") -> Any:
    """STS-B dev pairs as a ``Dataset`` for the trainer's eval loss (``sentence1, sentence2, label``)."""
    return stsb_dataset(dev, None, loss=loss if loss in ("cosine", "cosent", "angle") else None)


def train_bi_encoder(name: str, profile: Profile | str | None = None, rec: Recipe | None = None,
                     with_dev: bool = True, build: Any = None, seed: int | None = None) -> Path:
    """Folder of all-MiniLM-L6-v2 trained by ``SentenceTransformerTrainer`` with recipe ``name``
    (or ``rec``, at ``seed`` if given), trained once per (profile, recipe, data, dev set), then loaded
    from the cache.

    ``build(model, rec, train_dataset, loss, output_dir, eval_dataset, evaluator)`` returns the trainer;
    it defaults to :func:`build_trainer` (chapter 6 passes the function its key cell defines, the same
    code). It runs only when the model is not cached. The folder holds the model, ``history.json`` (the
    trainer's log: loss every step, eval loss and dev Spearman every ``eval_every`` steps) and
    ``train_seconds.json``.
    """
    prof = _prof(profile)
    rec = rec or recipe(name, prof)
    if not isinstance(rec, Recipe):
        raise TypeError(f"rec must be a training.Recipe, got {type(rec).__name__}")
    if seed is not None:
        rec = training.with_overrides(rec, seed=seed)
    build = build or build_trainer
    if not callable(build):
        raise TypeError(f"build must be a function returning a trainer, got {type(build).__name__}")
    ds = _train_dataset(rec, prof)
    dev = stsb_dev(prof) if with_dev else None
    key = _key("bi_encoder_trainer", prof, rec, ds, dev)
    key["format"] = 2  # 2: the trainer's own optimizer and schedule, eval loss, best checkpoint reloaded

    def train(folder: Path) -> None:
        start = time.perf_counter()
        seed_everything(rec.seed)
        model = fresh_bi_encoder(prof, rec)
        loss = make_loss(model, rec)
        train_ds = ds
        if rec.loss == "mnrl_hard":  # negatives mined by the untuned model itself, kept beside the model
            with quiet():
                train_ds = _mine(ds, model, rec)
                train_ds.to_json(str(folder / "mined.jsonl"))
        with _scratch_dir() as tmp, quiet():
            evaluator = _dev_evaluator(dev) if dev is not None else None
            eval_ds = dev_dataset(dev, rec.loss) if dev is not None else None
            trainer = build(model, rec, train_ds, loss, tmp / "out", eval_ds, evaluator)
            trainer.train()
            history = trainer.state.log_history
            best = trainer.state.best_model_checkpoint
        model.save_pretrained(str(folder))
        (folder / "history.json").write_text(json.dumps(history))
        (folder / "best_step.json").write_text(json.dumps(
            None if best is None else int(Path(best).name.split("-")[-1])))
        (folder / "train_seconds.json").write_text(json.dumps(time.perf_counter() - start))

    tag = name if rec.seed == 0 else f"{name}_seed{rec.seed}"  # seed 0 keeps the folder other chapters load
    return cache.cached_model(f"ch06_{tag}", key, train)


def load_bi_encoder(name: str, profile: Profile | str | None = None, rec: Recipe | None = None,
                    with_dev: bool = True, device: str | None = None, build: Any = None,
                    seed: int | None = None):
    """``(model, history, seconds)`` of :func:`train_bi_encoder`; the model carries a cache fingerprint."""
    prof = _prof(profile)
    folder = train_bi_encoder(name, prof, rec, with_dev, build=build, seed=seed)
    model = trained.load_sentence_transformer(folder, f"trained:ch06_{name}/{folder.name}",
                                              device or prof.device)
    return model, trained.read_json(folder, "history.json", []), trained.read_json(folder, "train_seconds.json")


def load_matryoshka(profile: Profile | str | None = None, device: str | None = None):
    """Chapter 6's Matryoshka model (MiniLM-L6 + ``MatryoshkaLoss`` over CoSENT on STS-B, dimensions
    384/256/128/64), trained once per profile and then loaded from the cache: the model of chapter 6's
    section 6 (trained without a dev evaluator, ``with_dev=False``), the one the page measures."""
    return load_bi_encoder("matryoshka", profile, device=device, with_dev=False)[0]


def train_cross_encoder_trainer(profile: Profile | str | None = None, rec: Recipe | None = None) -> Path:
    """Folder of a cross-encoder trained by ``CrossEncoderTrainer`` with ``BinaryCrossEntropyLoss`` on
    chapter 3's recipe (its optimizer, head learning rate and warm-up from ``training.make_optimizer``)."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    prof = _prof(profile)
    rec = rec or recipe("cross_encoder", prof)
    ds = _train_dataset(rec, prof)
    key = _key("cross_encoder_trainer", prof, rec, ds, None)

    def train(folder: Path) -> None:
        start = time.perf_counter()
        seed_everything(rec.seed)
        model = training._new_cross_encoder(prof, rec)
        opt, sched = training.make_optimizer(model.model, rec, len(ds), head_prefix="classifier")
        with _scratch_dir() as tmp, quiet():
            args = _args(CrossEncoderTrainingArguments, rec, tmp / "out", len(ds), False)
            trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=ds,
                                          loss=BinaryCrossEntropyLoss(model), optimizers=(opt, sched))
            trainer.train()
            history = trainer.state.log_history
        model.save(str(folder))
        (folder / "history.json").write_text(json.dumps(history))
        (folder / "train_seconds.json").write_text(json.dumps(time.perf_counter() - start))

    return cache.cached_model("ch06_cross_encoder_trainer", key, train)


def load_cross_encoder_trainer(profile: Profile | str | None = None, rec: Recipe | None = None,
                               device: str | None = None):
    """``(cross_encoder, seconds)`` of :func:`train_cross_encoder_trainer`."""
    from sentence_transformers.cross_encoder import CrossEncoder

    prof = _prof(profile)
    folder = train_cross_encoder_trainer(prof, rec)
    seconds = json.loads((folder / "train_seconds.json").read_text())
    return CrossEncoder(str(folder), device=get_device(device or prof.device)), seconds


# ---------------------------------------------------------------------------------- the tutorials' fit
def legacy_fit(model: Any, examples: Sequence[Any], *, epochs: int, warmup_steps: int | None = None,
               batch_size: int = 16, lr: float = 2e-5, seed: int = 0) -> None:
    """The tutorials' recipe: ``DataLoader(InputExample...)`` + ``CosineSimilarityLoss`` + ``model.fit``.

    ``warmup_steps=None`` keeps ``fit``'s own default (10,000 steps). ``fit`` writes checkpoints relative
    to the working directory, so it runs inside a temporary one, and its console chatter is hidden.
    """
    import torch
    from torch.utils.data import DataLoader

    training._check_int("epochs", epochs, 1)
    training._check_int("warmup_steps", warmup_steps, 0, allow_none=True)
    training._check_int("batch_size", batch_size, 1)
    examples = list(examples)
    if not examples:
        raise ValueError("legacy_fit got no training examples")
    seed_everything(seed)
    loader = DataLoader(examples, shuffle=True, batch_size=batch_size,
                        generator=torch.Generator().manual_seed(seed))
    loss = _st_losses().CosineSimilarityLoss(model)
    kw: dict[str, Any] = {} if warmup_steps is None else {"warmup_steps": warmup_steps}
    with _scratch_dir(), quiet():
        model.fit(train_objectives=[(loader, loss)], epochs=epochs, optimizer_params={"lr": lr},
                  show_progress_bar=False, **kw)


# ----------------------------------------------------------------------------------------- transfer
def truncate(emb: Any, dim: int) -> np.ndarray:
    """The first ``dim`` coordinates of each row, L2-normalised again (Matryoshka truncation)."""
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"truncate expects an (n, d) array, got shape {emb.shape}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= emb.shape[1]:
        raise ValueError(f"dim must be an integer in [1, {emb.shape[1]}], got {dim!r}")
    out = emb[:, :dim]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def scifact_transfer(profile: Profile | str | None = None, seed: int = 0) -> data.SciFact:
    """SciFact test for the transfer table: whole in ``full``; in ``smoke`` a seeded sample of
    :data:`SIZES` ``scifact_queries`` queries, every document judged for them, and seeded distractors
    up to ``scifact_docs`` documents."""
    import pandas as pd

    prof = _prof(profile)
    sf = data.load_scifact("test")
    nq, nd = size("scifact_queries", prof), size("scifact_docs", prof)
    if nq is None and nd is None:
        return sf
    queries = sf.queries.sample(n=min(nq, len(sf.queries)), random_state=seed).sort_index()
    qrels = {q: sf.qrels[q] for q in queries["_id"]}
    judged = {d for docs in qrels.values() for d in docs}
    is_judged = sf.corpus["_id"].isin(judged)
    others = sf.corpus[~is_judged].sample(n=max(0, nd - int(is_judged.sum())), random_state=seed)
    corpus = pd.concat([sf.corpus[is_judged], others]).sort_index().reset_index(drop=True)
    return data.SciFact(corpus=corpus, queries=queries.reset_index(drop=True), qrels=qrels)


def scifact_ndcg10(model: Any, sf: data.SciFact, max_seq_length: int) -> float:
    """nDCG@10 of ``model`` on ``sf`` (cosine, exact search; documents are ``title + text`` read up to
    ``max_seq_length`` tokens), every text encoded through ``cache.encode``."""
    from . import evaluation, search

    saved = model.max_seq_length
    model.max_seq_length = max_seq_length
    try:
        docs = cache.encode(model, search.scifact_doc_texts(sf.corpus), batch_size=32)
        qs = cache.encode(model, search.scifact_query_texts(sf.queries))
    finally:
        model.max_seq_length = saved
    scores, ids = search.exact_topk(qs, docs, top_k=10)
    run = search.topk_to_run(ids, scores, list(sf.queries["_id"]), list(sf.corpus["_id"]))
    return evaluation.ndcg_at_k(run, sf.qrels, k=10)


def clinc_domains(profile: Profile | str | None = None, seed: int = 0) -> Any:
    """CLINC150 in-scope test utterances with their domain (10 domains): all in ``full``, a seeded
    sample of :data:`SIZES` ``clinc`` in ``smoke``."""
    df = data.load_clinc150("test")
    df = df[df["domain"] != "oos"].reset_index(drop=True)
    return data.sample_rows(df, size("clinc", profile), seed=seed)


def clinc_domain_nmi(model: Any, df: Any, seed: int = 0) -> float:
    """NMI between k-means clusters (k = number of domains) of the utterances' embeddings and the domains."""
    from . import clustering

    emb = cache.encode(model, list(df["text"]))
    k = df["domain"].nunique()
    return clustering.normalized_mutual_info(list(df["domain"]), clustering.kmeans(emb, k, seed=seed))
