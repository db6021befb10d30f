"""A relevance cross-encoder for SciFact: trained on the BEIR *train* claims, used to re-rank.

Chapter 7 introduces it (re-ranking BM25's top 100, as the BEIR paper measures re-rankers); chapter 8 can
reuse the same model as AugSBERT's teacher. The recipe is the library's cross-encoder recipe for
retrieval: a one-logit MiniLM cross-encoder (``CrossEncoder(num_labels=1)``), ``BinaryCrossEntropyLoss`` on
(claim, abstract, label) rows, the judged abstracts of a claim as positives and BM25's highest-ranked
*unjudged* abstracts as hard negatives, trained by ``CrossEncoderTrainer``. It starts from chapter 3's STS-B
cross-encoder (``start="stsb_cross_encoder"``), so that the only difference between the two models is the
relevance training; ``start="minilm"`` starts from all-MiniLM-L6-v2's weights with a new head instead.
The trained model is cached once per (profile, recipe, data) through :func:`sbert_lessons.cache.cached_model`,
like the course's other trained models.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import cache, data, models, trained
from .profile import Profile, get_device, get_profile
from .profile import active as active_profile

__all__ = [
    "RelevanceRecipe",
    "load_relevance_cross_encoder",
    "relevance_recipe",
    "train_claim_split",
    "train_relevance_cross_encoder",
    "training_rows",
]


STARTS = ("stsb_cross_encoder", "minilm")


@dataclass(frozen=True)
class RelevanceRecipe:
    """Everything that changes the trained re-ranker (all of it enters the cache key)."""

    n_claims: int | None      # SciFact train claims used for training (None: all 809)
    negatives: int            # BM25 hard negatives per claim (highest-ranked unjudged abstracts)
    random_negatives: int     # unjudged abstracts drawn at random per claim (easy negatives)
    epochs: int
    batch_size: int
    lr: float
    warmup_ratio: float
    max_length: int           # tokens of (claim, abstract) the model reads; the rest is cut off
    seed: int = 0
    base_model: str = models.MINILM
    start: str = "stsb_cross_encoder"  # or "minilm": the base model's weights with a new one-logit head
    loss: str = "BinaryCrossEntropyLoss"

    def __post_init__(self) -> None:
        if self.n_claims is not None and (isinstance(self.n_claims, bool) or not isinstance(self.n_claims, int)
                                          or self.n_claims < 1):
            raise ValueError(f"n_claims must be a positive integer or None, got {self.n_claims!r}")
        for name in ("negatives", "epochs", "batch_size", "max_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        v = self.random_negatives
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"random_negatives must be an integer >= 0, got {v!r}")
        if not (isinstance(self.lr, float) and 0 < self.lr < 1):
            raise ValueError(f"lr must be a float in (0, 1), got {self.lr!r}")
        if not (isinstance(self.warmup_ratio, float) and 0 <= self.warmup_ratio < 1):
            raise ValueError(f"warmup_ratio must be a float in [0, 1), got {self.warmup_ratio!r}")
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}")


def _prof(profile: Profile | str | None) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile is None:
        return active_profile()
    return Profile(name=get_profile(profile), device=get_device())


def relevance_recipe(profile: Profile | str | None = None) -> RelevanceRecipe:
    """The course's recipe: a small slice in ``smoke`` (CPU minutes), every train claim in ``full``."""
    prof = _prof(profile)
    if prof.is_smoke:
        return RelevanceRecipe(n_claims=80, negatives=1, random_negatives=2, epochs=2, batch_size=16, lr=3e-5,
                               warmup_ratio=0.1, max_length=128, seed=prof.seed)
    return RelevanceRecipe(n_claims=None, negatives=4, random_negatives=3, epochs=2, batch_size=32, lr=2e-5,
                           warmup_ratio=0.1, max_length=512, seed=prof.seed)


def train_claim_split(sf_train: data.SciFact, n_claims: int | None, seed: int = 0,
                      test: data.SciFact | None = None) -> list[str]:
    """The ids of the train claims a recipe trains on: all, or a seeded sample of ``n_claims``, without any
    claim whose text is also a test claim (:func:`data.scifact_test_twins`; ``test``: SciFact's test split
    when None).

    The twins are dropped *after* the seeded sample is drawn, so a sample without twins is the same as
    before this guard."""
    ids = sorted(q for q in sf_train.queries["_id"].astype(str) if sf_train.qrels.get(q))
    if not ids:
        raise ValueError("the SciFact train split has no judged claims")
    if n_claims is not None and n_claims < len(ids):
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=n_claims, replace=False).tolist())
    twins = set(data.scifact_test_twins(sf_train, test))
    return [q for q in ids if q not in twins]


def training_rows(sf_train: data.SciFact, rec: RelevanceRecipe) -> dict[str, list]:
    """``{"query", "passage", "label"}`` columns: each judged abstract of a claim (label 1), the claim's
    ``rec.negatives`` highest-ranked unjudged abstracts by BM25 over the whole corpus (hard negatives, label
    0) and ``rec.random_negatives`` unjudged abstracts drawn at random (easy negatives, label 0).

    An unjudged abstract is not proven irrelevant (SciFact judged few abstracts per claim), so some hard
    negatives may be false ones; BM25's top ranks are where they are most likely, and also where a
    re-ranker must learn to tell the difference.
    """
    from .search import bm25_search, scifact_doc_texts, scifact_query_texts

    claim_ids = train_claim_split(sf_train, rec.n_claims, rec.seed)
    queries = sf_train.queries.set_index(sf_train.queries["_id"].astype(str)).loc[claim_ids].reset_index(drop=True)
    doc_ids = sf_train.corpus["_id"].astype(str).tolist()
    doc_texts = scifact_doc_texts(sf_train.corpus)
    q_texts = scifact_query_texts(queries)
    _, idx = bm25_search(doc_texts, q_texts, top_k=min(len(doc_ids), rec.negatives + 20))
    rows: dict[str, list] = {"query": [], "passage": [], "label": []}
    by_id = dict(zip(doc_ids, doc_texts))
    rng = np.random.default_rng(rec.seed)
    for qid, qtext, ranked in zip(claim_ids, q_texts, idx):
        judged = sf_train.qrels[qid]
        for d, rel in judged.items():
            if rel > 0 and d in by_id:
                rows["query"].append(qtext), rows["passage"].append(by_id[d]), rows["label"].append(1.0)
        negs = [doc_ids[i] for i in ranked if doc_ids[i] not in judged][: rec.negatives]
        taken = set(negs) | set(judged)
        while len(negs) < rec.negatives + rec.random_negatives and len(taken) < len(doc_ids):
            d = doc_ids[int(rng.integers(len(doc_ids)))]
            if d not in taken:
                negs.append(d)
                taken.add(d)
        for d in negs:
            rows["query"].append(qtext), rows["passage"].append(by_id[d]), rows["label"].append(0.0)
    return rows


def _start_folder(prof: Profile, rec: RelevanceRecipe) -> Path:
    """The model training starts from: chapter 3's STS-B cross-encoder (cached) or the base weights."""
    if rec.start == "stsb_cross_encoder":
        from . import training

        return training.train_cross_encoder(prof)
    return models.model_path(rec.base_model)


def _key(prof: Profile, rec: RelevanceRecipe, rows: dict[str, list], start: Path) -> dict:
    return {"kind": "ch07_relevance_cross_encoder", "profile": prof.name, "recipe": asdict(rec),
            "base_sha256": models.REGISTRY[rec.base_model].sha256,
            "start_folder": start.name if rec.start != "minilm" else None,
            "data": cache.texts_hash(rows["query"] + rows["passage"] + [f"{x:g}" for x in rows["label"]]),
            "n_rows": len(rows["label"]), "format": 1}


def train_relevance_cross_encoder(profile: Profile | str | None = None, rec: RelevanceRecipe | None = None,
                                  sf_train: data.SciFact | None = None) -> Path:
    """Folder of the relevance cross-encoder, trained once by ``CrossEncoderTrainer`` and then cached.

    The folder holds the model, ``history.json`` (the trainer's loss log) and ``train_seconds.json``.
    """
    prof = _prof(profile)
    rec = rec or relevance_recipe(prof)
    if not isinstance(rec, RelevanceRecipe):
        raise TypeError(f"rec must be a reranking.RelevanceRecipe, got {type(rec).__name__}")
    sf_train = sf_train if sf_train is not None else data.load_scifact("train")
    rows = training_rows(sf_train, rec)
    start_folder = _start_folder(prof, rec)

    def train(folder: Path) -> None:
        import contextlib
        import io
        import os
        import tempfile

        import transformers
        from datasets import Dataset
        from sentence_transformers.cross_encoder import (
            CrossEncoder,
            CrossEncoderTrainer,
            CrossEncoderTrainingArguments,
        )
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

        start = time.perf_counter()
        transformers.set_seed(rec.seed)
        model = CrossEncoder(str(start_folder), num_labels=1, max_length=rec.max_length,
                             device=get_device(prof.device))
        ds = Dataset.from_dict(rows).shuffle(seed=rec.seed)
        with tempfile.TemporaryDirectory(prefix="sbert_lessons_ch07_") as tmp:
            args = CrossEncoderTrainingArguments(
                output_dir=tmp, num_train_epochs=rec.epochs, per_device_train_batch_size=rec.batch_size,
                learning_rate=rec.lr, warmup_ratio=rec.warmup_ratio, seed=rec.seed, data_seed=rec.seed,
                logging_steps=5, save_strategy="no", report_to="none", disable_tqdm=True,
                dataloader_num_workers=0, use_cpu=get_device(prof.device) == "cpu")
            trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=ds,
                                          loss=BinaryCrossEntropyLoss(model))
            old = os.getcwd()
            os.chdir(tmp)  # the trainer may write relative paths
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # a metrics dict printed per log step
                    trainer.train()
            finally:
                os.chdir(old)
            history = trainer.state.log_history
        model.save(str(folder))
        (folder / "history.json").write_text(json.dumps(history))
        (folder / "train_seconds.json").write_text(json.dumps(time.perf_counter() - start))

    return cache.cached_model("ch07_relevance_cross_encoder", _key(prof, rec, rows, start_folder), train)


def load_relevance_cross_encoder(profile: Profile | str | None = None, rec: RelevanceRecipe | None = None,
                                 device: str | None = None):
    """``(cross_encoder, train_seconds)`` of :func:`train_relevance_cross_encoder` (trained on first use)."""
    from sentence_transformers.cross_encoder import CrossEncoder

    prof = _prof(profile)
    rec = rec or relevance_recipe(prof)
    folder = train_relevance_cross_encoder(prof, rec)
    seconds = trained.read_json(folder, "train_seconds.json")
    return CrossEncoder(str(folder), max_length=rec.max_length, device=get_device(device or prof.device)), seconds
