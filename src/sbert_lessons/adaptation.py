"""Domain adaptation of a sentence encoder to scientific claims (introduced in chapter 8).

all-MiniLM-L6-v2 was trained on general web text. Chapter 8 adapts it to SciFact (claims vs paper
abstracts) five ways and measures each on SciFact's *test* queries and on STS-B:

* supervised: MNRL on SciFact's *train* claims and the abstracts they cite (:func:`scifact_train_pairs`,
  which refuses any overlap with the test queries, :func:`check_disjoint`), then the same with one hard
  negative per claim mined from the corpus (:func:`mine_hard_negatives`);
* without labels: SimCSE (:func:`simcse_pairs`: each text twice, dropout makes the two views differ) and
  TSDAE (the library's ``DenoisingAutoEncoderLoss`` fed by the course's own deletion noise,
  :func:`delete_noise`, because the library's noise function needs ``nltk``, which the course does not
  install), watched while it trains by a :class:`RetrievalProbe` (nDCG@10 and the spread of the abstracts
  every few steps, :func:`training_trace`), with the decoder's randomly initialised part counted by
  :func:`tsdae_fresh_parameters`;
* TSDAE as its authors place it for adaptation: TSDAE on the corpus first, then the same MNRL training
  (variant ``tsdae_mnrl``: :func:`train_variant` with ``start=`` the TSDAE model's folder);
* AugSBERT: a few gold (claim, abstract, 0/1) rows, and (claim, abstract) pairs sampled by retrieval
  (:func:`silver_candidates`) labelled by a cross-encoder that was trained on the task's own labels
  (chapter 7's relevance cross-encoder, :mod:`sbert_lessons.reranking`); the bi-encoder learns gold
  alone (``augsbert_gold``) or gold + silver (``augsbert``) with the cosine-similarity objective.

Every model is trained once per (profile, variant, recipe, data) through
:func:`sbert_lessons.cache.cached_model` (:func:`train_variant`, :func:`load_variant`); the sizes of each
profile live in :data:`SIZES`. Training is a short plain loop (:func:`fit_with_loss`) that calls the
library's own loss modules on tokenized batches, with chapter 3's optimiser and schedule.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cache, data, models, trained, training
from .profile import Profile, get_device, seed_everything

__all__ = [
    "SIZES",
    "VARIANTS",
    "AdaptSizes",
    "RetrievalProbe",
    "check_disjoint",
    "delete_noise",
    "doc_texts",
    "eval_corpus",
    "fit_with_loss",
    "hub_reachable",
    "last_training_seconds",
    "load_variant",
    "mine_hard_negatives",
    "probe_set",
    "probe_steps_for",
    "recipe_for",
    "scifact_ndcg",
    "scifact_run",
    "scifact_train_pairs",
    "silver_candidates",
    "simcse_pairs",
    "sizes_for",
    "teacher_agreement",
    "train_variant",
    "training_trace",
    "tsdae_fresh_parameters",
    "tsdae_pairs",
    "with_max_length",
    "without_test_claims",
]

VARIANTS = ("mnrl", "mnrl_hard", "simcse", "tsdae", "tsdae_mnrl", "augsbert_gold", "augsbert")


@dataclass(frozen=True)
class AdaptSizes:
    """How much of SciFact one profile uses (``None`` = all of it)."""

    max_seq_length: int          # tokens per text, in training and in the SciFact evaluation
    eval_docs: int | None        # evaluation corpus: every judged test document plus seeded distractors
    n_train_pairs: int | None    # (train claim, cited abstract) pairs for MNRL
    n_unlabelled: int | None     # corpus texts for SimCSE and TSDAE
    n_silver_claims: int | None  # train claims whose retrieved abstracts the cross-encoder labels
    silver_k: int                # retrieved abstracts per claim for AugSBERT
    hard_skip: int               # mined negatives skip this many top-ranked non-positives (false negatives)
    probe_docs: int = 500        # abstracts (every judged one plus distractors) of the TSDAE training probe
    n_simcse: int | None = None  # of the unlabelled abstracts, how many SimCSE trains on (None: all)
    n_tsdae: int | None = None   # of the unlabelled abstracts, how many TSDAE trains on (None: all)
    n_gold_claims: int | None = None  # AugSBERT's gold claims (first of the train pairs; None: all)
    seeds: tuple[int, ...] = (0,)  # training seeds of the TSDAE -> MNRL against MNRL comparison

    def __post_init__(self) -> None:
        if not (isinstance(self.max_seq_length, int) and self.max_seq_length >= 16):
            raise ValueError(f"max_seq_length must be an integer >= 16, got {self.max_seq_length!r}")
        for name in ("eval_docs", "n_train_pairs", "n_unlabelled", "n_silver_claims", "n_simcse", "n_tsdae",
                     "n_gold_claims"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int) and v >= 2):
                raise ValueError(f"{name} must be None or an integer >= 2, got {v!r}")
        if not (isinstance(self.silver_k, int) and self.silver_k >= 1):
            raise ValueError(f"silver_k must be a positive integer, got {self.silver_k!r}")
        if not (isinstance(self.hard_skip, int) and self.hard_skip >= 0):
            raise ValueError(f"hard_skip must be a non-negative integer, got {self.hard_skip!r}")
        if not (isinstance(self.probe_docs, int) and self.probe_docs >= 2):
            raise ValueError(f"probe_docs must be an integer >= 2, got {self.probe_docs!r}")
        if not (isinstance(self.seeds, tuple) and self.seeds and len(set(self.seeds)) == len(self.seeds)
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in self.seeds)):
            raise ValueError(f"seeds must be a non-empty tuple of distinct non-negative integers, got {self.seeds!r}")


#: The one place where chapter 8's sizes are set. Smoke: short texts (64 tokens: the title and the first
#: lines of an abstract) and a few hundred examples (SimCSE and TSDAE on 128 abstracts, AugSBERT on 64 gold
#: and 64 silver claims), one training seed, so that the models train and are evaluated in a few CPU
#: minutes. Full: the whole corpus and every train claim at 256 tokens; TSDAE -> MNRL against MNRL at
#: three seeds; AugSBERT's gold is a quarter of the train claims and its silver the other three quarters
#: (AugSBERT is a remedy for scarce gold).
SIZES: dict[str, AdaptSizes] = {
    "smoke": AdaptSizes(max_seq_length=64, eval_docs=500, n_train_pairs=256, n_unlabelled=640,
                        n_silver_claims=64, silver_k=5, hard_skip=3, n_simcse=128, n_tsdae=128,
                        n_gold_claims=64, seeds=(0,)),
    "full": AdaptSizes(max_seq_length=256, eval_docs=None, n_train_pairs=None, n_unlabelled=None,
                       n_silver_claims=None, silver_k=5, hard_skip=3, n_gold_claims=200, seeds=(0, 1, 2)),
}

#: Recipes per variant and profile (chapter 3's :class:`training.Recipe`). TSDAE's learning rate and
#: batch size are the TSDAE paper's (3e-5, 8); the others use the library's usual MNRL settings.
_RECIPES: dict[str, dict[str, training.Recipe]] = {
    "mnrl": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
             "full": training.Recipe(epochs=3, batch_size=32, lr=2e-5, max_length=256)},
    "mnrl_hard": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
                  "full": training.Recipe(epochs=3, batch_size=32, lr=2e-5, max_length=256)},
    "simcse": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
               "full": training.Recipe(epochs=1, batch_size=32, lr=2e-5, max_length=256)},
    "tsdae": {"smoke": training.Recipe(epochs=1, batch_size=8, lr=3e-5, max_length=64),
              "full": training.Recipe(epochs=1, batch_size=8, lr=3e-5, max_length=256)},
    "tsdae_mnrl": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
                   "full": training.Recipe(epochs=3, batch_size=32, lr=2e-5, max_length=256)},
    "augsbert_gold": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
                      "full": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=256)},
    "augsbert": {"smoke": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=64),
                 "full": training.Recipe(epochs=1, batch_size=16, lr=2e-5, max_length=256)},
}


def _profile_name(profile: Profile | str | None) -> str:
    from .profile import active, get_profile

    if profile is None:
        return active().name
    if isinstance(profile, Profile):
        return profile.name
    if isinstance(profile, str):
        return get_profile(profile)
    raise TypeError(f"profile must be a Profile, a profile name or None, got {type(profile).__name__}")


def sizes_for(profile: Profile | str | None = None) -> AdaptSizes:
    """Chapter 8's sizes for ``profile`` (see :data:`SIZES`)."""
    return SIZES[_profile_name(profile)]


def recipe_for(variant: str, profile: Profile | str | None = None) -> training.Recipe:
    """The training recipe of ``variant`` (one of :data:`VARIANTS`) in ``profile``."""
    if variant not in _RECIPES:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    return _RECIPES[variant][_profile_name(profile)]


# ------------------------------------------------------------------------------------------ data
def doc_texts(corpus: pd.DataFrame) -> list[str]:
    """One text per SciFact abstract, chapter 7's definition (:func:`search.scifact_doc_texts`), so that
    chapter 8 hits the embedding-cache entries of chapters 6 and 7."""
    from .search import scifact_doc_texts

    return scifact_doc_texts(corpus)


def check_disjoint(train: data.SciFact, test: data.SciFact) -> None:
    """Raise ``ValueError`` if any test query (by id or by text) or its qrels is among the train ones."""
    for name, sf in (("train", train), ("test", test)):
        if not isinstance(sf, data.SciFact):
            raise TypeError(f"{name} must be a data.SciFact, got {type(sf).__name__}")
    ids = set(train.qrels) & set(test.qrels)
    ids |= set(train.queries["_id"]) & set(test.queries["_id"])
    if ids:
        raise ValueError(f"{len(ids)} query id(s) are in both train and test, e.g. {sorted(ids)[:3]}: "
                         "a test query must never reach training")
    twins = data.scifact_test_twins(train, test)
    if twins:
        raise ValueError(f"{len(twins)} train claim(s) have the text of a test claim, e.g. id {twins[0]}: "
                         "drop them first (without_test_claims)")


def _check_scifact(sf: Any, name: str) -> None:
    if not isinstance(sf, data.SciFact):
        raise TypeError(f"{name} must be a data.SciFact (corpus, queries, qrels), got {type(sf).__name__}")


def without_test_claims(train: data.SciFact, test: data.SciFact) -> tuple[data.SciFact, list[str]]:
    """``train`` without the claims whose text is also a test claim (:func:`data.scifact_test_twins`), and
    the ids it dropped. Ids shared by both splits are not repaired here: :func:`check_disjoint` refuses them.
    """
    for name, sf in (("train", train), ("test", test)):
        if not isinstance(sf, data.SciFact):
            raise TypeError(f"{name} must be a data.SciFact, got {type(sf).__name__}")
    dropped = data.scifact_test_twins(train, test)
    keep = ~train.queries["_id"].astype(str).isin(dropped)
    qrels = {q: dict(d) for q, d in train.qrels.items() if str(q) not in set(dropped)}
    return data.SciFact(corpus=train.corpus, queries=train.queries[keep].reset_index(drop=True),
                        qrels=qrels), dropped


def scifact_train_pairs(train: data.SciFact, test: data.SciFact, n: int | None = None,
                        seed: int = 0) -> pd.DataFrame:
    """(train claim, cited abstract) pairs: columns ``query_id, doc_id, anchor, positive``.

    Built from the relevant judgements of ``train.qrels``, one pair per claim (a seeded choice among the
    abstracts it cites), so that MNRL never sees a claim's own second abstract as an in-batch "negative".
    ``test`` is required: train claims whose text is a test claim are dropped
    (:func:`without_test_claims`), then the disjointness of the two query sets is checked every time pairs
    are built. ``n`` keeps the first ``n`` pairs of that seeded order (all when None).
    """
    train, _ = without_test_claims(train, test)
    check_disjoint(train, test)
    text_of = dict(zip(train.corpus["_id"], doc_texts(train.corpus)))
    claim_of = dict(zip(train.queries["_id"], train.queries["text"]))
    rows = []
    for qid, docs in train.qrels.items():
        if qid not in claim_of:
            raise ValueError(f"train qrels name query {qid!r}, which is not among the train queries")
        for did, rel in sorted(docs.items()):
            if rel <= 0:
                continue
            if did not in text_of:
                raise ValueError(f"train qrels name document {did!r}, which is not in the corpus")
            rows.append((qid, did, claim_of[qid], text_of[did]))
    if not rows:
        raise ValueError("the train qrels hold no relevant (query, document) pair")
    df = pd.DataFrame(rows, columns=["query_id", "doc_id", "anchor", "positive"])
    df = df.sample(frac=1.0, random_state=seed).drop_duplicates("query_id").reset_index(drop=True)
    if n is not None:
        if isinstance(n, bool) or not (isinstance(n, int) and n >= 2):
            raise ValueError(f"n must be None or an integer >= 2, got {n!r}")
        if n > len(df):
            raise ValueError(f"n={n} pairs asked for, but the train qrels give only {len(df)} (one per claim): "
                             f"use n <= {len(df)}, or None for all")
        df = df.iloc[:n].reset_index(drop=True)
    return df


def eval_corpus(test: data.SciFact, profile: Profile | str | None = None, seed: int = 0) -> data.SciFact:
    """The evaluation set: all test queries; every judged abstract plus seeded distractors in smoke."""
    _check_scifact(test, "test")
    n_docs = sizes_for(profile).eval_docs
    if n_docs is None:
        return test
    return data.scifact_subset(test, "smoke", n_docs=n_docs, seed=seed)


def probe_set(test: data.SciFact, profile: Profile | str | None = None, seed: int = 0) -> data.SciFact:
    """The set :class:`RetrievalProbe` measures during training: all test claims, every judged abstract and
    seeded distractors up to ``probe_docs`` (in smoke the evaluation set itself, in full a part of it)."""
    _check_scifact(test, "test")
    return data.scifact_subset(test, "smoke", n_docs=sizes_for(profile).probe_docs, seed=seed)


def simcse_pairs(texts: list[str]) -> tuple[list[str], list[str]]:
    """SimCSE's unsupervised pairs: each text with itself (dropout makes the two encodings differ)."""
    texts = _texts(texts, "texts")
    return list(texts), list(texts)


_TOKEN = re.compile(r"\S+")


def delete_noise(text: str, del_ratio: float = 0.6, rng: np.random.Generator | None = None) -> str:
    """TSDAE's noise: delete each whitespace-separated word with probability ``del_ratio`` (0.6 in the paper).

    At least one word is kept. This replaces the library's ``DenoisingAutoEncoderDataset.delete``, which
    tokenizes with ``nltk`` (punctuation becomes separate tokens there; here it stays on its word).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not (isinstance(del_ratio, (int, float)) and 0 <= del_ratio < 1):
        raise ValueError(f"del_ratio must be in [0, 1), got {del_ratio!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    words = _TOKEN.findall(text)
    if not words:
        return text
    rng = rng if rng is not None else np.random.default_rng()
    keep = rng.random(len(words)) >= del_ratio
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def tsdae_pairs(texts: list[str], del_ratio: float = 0.6, seed: int = 0) -> tuple[list[str], list[str]]:
    """(damaged, original) pairs for ``DenoisingAutoEncoderLoss``, with a seeded :func:`delete_noise`."""
    texts = _texts(texts, "texts")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    return [delete_noise(t, del_ratio, rng) for t in texts], list(texts)


def _texts(texts: Any, what: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a list of strings, not one string")
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError(f"{what} needs at least two texts, got {len(texts)}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"{what}: item {bad[0]} is empty or not a string")
    return texts


# ------------------------------------------------------------------------------ retrieval helpers
def _topk(query_emb: Any, doc_emb: Any, k: int) -> np.ndarray:
    from .search import exact_topk

    _, ids = exact_topk(query_emb, doc_emb, top_k=k)
    return ids


def scifact_run(model: Any, sf: data.SciFact, max_length: int, k: int = 10) -> dict[str, dict[str, float]]:
    """Top-``k`` run ``{claim id: {doc id: cosine}}`` of ``model`` on ``sf``, texts cut at ``max_length``.

    Claims and abstracts are encoded through :func:`sbert_lessons.cache.encode` with chapter 7's texts
    (:mod:`sbert_lessons.search`), so a model's corpus is encoded once per setting and chapters share entries.
    ``model.max_seq_length`` is restored afterwards.
    """
    from .search import scifact_query_texts

    _check_scifact(sf, "sf")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"model must be a sentence encoder with an encode() method, got {type(model).__name__}")
    with _at_length(model, max_length):
        d = cache.encode(model, doc_texts(sf.corpus), batch_size=32)
        q = cache.encode(model, scifact_query_texts(sf.queries))
    return _ranked(q, d, sf, k)


@contextmanager
def _at_length(model: Any, max_length: int):
    """Inside the block, ``model`` cuts texts at ``max_length`` tokens; its own length is restored after."""
    before = getattr(model, "max_seq_length", None)
    with_max_length(model, max_length)
    try:
        yield model
    finally:
        if before is not None:
            model.max_seq_length = before


def _ranked(query_emb: Any, doc_emb: Any, sf: data.SciFact, k: int) -> dict[str, dict[str, float]]:
    """The top-``k`` run of ``sf``'s claims against its abstracts, from embeddings in ``sf``'s order."""
    from .search import exact_topk, topk_to_run

    scores, ids = exact_topk(query_emb, doc_emb, top_k=min(k, len(doc_emb)))
    return topk_to_run(ids, scores, list(sf.queries["_id"]), list(sf.corpus["_id"]))


def scifact_ndcg(model: Any, sf: data.SciFact, max_length: int, k: int = 10,
                 per_query: bool = False) -> float | dict[str, float]:
    """nDCG@``k`` of ``model`` on ``sf`` (chapter 7's metric, :func:`evaluation.ndcg_at_k`); with
    ``per_query`` the dict of each claim's nDCG@``k``."""
    from . import evaluation

    run = scifact_run(model, sf, max_length, k)
    if per_query:
        return evaluation.ndcg_at_k_per_query(run, sf.qrels, k)
    return evaluation.ndcg_at_k(run, sf.qrels, k)


def mine_hard_negatives(query_emb: Any, doc_emb: Any, doc_ids: list[str], positives: list[set[str]],
                        skip: int = 3, n: int = 1) -> list[list[str]]:
    """For each query, ``n`` hard negatives: the best-ranked documents that are not its positives,
    after skipping the ``skip`` best such documents (those are too often unlabelled positives).

    The library's ``util.mine_hard_negatives`` does the same with ``range_min``; this version works on
    embeddings that are already cached instead of encoding the corpus again.
    """
    doc_ids = _ids(doc_ids, "doc_ids")
    positives = _positive_sets(positives)
    if len(positives) != len(np.asarray(query_emb)):
        raise ValueError(f"{len(positives)} positive sets for {len(np.asarray(query_emb))} queries")
    if len(doc_ids) != len(np.asarray(doc_emb)):
        raise ValueError(f"{len(doc_ids)} document ids for {len(np.asarray(doc_emb))} embeddings")
    if isinstance(skip, bool) or isinstance(n, bool) or not (isinstance(skip, int) and skip >= 0
                                                            and isinstance(n, int) and n >= 1):
        raise ValueError(f"skip must be >= 0 and n >= 1 (integers), got skip={skip!r}, n={n!r}")
    idx = _topk(query_emb, doc_emb, len(doc_ids))
    out = []
    for row, pos in zip(idx, positives):
        ranked = [doc_ids[j] for j in row if doc_ids[j] not in pos]
        if len(ranked) < skip + n:
            raise ValueError(f"the corpus is too small to skip {skip} and keep {n} negatives")
        out.append(ranked[skip:skip + n])
    return out


def _ids(ids: Any, what: str) -> list:
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"{what} must be a list of ids, got {type(ids).__name__}")
    ids = list(ids)
    seen: dict[Any, int] = {}
    for i, d in enumerate(ids):
        if d in seen:
            raise ValueError(f"{what}: id {d!r} appears twice (positions {seen[d]} and {i}); ids must be unique")
        seen[d] = i
    return ids


def _positive_sets(positives: Any) -> list:
    """One collection of gold ids per query; a bare string is refused (``"d1" in "d12"`` is a substring
    test, not a set membership)."""
    if isinstance(positives, (str, bytes)) or not hasattr(positives, "__iter__"):
        raise TypeError(f"positives must be a list with one set of ids per query, got {type(positives).__name__}")
    positives = list(positives)
    for i, p in enumerate(positives):
        if isinstance(p, (str, bytes)) or not hasattr(p, "__contains__") or not hasattr(p, "__iter__"):
            raise TypeError(f"positives[{i}] must be a set of ids, got {type(p).__name__} {p!r}: wrap one id as "
                            "{id}")
    return positives


def silver_candidates(query_emb: Any, doc_emb: Any, k: int) -> list[list[int]]:
    """AugSBERT's sampling: for each query, the indices of its ``k`` best-ranked documents (no labels used)."""
    if isinstance(k, bool) or not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n_docs = len(np.asarray(doc_emb))
    if k > n_docs:
        raise ValueError(f"k={k} candidates per query asked for, but there are only {n_docs} documents")
    return _topk(query_emb, doc_emb, k).tolist()


def teacher_agreement(scores: list[list[float]], candidates: list[list[str]], positives: list[set[str]]
                      ) -> dict[str, float]:
    """How often a scorer ranks a gold abstract first among the candidates, over the queries that have
    one among them: ``{"top1": share, "n": queries}``. Used to judge a teacher before trusting it."""
    positives = _positive_sets(positives)
    if not (len(scores) == len(candidates) == len(positives)):
        raise ValueError("scores, candidates and positives must have one entry per query")
    hits = n = 0
    for qi, (s, c, p) in enumerate(zip(scores, candidates, positives)):
        s = np.asarray(s, dtype=float)
        if s.ndim != 1 or len(s) != len(c):
            raise ValueError(f"query {qi}: {s.shape} scores for {len(c)} candidates (one score per candidate)")
        if not np.isfinite(s).all():  # argmax would pick the first NaN as the "best" candidate
            bad = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ValueError(f"query {qi}: the score of candidate {c[bad]!r} is {s[bad]}; scores must be finite")
        if not any(d in p for d in c):
            continue
        n += 1
        hits += c[int(np.argmax(s))] in p
    if n == 0:
        raise ValueError("no query has a gold document among its candidates")
    return {"top1": hits / n, "n": n}


# ------------------------------------------------------------------------------------------ training
def fit_with_loss(model: Any, loss: Any, columns: list[list[str]], recipe: training.Recipe,
                  labels: list[float] | None = None, probe: Any = None,
                  probe_steps: tuple[int, ...] = ()) -> list[float]:
    """Train ``model`` in place: batches of the text ``columns`` through a library ``loss`` module.

    ``loss(features, labels)`` is called exactly as the library's trainer calls it (one tokenized batch per
    column). The optimiser's parameters are the loss module's (so a TSDAE decoder trains too), with
    chapter 3's AdamW, linear warm-up and gradient clipping. Returns the per-step losses.

    ``probe(step)`` (optional) is called before each update whose index is in ``probe_steps``, and after
    the last update when the number of updates is in ``probe_steps``: a way to watch a model change during
    training (chapter 8 follows TSDAE with :class:`RetrievalProbe`).
    """
    import torch

    if not columns or len({len(c) for c in columns}) != 1:
        raise ValueError("columns must be non-empty lists of one length")
    n = len(columns[0])
    if n < 2:
        raise ValueError("need at least two training examples")
    for ci, col in enumerate(columns):
        bad = [i for i, t in enumerate(col) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"column {ci}, example {bad[0]} is {type(col[bad[0]]).__name__} "
                            f"{col[bad[0]]!r}: training columns hold texts")
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} examples")
    if labels is not None:
        bad = np.flatnonzero(~np.isfinite(np.asarray(labels, dtype=float)))
        if bad.size:
            raise ValueError(f"label {bad[0]} is {labels[bad[0]]}; training labels must be finite numbers")
    if probe is not None and not callable(probe):
        raise TypeError(f"probe must be callable as probe(step), got {type(probe).__name__}")
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) for t in probe_steps):
        raise TypeError(f"probe_steps must be integers (update indices), got {tuple(probe_steps)!r}")
    watch = set(probe_steps) if probe is not None else set()

    def look(step: int) -> None:
        loss.eval()
        probe(step)
        loss.train()

    y_all = torch.tensor(labels, dtype=torch.float32) if labels is not None else None
    opt, sched = training._optimizer(loss, recipe, n)
    loss.train()
    out = []
    for step, idx in enumerate(training._batches(n, recipe.batch_size, recipe.epochs, recipe.seed)):
        if step in watch:
            look(step)
        feats = [training.bi_encoder_features(model, [c[i] for i in idx]) for c in columns]
        y = y_all[idx].to(model.device) if y_all is not None else None
        out.append(training._step(loss(feats, y), loss, opt, sched))
    if len(out) in watch:
        look(len(out))
    loss.eval()
    model.eval()
    return out


def probe_steps_for(total: int) -> tuple[int, ...]:
    """Where :class:`RetrievalProbe` looks during a run of ``total`` updates: 0, 16, 32, 64, … (doubling,
    below ``total``) and ``total`` itself."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"total must be a positive integer, got {total!r}")
    steps = [0] + [s for s in (2 ** k for k in range(4, 31)) if s < total]
    return tuple(steps + [total])


class RetrievalProbe:
    """nDCG@10 and the spread of the abstracts, measured on a model *while it trains*.

    ``probe(model)`` encodes ``sf``'s abstracts and claims at ``max_length`` tokens with ``model.encode``
    (not the embedding cache: the weights change between calls) and returns ``{"ndcg10": …,
    "mean_doc_cos": …}``; the second is chapter 10's mean cosine of random pairs of abstracts
    (:func:`sbert_lessons.choosing.mean_random_cosine`), near 1 when every abstract gets the same
    direction. ``key`` names everything that changes the result, for the model cache.
    """

    def __init__(self, sf: data.SciFact, max_length: int) -> None:
        if not isinstance(sf, data.SciFact):
            raise TypeError(f"sf must be a data.SciFact, got {type(sf).__name__}")
        if not (isinstance(max_length, int) and max_length >= 8):
            raise ValueError(f"max_length must be an integer >= 8, got {max_length!r}")
        from .search import scifact_query_texts

        self.sf, self.max_length = sf, max_length
        self.docs, self.queries = doc_texts(sf.corpus), scifact_query_texts(sf.queries)
        qrels = [f"{q}:{d}:{r}" for q, ds in sorted(sf.qrels.items()) for d, r in sorted(ds.items())]
        self.key = {"docs": cache.texts_hash(self.docs), "queries": cache.texts_hash(self.queries),
                    "qrels": cache.texts_hash(qrels), "max_length": max_length}

    def __call__(self, model: Any) -> dict[str, float]:
        from . import evaluation
        from .choosing import mean_random_cosine

        with _at_length(model, self.max_length):
            d = model.encode(self.docs, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)
            q = model.encode(self.queries, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)
        return {"ndcg10": float(evaluation.ndcg_at_k(_ranked(q, d, self.sf, 10), self.sf.qrels, 10)),
                "mean_doc_cos": mean_random_cosine(d)}


def training_trace(model: Any) -> pd.DataFrame:
    """What :class:`RetrievalProbe` measured while ``model`` trained: one row per probed step
    (``step, ndcg10, mean_doc_cos``). Only for a model from :func:`load_variant` given a ``probe``."""
    folder = getattr(model, "_sbert_lessons_folder", None)
    path = Path(folder) / "trace.json" if folder is not None else None
    if path is None or not path.is_file():
        raise ValueError("this model was not trained with a probe: pass probe=RetrievalProbe(...) to "
                         "load_variant to record its training trace")
    return pd.DataFrame(json.loads(path.read_text()))


def _base_model(max_length: int, device: str, start: Path | None = None):
    """all-MiniLM-L6-v2, or the trained model saved in ``start`` (a folder of :func:`train_variant`)."""
    if start is None:
        model = models.load_sentence_model(models.MINILM, device=device)
    else:
        model = trained.load_sentence_transformer(start, f"trained:ch08_start/{Path(start).name}", device)
    model.max_seq_length = max_length
    return model


def with_max_length(model: Any, max_length: int):
    """Set ``model.max_seq_length`` (it is part of every embedding-cache key) and return the model."""
    if isinstance(max_length, bool) or not (isinstance(max_length, int) and max_length >= 8):
        raise ValueError(f"max_length must be an integer >= 8, got {max_length!r}")
    positions = _position_limit(model)
    if positions is not None and max_length > positions:
        raise ValueError(f"max_length={max_length} is more than the model has position embeddings for "
                         f"({positions}): encoding would fail inside the transformer; use at most {positions}")
    model.max_seq_length = max_length
    return model


def _position_limit(model: Any) -> int | None:
    """``max_position_embeddings`` of a SentenceTransformer's transformer, or None when it cannot be read."""
    try:
        value = model[0].auto_model.config.max_position_embeddings
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _build_loss(variant: str, model: Any):
    try:  # sentence-transformers >= 6.2 moved the losses; 6.0/6.1 keep them at the top level
        from sentence_transformers.sentence_transformer import losses as st_losses
    except ImportError:  # pragma: no cover - older layout
        from sentence_transformers import losses as st_losses

    if variant in ("mnrl", "mnrl_hard", "simcse", "tsdae_mnrl"):
        return st_losses.MultipleNegativesRankingLoss(model)
    if variant == "tsdae":
        return st_losses.DenoisingAutoEncoderLoss(model, tie_encoder_decoder=True)
    if variant in ("augsbert", "augsbert_gold"):
        return st_losses.CosineSimilarityLoss(model)
    raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")


def tsdae_fresh_parameters(model: Any) -> dict[str, int]:
    """How much of TSDAE's decoder starts from random numbers when ``model`` is the encoder.

    Builds the library's ``DenoisingAutoEncoderLoss`` with the decoder tied to ``model`` (as
    :func:`train_variant` does) and counts the decoder parameters that are not ``model``'s own: the
    cross-attention layers and whatever part of the word-prediction head the checkpoint lacks. Returns
    ``{"fresh": …, "fresh_tensors": …, "encoder": …}`` (parameter counts, and the number of fresh
    tensors).
    ``model`` is not changed.
    """
    loss = _build_loss("tsdae", model)
    shared = {id(p) for p in model.parameters()}
    fresh = [p for p in loss.decoder.parameters() if id(p) not in shared]
    return {"fresh": int(sum(p.numel() for p in fresh)), "fresh_tensors": len(fresh),
            "encoder": int(sum(p.numel() for p in model.parameters()))}


_LAST_SECONDS: dict[str, float] = {}


def last_training_seconds(variant: str) -> float | None:
    """Seconds the last training of ``variant`` took in this process (None if loaded from the cache)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    return _LAST_SECONDS.get(variant)


def _check_columns(variant: str, columns: list[list[str]], labels: list[float] | None) -> None:
    want = {"mnrl": 2, "mnrl_hard": 3, "simcse": 2, "tsdae": 2, "tsdae_mnrl": 2, "augsbert_gold": 2,
            "augsbert": 2}
    if variant not in want:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if len(columns) != want[variant]:
        raise ValueError(f"{variant} trains on {want[variant]} text columns, got {len(columns)}")
    for c in columns:
        _texts(c, f"{variant} training column")
    if (variant in ("augsbert", "augsbert_gold")) != (labels is not None):
        raise ValueError(f"{variant}: augsbert and augsbert_gold each needs labels (gold 0/1 or silver "
                         "scores in [0, 1]); the other variants take none")
    if labels is not None:
        if len(labels) != len(columns[0]):
            raise ValueError(f"{len(labels)} labels for {len(columns[0])} training pairs")
        bad = [i for i, x in enumerate(labels) if not 0.0 <= float(x) <= 1.0]
        if bad:
            raise ValueError(f"labels must lie in [0, 1]; label {bad[0]} is {labels[bad[0]]}")


def train_variant(variant: str, columns: list[list[str]], profile: Profile | str | None = None,
                  labels: list[float] | None = None, recipe: training.Recipe | None = None,
                  probe: RetrievalProbe | None = None, start: Path | None = None) -> Path:
    """Folder of all-MiniLM-L6-v2 adapted with ``variant`` on ``columns``, trained once and cached.

    ``start`` (``tsdae_mnrl`` only, where it is required): the folder of a model this function trained
    before (the TSDAE model), which training continues from instead of all-MiniLM-L6-v2; its folder name
    (a hash of its own key) enters the cache key.

    The cache key holds the profile, the variant, the recipe, the base weights' sha256 and a hash of every
    training text and label, so a rebuild loads the model instead of training it again. With a ``probe``
    (:class:`RetrievalProbe`) the run is also measured at :func:`probe_steps_for` its number of updates,
    and the measurements are kept beside the model (``trace.json``; read with :func:`training_trace`).
    """
    _check_columns(variant, columns, labels)
    if probe is not None and not isinstance(probe, RetrievalProbe):
        raise TypeError(f"probe must be an adaptation.RetrievalProbe, got {type(probe).__name__}")
    if (variant == "tsdae_mnrl") != (start is not None):
        raise ValueError("tsdae_mnrl continues from a trained model: pass start=<folder of the TSDAE model>; "
                         "the other variants start from all-MiniLM-L6-v2 (start=None)")
    if start is not None and not (Path(start) / "modules.json").is_file():
        raise ValueError(f"start={str(start)!r} is not a saved SentenceTransformer folder "
                         "(use the folder train_variant returned for the TSDAE model)")
    prof = _profile_name(profile)
    recipe = recipe or recipe_for(variant, prof)
    flat = [t for c in columns for t in c] + [f"{x:.6g}" for x in (labels or [])]
    key = {"kind": f"ch08_{variant}", "profile": prof, "recipe": asdict(recipe), "base_model": models.MINILM,
           "base_sha256": models.REGISTRY[models.MINILM].sha256, "data": cache.texts_hash(flat),
           "n_train": len(columns[0]), "format": 1}
    if start is not None:
        key["start"] = Path(start).name
    steps = probe_steps_for(recipe.total_steps(len(columns[0]))) if probe is not None else ()
    if probe is not None:
        key["probe"] = {**probe.key, "steps": list(steps)}
    device = get_device()

    def train(folder: Path) -> None:
        t0 = time.perf_counter()
        seed_everything(recipe.seed)
        model = _base_model(recipe.max_length, device, start)
        trace: list[dict[str, float]] = []

        def look(step: int) -> None:
            trace.append({"step": step, **probe(model)})

        fit_with_loss(model, _build_loss(variant, model), columns, recipe, labels,
                      probe=look if probe is not None else None, probe_steps=steps)
        model.save(str(folder))
        if probe is not None:
            (folder / "trace.json").write_text(json.dumps(trace, indent=1))
        _LAST_SECONDS[variant] = time.perf_counter() - t0

    _LAST_SECONDS.pop(variant, None)
    return cache.cached_model(f"ch08_{variant}", key, train)


def load_variant(variant: str, columns: list[list[str]], profile: Profile | str | None = None,
                 labels: list[float] | None = None, recipe: training.Recipe | None = None,
                 probe: RetrievalProbe | None = None, start: Path | None = None):
    """The adapted ``SentenceTransformer`` (trained on first use), fingerprinted by its cache folder."""
    folder = train_variant(variant, columns, profile, labels, recipe, probe, start)
    model = trained.load_sentence_transformer(folder, f"trained:ch08_{variant}/{folder.name}")
    model._sbert_lessons_folder = folder
    return model


def hub_reachable() -> tuple[bool, str]:
    """Whether Hugging Face models can be downloaded here, and why not (for online-only cells)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var} is set: this build runs offline"
    try:
        import urllib.request

        urllib.request.urlopen("https://huggingface.co/api/models?limit=1", timeout=5)
    except OSError as exc:  # URLError, timeouts and refused connections are all OSErrors
        return False, f"the Hugging Face hub cannot be reached ({type(exc).__name__})"
    return True, "the hub is reachable"
