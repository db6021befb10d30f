"""Semantic search at scale (introduced in chapter 7; chapters 6, 8 and 10 reuse its SciFact texts).

* **Texts, encoded once.** :func:`scifact_doc_texts` is *the* way a SciFact document becomes one string
  (``title + " " + text``) and :func:`scifact_query_texts` the way a claim does; every chapter that encodes
  SciFact goes through them, so the embedding cache is hit instead of re-encoding. :func:`ann_corpus_texts`
  is the sentence collection of the approximate-search benchmark (a seeded slice in smoke, over 100,000
  sentences in full), encoded in cached chunks by :func:`encode_chunked`.
* **Exact search**: :func:`exact_topk`, a brute-force cosine top-k that equals
  ``sentence_transformers.util.semantic_search`` and refuses bad input (empty corpus, ``k`` larger than the
  corpus, a dimension mismatch, NaN vectors) with a clear :class:`ValueError`.
* **Runs**: results as ``{query_id: {doc_id: score}}`` dictionaries (the TREC run format that
  ``pytrec_eval`` and :mod:`sbert_lessons.evaluation` read): :func:`topk_to_run`. Every helper that reads
  or writes a run refuses a NaN or infinite score and a repeated query or document id, naming it: either
  would make the ranking (and so nDCG) depend on the order of the input.
* **Lexical and hybrid**: :func:`bm25_search` (``bm25s``), :func:`reciprocal_rank_fusion`,
  :func:`normalized_score_mix`, and :func:`rerank` with a cross-encoder.
* **Approximate nearest neighbours** (FAISS): :func:`build_index` for ``flat`` / ``hnsw`` / ``ivf`` /
  ``ivfpq``, :func:`set_search_effort` (``efSearch`` or ``nprobe``), :func:`faiss_search`,
  :func:`index_bytes`, :func:`recall_vs_exact`; :func:`benchmark_indexes`, :func:`sweep_effort` and
  :func:`cheapest_at_recall` run the chapter's benchmark (and ``benchmarks/ann_benchmark.py``).
* **Smaller vectors**: :func:`quantized_search`, the library's ``quantize_embeddings`` (int8, binary)
  with float32 rescoring of an oversampled candidate list.
* **Beyond one process**: :func:`encode_with_pool` (the library's multi-process pool) and
  :func:`encode_with_ray` (Ray Data ``map_batches`` over a model actor; Ray is the optional ``scale``
  extra, :func:`ray_available` says whether it is installed).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ANN_CHUNK",
    "INDEX_KINDS",
    "QUANT_PRECISIONS",
    "ann_corpus_texts",
    "benchmark_indexes",
    "bm25_search",
    "build_index",
    "cheapest_at_recall",
    "check_embeddings",
    "encode_chunked",
    "encode_with_pool",
    "encode_with_ray",
    "exact_topk",
    "faiss_search",
    "index_bytes",
    "normalized_score_mix",
    "quantized_search",
    "ranked_ids",
    "ray_available",
    "recall_vs_exact",
    "reciprocal_rank_fusion",
    "rerank",
    "scifact_doc_texts",
    "scifact_query_texts",
    "scifact_sentences",
    "set_search_effort",
    "sweep_effort",
    "topk_to_run",
]

#: Rows per cached chunk when a large collection is encoded (a crash loses one chunk, not the whole run).
ANN_CHUNK = 10_000
#: Size of the full-profile ANN collection: every course-corpus sentence plus SciFact abstract sentences.
ANN_FULL_SIZE = 110_000
INDEX_KINDS = ("flat", "hnsw", "ivf", "ivfpq")
QUANT_PRECISIONS = ("float32", "int8", "binary")


# ------------------------------------------------------------------------------------------------ texts
def scifact_doc_texts(corpus: Any) -> list[str]:
    """One string per SciFact document, ``title + " " + text`` (stripped), in corpus row order.

    This is the course's single definition: chapters that encode SciFact call it so that they hit the
    same embedding-cache entries.
    """
    for col in ("title", "text"):
        if col not in getattr(corpus, "columns", ()):
            raise ValueError(f"scifact_doc_texts needs a corpus table with a {col!r} column")
        _refuse_missing(corpus[col], f"corpus column {col!r}")
    return [f"{str(t).strip()} {str(x).strip()}".strip() for t, x in zip(corpus["title"], corpus["text"])]


def _refuse_missing(column: Any, what: str) -> None:
    """A missing value (None, NaN) would become the text "None" or "nan": refuse it by row."""
    import pandas as pd

    missing = np.flatnonzero(pd.isna(np.asarray(column, dtype=object)))
    if missing.size:
        raise ValueError(f"{what} is missing (None or NaN) in row {missing[0]} ({missing.size} row(s)): fill it, "
                         "e.g. with .fillna(''), or drop those rows")


def scifact_query_texts(queries: Any) -> list[str]:
    """The SciFact claims (queries) as plain strings, in row order."""
    if "text" not in getattr(queries, "columns", ()):
        raise ValueError("scifact_query_texts needs a queries table with a 'text' column")
    _refuse_missing(queries["text"], "queries column 'text'")
    return [str(t).strip() for t in queries["text"]]


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def scifact_sentences(corpus: Any, min_chars: int = 20) -> list[str]:
    """The distinct sentences of SciFact's abstracts (a simple punctuation split), in corpus order."""
    if "text" not in getattr(corpus, "columns", ()):
        raise ValueError("scifact_sentences needs a corpus table with a 'text' column")
    _check_int(min_chars, "min_chars", 0)
    seen: dict[str, None] = {}
    for text in corpus["text"]:
        for s in _SENT_SPLIT.split(str(text).strip()):
            if len(s) >= min_chars:
                seen.setdefault(s, None)
    return list(seen)


def ann_corpus_texts(profile: str | None = None) -> list[str]:
    """The sentence collection of chapter 7's approximate-search benchmark.

    Smoke: a seeded slice of the course corpus file (``data.SMOKE_ROWS``). Full: all 88,726 sentences of
    the file, then distinct SciFact abstract sentences not already in it, up to ``ANN_FULL_SIZE``. The file
    as it is (``keep_held_out=True``): this collection is searched, never scored on STS-B, so its STS-B
    evaluation sentences leak nothing, and the benchmark keeps the sizes it was built with.
    """
    from . import data
    from .profile import active, get_profile

    prof = get_profile(profile) if profile else active().name
    whole = data.load_corpus(keep_held_out=True)
    texts = (data.sample_rows(whole, data.SMOKE_ROWS[("corpus", "all")]) if prof == "smoke" else whole)["text"].tolist()
    if prof == "smoke":
        return texts
    have = set(texts)
    for s in scifact_sentences(data.load_scifact("test").corpus):
        if len(texts) >= ANN_FULL_SIZE:
            break
        if s not in have:
            have.add(s)
            texts.append(s)
    return texts


def encode_chunked(model: Any, texts: Sequence[str], chunk_size: int = ANN_CHUNK,
                   **encode_kwargs: Any) -> np.ndarray:
    """:func:`sbert_lessons.cache.encode` over fixed chunks of ``chunk_size`` texts, concatenated."""
    from .cache import encode

    texts = _strings(texts, "texts", "encode_chunked")
    _check_int(chunk_size, "chunk_size", 1)
    parts = [encode(model, texts[i:i + chunk_size], **encode_kwargs) for i in range(0, len(texts), chunk_size)]
    return np.concatenate(parts, axis=0)


# ----------------------------------------------------------------------------------------- exact search
def check_embeddings(x: Any, name: str = "embeddings", *, allow_empty: bool = False) -> np.ndarray:
    """``x`` as a C-contiguous float32 (n, d) array; a clear ValueError for empty, 1-D/3-D or NaN input."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().to("cpu").numpy()
    try:
        arr = np.asarray(x)
    except ValueError:  # rows of different lengths
        raise ValueError(f"{name} must be a 2-D array (n, dim); its rows have different lengths") from None
    if arr.ndim == 1 and arr.size:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: there is nothing to search")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} row(s) with NaN or infinite values, first at row "
                         f"{int(np.flatnonzero(bad)[0])}: fix the encoder output before searching")
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    big = ~np.isfinite(arr).all(axis=1)
    if big.any():
        raise ValueError(f"{name} has {int(big.sum())} row(s) beyond float32's range (about 3.4e38), first at "
                         f"row {int(np.flatnonzero(big)[0])}: rescale the vectors before searching")
    return arr


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; a clear error naming ``name`` otherwise (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return int(value)


def _strings(texts: Any, what: str, caller: str) -> list[str]:
    """A non-empty list of strings; one string, an empty list or a non-string item is refused by name."""
    if isinstance(texts, str):
        raise TypeError(f"{caller} takes a list of {what}, not one string: wrap it as [text]")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{caller} got an empty list of {what}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what} must be strings; item {i} is {type(t).__name__} {t!r}")
    return texts


def _check_k(k: Any, n: int, what: str = "corpus") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"top_k must be an integer, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"top_k={k} is larger than the {what} ({n} items): ask for at most {n}")
    return int(k)


def _normalize(x: np.ndarray, name: str = "embeddings") -> np.ndarray:
    """Rows scaled to length 1. A float32 square sum overflows above ~1e19 and underflows below ~1e-23,
    which would turn long or tiny vectors into zeros or NaN: such rows are normalised in float64."""
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(x, axis=1, keepdims=True)
    if ((norms > 1e-15) & (norms < 1e15)).all():  # the usual case: float32 is exact enough
        return x / norms
    x64 = x.astype(np.float64)
    norms = np.linalg.norm(x64, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise ValueError(f"{name}: {zero.size} zero vector(s), first at row {zero[0]}: cosine is undefined")
    return (x64 / norms).astype(np.float32)


def _sorted_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per row, highest first, ties broken by the lower index (deterministic)."""
    n = scores.shape[1]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(scores), 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1)
    return np.take_along_axis(scores, ids, axis=1), ids


def exact_topk(query_emb: Any, corpus_emb: Any, top_k: int = 10, *, cosine: bool = True,
               chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k: ``(scores, ids)``, each ``(n_queries, top_k)``, best first.

    With ``cosine=True`` (the default, as ``util.semantic_search``) both sides are L2-normalised first;
    otherwise the score is the plain dot product.
    """
    q = check_embeddings(query_emb, "query embeddings")
    c = check_embeddings(corpus_emb, "corpus embeddings", allow_empty=True)
    if c.shape[0] == 0:
        raise ValueError("the corpus is empty: there is nothing to search")
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {q.shape[1]} dimensions, the corpus {c.shape[1]} "
                         "(were they encoded by the same model?)")
    k = _check_k(top_k, c.shape[0])
    chunk = _check_int(chunk, "chunk", 1)
    if not isinstance(cosine, (bool, np.bool_)):
        raise TypeError(f"cosine must be True or False, got {type(cosine).__name__} {cosine!r}")
    if cosine:
        q, c = _normalize(q, "query embeddings"), _normalize(c, "corpus embeddings")
    out_s, out_i = [], []
    for i in range(0, len(q), chunk):
        with np.errstate(over="ignore", invalid="ignore"):
            scores = q[i:i + chunk] @ c.T
        bad = ~np.isfinite(scores).all(axis=1)
        if bad.any():  # huge vectors: the float32 dot products overflow, and inf ties rank arbitrarily
            raise ValueError(f"the dot products of query row {i + int(np.flatnonzero(bad)[0])} overflow "
                             "float32 (vectors too long): normalise the vectors or use cosine=True")
        s, ids = _sorted_topk(scores, k)
        out_s.append(s)
        out_i.append(ids)
    return np.concatenate(out_s), np.concatenate(out_i)


def _id_list(ids: Any, what: str) -> list:
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise TypeError(f"{what} must be a list of ids, got {type(ids).__name__} {ids!r}")
    return list(ids)


def _refuse_duplicates(ids: Sequence[Any], what: str) -> None:
    first: dict[str, int] = {}
    for i, x in enumerate(ids):
        key = str(x)
        if key in first:
            raise ValueError(f"{what} {key!r} appears twice (positions {first[key]} and {i}): ids must be "
                             "unique, or the run would merge their results")
        first[key] = i


def topk_to_run(ids: Any, scores: Any, query_ids: Sequence[str], doc_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Turn ``(ids, scores)`` rows into a run ``{query_id: {doc_id: score}}`` (negative ids are padding).

    Refused with a ``ValueError`` that names the id: a repeated query id or document id (in the id lists
    or within one result row: a dict would silently keep one of them), an id outside ``doc_ids``, and a
    NaN or infinite score (its rank would depend on the order of the input).
    """
    try:
        ids, scores = np.asarray(ids), np.asarray(scores)
    except ValueError:  # ragged rows
        raise ValueError("ids and scores must be two (n, k) arrays; their rows have different lengths") from None
    if ids.shape != scores.shape or ids.ndim != 2:
        raise ValueError(f"ids and scores must be two (n, k) arrays of one shape, got {ids.shape} and {scores.shape}")
    if ids.size and (ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer)):
        raise TypeError(f"ids must be integer row numbers into doc_ids, got dtype {ids.dtype}")
    if scores.size and (scores.dtype == bool or not np.issubdtype(scores.dtype, np.number)):
        raise TypeError(f"scores must be numbers, got dtype {scores.dtype}")
    scores = scores.astype(float)
    query_ids, doc_ids = _id_list(query_ids, "query_ids"), _id_list(doc_ids, "doc_ids")
    if len(query_ids) != len(ids):
        raise ValueError(f"{len(ids)} result rows but {len(query_ids)} query ids")
    _refuse_duplicates(query_ids, "query id")
    _refuse_duplicates(doc_ids, "document id")
    if ids.size and ids.max() >= len(doc_ids):
        r, c = np.argwhere(ids >= len(doc_ids))[0]
        raise ValueError(f"query {str(query_ids[r])!r}: result {c} is row {int(ids[r, c])}, but doc_ids has only "
                         f"{len(doc_ids)} ids")
    run: dict[str, dict[str, float]] = {}
    for qid, row_i, row_s in zip(query_ids, ids, scores):
        docs: dict[str, float] = {}
        for j, sc in zip(row_i, row_s):
            if j < 0:
                continue
            d = str(doc_ids[j])
            if d in docs:
                raise ValueError(f"query {str(qid)!r}: document {d!r} appears twice in its results")
            if not np.isfinite(sc):
                raise ValueError(f"query {str(qid)!r}: document {d!r} has score {sc}; scores must be finite")
            docs[d] = float(sc)
        run[str(qid)] = docs
    return run


def _check_run(run: Any, name: str = "run") -> Mapping[str, Mapping[str, float]]:
    """``run`` if it is ``{query_id: {doc_id: finite score}}``; a clear error naming the bad entry."""
    if not isinstance(run, Mapping):
        raise TypeError(f"{name} must be a dict {{query_id: {{doc_id: score}}}}, got {type(run).__name__}")
    for qid, docs in run.items():
        if not isinstance(docs, Mapping):
            raise TypeError(f"{name}[{qid!r}] must be a dict {{doc_id: score}}, got {type(docs).__name__}")
        _check_scores(docs, f"{name}[{qid!r}]")
    return run


def _check_scores(docs: Mapping[Any, Any], where: str) -> None:
    for d, sc in docs.items():
        if isinstance(sc, (bool, np.bool_)) or not isinstance(sc, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where}: document {d!r} has score {sc!r} ({type(sc).__name__}); scores are numbers")
        if not np.isfinite(sc):
            raise ValueError(f"{where}: document {d!r} has score {sc}; scores must be finite (a NaN or "
                             "infinite score would rank by the order of the input)")


def ranked_ids(docs: Mapping[str, float]) -> list[str]:
    """Doc ids by decreasing score; ties by decreasing id, as ``trec_eval`` orders them.

    A NaN or infinite score is refused (naming the document): it has no place in a ranking.
    """
    if not isinstance(docs, Mapping):
        raise TypeError(f"ranked_ids takes a dict {{doc_id: score}}, got {type(docs).__name__}")
    _check_scores(docs, "ranked_ids")
    return [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], _desc(kv[0])))]


class _desc(str):
    """A string that sorts in reverse (for trec_eval's tie order inside an ascending sort)."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)


# ---------------------------------------------------------------------------------- lexical and hybrid
def bm25_search(corpus_texts: Sequence[str], query_texts: Sequence[str], top_k: int = 100, *,
                stopwords: str | None = "en", k1: float = 1.5, b: float = 0.75,
                method: str = "lucene") -> tuple[np.ndarray, np.ndarray]:
    """BM25 with ``bm25s``: ``(scores, ids)`` of shape ``(n_queries, top_k)``, best first.

    Tokenisation is bm25s's (lower case, word characters, English stop words removed, no stemming).
    """
    import bm25s

    if not isinstance(corpus_texts, str) and not list(corpus_texts):
        raise ValueError("the corpus is empty: there is nothing to search")
    corpus_texts = _strings(corpus_texts, "corpus texts", "bm25_search")
    if not isinstance(query_texts, str) and not list(query_texts):
        raise ValueError("bm25_search got no queries")
    query_texts = _strings(query_texts, "query texts", "bm25_search")
    k = _check_k(top_k, len(corpus_texts))
    for name, value in (("k1", k1), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if b > 1:
        raise ValueError(f"b (length normalisation) must lie in [0, 1], got {b!r}")
    methods = ("robertson", "lucene", "atire", "bm25l", "bm25+")
    if method not in methods:
        raise ValueError(f"unknown BM25 method {method!r}; choose one of {', '.join(methods)}")
    corpus_tokens = bm25s.tokenize(corpus_texts, stopwords=stopwords, show_progress=False)
    if not corpus_tokens.vocab:
        raise ValueError("no corpus text has a word left to index (all empty or stop words)")
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(corpus_tokens, show_progress=False)
    q_tokens = bm25s.tokenize(query_texts, stopwords=stopwords, show_progress=False)
    ids, scores = retriever.retrieve(q_tokens, k=k, show_progress=False, n_threads=1)
    return np.asarray(scores, dtype=np.float32), np.asarray(ids, dtype=np.int64)


def _check_runs(runs: Any, caller: str) -> list[Mapping[str, Mapping[str, float]]]:
    if isinstance(runs, Mapping):
        raise TypeError(f"{caller} takes a list of runs, got one run (a dict): wrap it as [run]")
    if isinstance(runs, (str, bytes)) or not hasattr(runs, "__len__"):
        raise TypeError(f"{caller} takes a list of runs, got {type(runs).__name__}")
    if not runs:
        raise ValueError(f"{caller} needs at least one run")
    return [_check_run(r, f"runs[{i}]") for i, r in enumerate(runs)]


def _check_top_k(top_k: Any) -> int | None:
    return None if top_k is None else _check_int(top_k, "top_k", 1)


def _sorted_qids(runs: Sequence[Mapping[str, Any]]) -> list:
    qids = {q for r in runs for q in r}
    by_text: dict[str, Any] = {}
    for q in qids:
        if str(q) in by_text:  # 1 and "1": two keys that a TREC run (and pytrec_eval) would merge
            raise ValueError(f"query id {str(q)!r} appears both as {q!r} and as {by_text[str(q)]!r}")
        by_text[str(q)] = q
    return [by_text[t] for t in sorted(by_text)]


def reciprocal_rank_fusion(runs: Sequence[Mapping[str, Mapping[str, float]]], k: int = 60,
                           top_k: int | None = None) -> dict[str, dict[str, float]]:
    """Reciprocal-rank fusion (Cormack et al. 2009): score(d) = sum over runs of 1 / (k + rank(d)).

    Ranks start at 1 and follow :func:`ranked_ids`; a document absent from a run gets nothing from it.
    Sums are exactly rounded (``math.fsum``), so the result does not depend on the order of the runs.
    A NaN or infinite score in a run is refused, naming the query and document.
    """
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not np.isfinite(k) \
            or k < 0:
        raise ValueError(f"the RRF constant k must be a finite number >= 0, got {k!r}")
    runs = _check_runs(runs, "reciprocal_rank_fusion")
    top_k = _check_top_k(top_k)
    fused: dict[str, dict[str, float]] = {}
    for qid in _sorted_qids(runs):
        parts: dict[str, list[float]] = {}
        for r in runs:
            for rank, d in enumerate(ranked_ids(r.get(qid, {})), start=1):
                parts.setdefault(d, []).append(1.0 / (k + rank))
        fused[qid] = _cut({d: math.fsum(v) for d, v in parts.items()}, top_k)
    return fused


def _cut(docs: dict[str, float], top_k: int | None) -> dict[str, float]:
    if top_k is None:
        return docs
    return {d: docs[d] for d in ranked_ids(docs)[:top_k]}


def normalized_score_mix(runs: Sequence[Mapping[str, Mapping[str, float]]], weights: Sequence[float],
                         top_k: int | None = None) -> dict[str, dict[str, float]]:
    """Convex mix of min-max normalised scores: sum_i w_i * (s_i(d) - min_i) / (max_i - min_i).

    Each run's scores are rescaled per query to [0, 1] (a constant list becomes all ones); a document
    missing from a run counts 0 there. Weights must be non-negative and are rescaled to sum to 1.
    Sums are exactly rounded (``math.fsum``), so permuting the runs with their weights changes nothing.
    A NaN or infinite score in a run is refused, naming the query and document.
    """
    runs = _check_runs(runs, "normalized_score_mix")
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(f"weights must be a list of numbers (one per run), got {type(weights).__name__}")
    try:
        w = np.asarray(list(weights), dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"weights must be numbers, got {list(weights)!r}") from None
    if w.shape != (len(runs),):
        raise ValueError(f"{len(runs)} runs but {w.size} weights")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() == 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {list(weights)}")
    w = w / math.fsum(w)  # exactly rounded: the same weights in another order give the same shares
    top_k = _check_top_k(top_k)
    mixed: dict[str, dict[str, float]] = {}
    for qid in _sorted_qids(runs):
        parts: dict[str, list[float]] = {}
        for wi, r in zip(w, runs):
            docs = r.get(qid, {})
            if not docs:
                continue
            vals = np.array(list(docs.values()), dtype=float)
            lo, hi = vals.min(), vals.max()
            with np.errstate(over="ignore"):
                half = not np.isfinite(hi - lo)  # finite scores whose range overflows: rescale by halves
            for d, s in docs.items():
                if hi > lo:
                    x = (s / 2 - lo / 2) / (hi / 2 - lo / 2) if half else (s - lo) / (hi - lo)
                else:
                    x = 1.0
                parts.setdefault(d, []).append(wi * x)
        mixed[qid] = _cut({d: math.fsum(v) for d, v in parts.items()}, top_k)
    return mixed


def rerank(cross_encoder: Any, run: Mapping[str, Mapping[str, float]], query_texts: Mapping[str, str],
           doc_texts: Mapping[str, str], depth: int = 100, batch_size: int = 32) -> dict[str, dict[str, float]]:
    """Re-score each query's first ``depth`` documents with ``cross_encoder.predict``.

    The re-scored documents come first, ordered by the cross-encoder; the rest of the run keeps its
    order below them, so recall at any cut-off ≥ ``depth`` is unchanged. A NaN or infinite score, in the
    run or from the cross-encoder, is refused with the query and document it belongs to.
    """
    run = _check_run(run)
    depth = _check_int(depth, "depth", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    for name, texts in (("query_texts", query_texts), ("doc_texts", doc_texts)):
        if not isinstance(texts, Mapping):
            raise TypeError(f"{name} must be a dict {{id: text}}, got {type(texts).__name__}")
    if not callable(getattr(cross_encoder, "predict", None)):
        raise TypeError(f"cross_encoder must have a predict(pairs) method (a CrossEncoder), got "
                        f"{type(cross_encoder).__name__}")
    pairs, slots = [], []
    heads: dict[str, list[str]] = {}
    for qid, docs in run.items():
        if qid not in query_texts:
            raise ValueError(f"no text for query {qid!r}")
        heads[qid] = ranked_ids(docs)
        for d in heads[qid][:depth]:
            if d not in doc_texts:
                raise ValueError(f"no text for document {d!r}")
            pairs.append((query_texts[qid], doc_texts[d]))
            slots.append((qid, d))
    raw = cross_encoder.predict(pairs, batch_size=batch_size, show_progress_bar=False) if pairs else []
    try:
        scores = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"the cross-encoder returned scores that are not numbers: {str(raw)[:80]}") from None
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (len(pairs),):
        raise ValueError(f"the cross-encoder returned scores of shape {scores.shape} for {len(pairs)} pairs; "
                         "rerank needs one score per pair (a model with one output label)")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        qid, d = slots[bad[0]]
        raise ValueError(f"the cross-encoder scored query {qid!r}, document {d!r} as {scores[bad[0]]} "
                         f"({bad.size} non-finite score(s) in all); scores must be finite")
    out: dict[str, dict[str, float]] = {q: {} for q in run}
    for (qid, d), s in zip(slots, scores):
        out[qid][d] = float(s)
    for qid, order in heads.items():
        tail = order[depth:]
        floor = min(out[qid].values(), default=0.0)
        for i, d in enumerate(tail, start=1):  # strictly below every re-scored document, in the old order
            out[qid][d] = floor - float(i)
    return out


# ------------------------------------------------------------------------------ approximate (FAISS)
def build_index(kind: str, vectors: Any, *, hnsw_m: int = 32, ef_construction: int = 100,
                nlist: int | None = None, pq_m: int | None = None, pq_bits: int = 8, seed: int = 0):
    """A FAISS inner-product index of ``kind`` over ``vectors`` (normalise them first for cosine).

    ``flat``: exact. ``hnsw``: graph with ``hnsw_m`` links per node. ``ivf``: ``nlist`` k-means cells
    (default ≈ 4·√n). ``ivfpq``: the same cells, vectors compressed to ``pq_m`` codes of ``pq_bits`` bits
    (default: the fewest sub-vectors, dividing ``dim``, of at most 8 dimensions each: 48 one-byte codes for
    384 dimensions, 32x smaller than float32).
    """
    import faiss

    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    x = check_embeddings(vectors, "vectors")
    n, d = x.shape
    hnsw_m, ef_construction = _check_int(hnsw_m, "hnsw_m", 2), _check_int(ef_construction, "ef_construction", 1)
    if nlist is not None:
        nlist = _check_int(nlist, "nlist", 1)
    if pq_m is not None:
        pq_m = _check_int(pq_m, "pq_m", 1)
    pq_bits = _check_int(pq_bits, "pq_bits", 1, 16)
    _check_int(seed, "seed", 0)
    if kind == "ivfpq" and n < 2 ** pq_bits:
        raise ValueError(f"ivfpq with pq_bits={pq_bits} trains {2 ** pq_bits} centroids per code and needs at "
                         f"least that many vectors, got {n}: use fewer bits or another index kind")
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    else:
        nlist = nlist or min(n, max(1, int(4 * np.sqrt(n))))
        if nlist > n:
            raise ValueError(f"nlist={nlist} cells for {n} vectors: use at most {n}")
        quantizer = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            pq_m = pq_m or next(m for m in range(max(1, d // 8), d + 1) if d % m == 0)  # <= 8 dims per code
            if d % pq_m:
                raise ValueError(f"pq_m={pq_m} must divide the dimension {d}")
            index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, pq_bits, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(x)
        index.quantizer_trains_alone = 0
    index.add(x)
    return index


def _check_index(index: Any) -> Any:
    import faiss

    if not isinstance(index, faiss.Index):
        raise TypeError(f"expected a FAISS index (from build_index), got {type(index).__name__}")
    return index


def _kind_of(index: Any) -> str:
    import faiss

    _check_index(index)
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "flat"


def set_search_effort(index: Any, effort: int) -> Any:
    """Set HNSW's ``efSearch`` or IVF's ``nprobe`` (the speed/recall dial); a flat index has none."""
    if isinstance(effort, bool) or not isinstance(effort, (int, np.integer)) or effort < 1:
        raise ValueError(f"search effort must be a positive integer, got {effort!r}")
    kind = _kind_of(index)
    if kind == "hnsw":
        index.hnsw.efSearch = int(effort)
    elif kind == "ivf":
        index.nprobe = int(min(effort, index.nlist))
    else:
        raise ValueError("a flat index is exact: it has no search-effort parameter")
    return index


def faiss_search(index: Any, queries: Any, top_k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` with the same input checks as :func:`exact_topk`: ``(scores, ids)``."""
    _check_index(index)
    q = check_embeddings(queries, "query embeddings")
    if q.shape[1] != index.d:
        raise ValueError(f"dimension mismatch: queries have {q.shape[1]} dimensions, the index {index.d}")
    k = _check_k(top_k, index.ntotal, "index")
    return index.search(q, k)


def index_bytes(index: Any) -> int:
    """Size of the serialised index in bytes (vectors, graph links or codes, and centroids)."""
    import faiss

    return int(faiss.serialize_index(_check_index(index)).size)


def recall_vs_exact(approx_ids: Any, exact_ids: Any) -> float:
    """Mean over queries of |approximate top-k ∩ exact top-k| / k (the ANN literature's recall@k)."""
    a, e = np.asarray(approx_ids), np.asarray(exact_ids)
    if a.shape != e.shape or a.ndim != 2 or a.shape[1] == 0 or a.shape[0] == 0:
        raise ValueError(f"need two non-empty (n_queries, k) id arrays of one shape, got {a.shape} and {e.shape}")
    for name, arr in (("approx_ids", a), ("exact_ids", e)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer row numbers, got dtype {arr.dtype}")
    dup = [i for i, row in enumerate(e) if len(set(row.tolist())) != len(row)]
    if dup:
        raise ValueError(f"exact_ids row {dup[0]} repeats an id: the exact top-k holds each document once")
    if (e < 0).any():
        raise ValueError(f"exact_ids row {int(np.argwhere(e < 0)[0][0])} holds a negative (padding) id: the exact "
                         "top-k is always full")
    hits = [len(set(x[x >= 0].tolist()) & set(y.tolist())) for x, y in zip(a, e)]
    return float(np.mean(hits) / a.shape[1])


# ------------------------------------------------------------------------------------- quantization
def quantized_search(query_emb: Any, corpus_emb: Any, precision: str, top_k: int = 10, *,
                     rescore_multiplier: int = 4, rescore: bool = True, calibration: Any = None) -> dict[str, Any]:
    """Search a quantized corpus with the float32 queries, optionally rescoring the oversampled candidates.

    ``precision``: ``float32`` (exact, the baseline), ``int8`` (the library's per-dimension scalar
    quantization, ranges from ``calibration`` or the corpus) or ``binary`` (one bit per dimension, the
    sign; candidates by Hamming distance). For int8 and binary, ``top_k * rescore_multiplier``
    candidates are fetched; with ``rescore`` they are rescored with the float32 query against the
    quantized document vectors (dequantized), as the library's ``semantic_search_faiss`` does; without,
    the first ``top_k`` candidates are returned in the quantized search's own order (the query quantized
    too: integer dot products for int8, Hamming distance for binary). Vectors are L2-normalised first.

    Quantizing and indexing the corpus happen before any clock starts (they are done once, at indexing
    time). ``candidate_s`` times quantizing the queries and the candidate search; ``rescore_s`` times
    fetching the candidates' stored codes, turning them back into floats (for binary: unpacking the bits)
    and rescoring (0 without rescoring). ``search_s`` is their sum.

    Returns ``{"scores", "ids", "corpus_bytes", "candidate_s", "rescore_s", "search_s"}``.
    """
    import faiss
    from sentence_transformers import quantize_embeddings

    if precision not in QUANT_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(QUANT_PRECISIONS)}")
    if not isinstance(rescore, bool):
        raise TypeError(f"rescore must be True or False, got {rescore!r}")
    q = _normalize(check_embeddings(query_emb, "query embeddings"))
    c = _normalize(check_embeddings(corpus_emb, "corpus embeddings"))
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {q.shape[1]} dimensions, the corpus {c.shape[1]}")
    k = _check_k(top_k, len(c))
    if isinstance(rescore_multiplier, bool) or not isinstance(rescore_multiplier, int) or rescore_multiplier < 1:
        raise ValueError(f"rescore_multiplier must be a positive integer, got {rescore_multiplier!r}")
    if calibration is not None and precision == "int8":
        calib_dim = check_embeddings(calibration, "calibration embeddings").shape[1]
        if calib_dim != c.shape[1]:
            raise ValueError(f"dimension mismatch: calibration embeddings have {calib_dim} dimensions, the "
                             f"corpus {c.shape[1]}")
    if precision == "float32":
        t0 = time.perf_counter()
        scores, ids = exact_topk(q, c, k, cosine=False)
        took = time.perf_counter() - t0
        return {"scores": scores, "ids": ids, "corpus_bytes": c.nbytes, "candidate_s": took, "rescore_s": 0.0,
                "search_s": took}
    n_cand = min(len(c), k * rescore_multiplier) if rescore else k
    if precision == "int8":  # indexing time: quantize the corpus once
        calib = c if calibration is None else check_embeddings(calibration, "calibration embeddings")
        ranges = np.stack([calib.min(axis=0), calib.max(axis=0)])
        cq = quantize_embeddings(c, precision="int8", ranges=ranges)
        cq_f = cq.astype(np.float32)  # int8 values held as floats so that numpy's BLAS does the product
        steps = np.where(ranges[1] > ranges[0], (ranges[1] - ranges[0]) / 255, 1.0).astype(np.float32)
        t0 = time.perf_counter()
        qq = quantize_embeddings(q, precision="int8", ranges=ranges).astype(np.float32)
        cand_scores, cand = _sorted_topk(qq @ cq_f.T, n_cand)  # integer-valued scores
        t1 = time.perf_counter()
        if rescore:
            cand_vecs = (cq[cand].astype(np.float32) + 128.0) * steps + ranges[0]  # dequantized candidates
    else:
        cq = quantize_embeddings(c, precision="ubinary")
        index = faiss.IndexBinaryFlat(c.shape[1] if c.shape[1] % 8 == 0 else cq.shape[1] * 8)
        index.add(cq)
        t0 = time.perf_counter()
        dist, cand = index.search(quantize_embeddings(q, precision="ubinary"), n_cand)
        cand_scores = -dist.astype(np.float32)  # fewer differing bits: higher score
        t1 = time.perf_counter()
        if rescore:
            bits = np.unpackbits(cq[cand], axis=-1)[..., : c.shape[1]]
            cand_vecs = bits.astype(np.float32) * 2.0 - 1.0  # the stored signs, as +-1
    if not rescore:
        return {"scores": cand_scores[:, :k], "ids": cand[:, :k], "corpus_bytes": int(cq.nbytes),
                "candidate_s": t1 - t0, "rescore_s": 0.0, "search_s": t1 - t0}
    rescored = np.einsum("qd,qkd->qk", q, cand_vecs)
    order = np.lexsort((cand, -rescored), axis=1)[:, :k]
    ids = np.take_along_axis(cand, order, axis=1)
    scores = np.take_along_axis(rescored, order, axis=1)
    t2 = time.perf_counter()
    return {"scores": scores, "ids": ids, "corpus_bytes": int(cq.nbytes), "candidate_s": t1 - t0,
            "rescore_s": t2 - t1, "search_s": t2 - t0}


# ----------------------------------------------------------------------------- beyond one process
def encode_with_pool(model: Any, texts: Sequence[str], processes: int = 2, batch_size: int = 32,
                     threads_per_process: int | None = None) -> np.ndarray:
    """Encode with the library's multi-process pool (``start_multi_process_pool`` / ``encode(pool=)``).

    On a GPU machine each process drives one GPU; on a CPU each is a worker process. ``threads_per_process``
    caps each CPU worker's PyTorch threads (through ``OMP_NUM_THREADS``, which a freshly started worker reads
    when it imports torch); None leaves PyTorch's default. The pool is always stopped, even when encoding
    fails.
    """
    import os

    if not isinstance(texts, str) and not list(texts):
        raise ValueError("encode_with_pool got no texts")
    texts = _strings(texts, "texts", "encode_with_pool")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}")
    batch_size = _check_int(batch_size, "batch_size", 1)
    if threads_per_process is not None:
        _check_int(threads_per_process, "threads_per_process", 1)
    device = str(getattr(getattr(model, "device", None), "type", "cpu"))
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads_per_process is not None:
        for k in saved:
            os.environ[k] = str(threads_per_process)
    try:
        pool = model.start_multi_process_pool([f"cuda:{i}" for i in range(processes)] if device == "cuda"
                                              else ["cpu"] * processes)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        emb = model.encode(texts, pool=pool, batch_size=batch_size, convert_to_numpy=True,
                           show_progress_bar=False)
    finally:
        model.stop_multi_process_pool(pool)
    return np.asarray(emb, dtype=np.float32)


class ParquetEncoder:
    """A Ray Data actor for a read_parquet -> map_batches -> write_parquet pipeline (chapter 7).

    Loads the model once per actor from ``model_dir`` (a folder every worker can read), caps PyTorch at
    ``threads`` threads, and turns a batch with columns ``row`` and ``text`` into a pyarrow table with
    ``row``, ``embedding`` (a fixed-size list of float32, which any Parquet reader understands) and
    ``worker`` (the actor's process id, so that a reader can check how many actors did the work).
    """

    def __init__(self, model_dir: str, threads: int = 1):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_dir, device="cpu")

    def __call__(self, batch: dict) -> Any:
        import pyarrow as pa

        texts = [str(t) for t in batch["text"]]
        emb = self.model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                show_progress_bar=False).astype(np.float32)
        flat = pa.array(emb.reshape(-1))
        rows = pa.array(np.asarray(batch["row"], dtype=np.int64))
        return pa.table({"row": rows, "embedding": pa.FixedSizeListArray.from_arrays(flat, emb.shape[1]),
                         "worker": pa.array(np.full(len(rows), os.getpid(), dtype=np.int64))})


def read_embeddings_parquet(path: str) -> np.ndarray:
    """The ``embedding`` column of a Parquet file or folder written by :class:`ParquetEncoder`, in ``row``
    order, as an (n, d) float32 array."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = {"row", "embedding"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path} has no column(s) {sorted(missing)}: not written by ParquetEncoder")
    col = table.column("embedding").combine_chunks()
    emb = np.asarray(col.flatten(), dtype=np.float32).reshape(len(col), -1)
    rows = np.asarray(table.column("row"))
    out = np.empty_like(emb)
    out[rows] = emb
    return out


def ray_available() -> bool:
    """Whether Ray Data (the optional ``scale`` extra) can be imported."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


class _RayEncoder:
    """A Ray Data actor: loads the model once, then encodes every batch it is handed."""

    def __init__(self, model_dir: str, threads: int = 1):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_dir, device="cpu")

    def __call__(self, batch: dict) -> dict:
        emb = self.model.encode(list(batch["text"]), batch_size=len(batch["text"]), convert_to_numpy=True,
                                show_progress_bar=False)
        return {"row": batch["row"], "embedding": emb.astype(np.float32)}


def encode_with_ray(model_dir: str, texts: Sequence[str], actors: int = 2, batch_size: int = 64,
                    num_cpus: int = 2) -> np.ndarray:
    """Encode ``texts`` with Ray Data: ``map_batches`` over ``actors`` model actors; rows in input order.

    Starts a local Ray (``num_cpus`` CPUs, no dashboard) unless one is already running; on a cluster,
    ``ray.init(address="auto")`` before calling this spreads the same actors over its machines.
    """
    if not ray_available():
        raise ImportError("Ray Data is not installed: pip install 'sbert-lessons[scale]' (ray[data])")
    import ray

    if not isinstance(texts, str) and not list(texts):
        raise ValueError("encode_with_ray got no texts")
    texts = _strings(texts, "texts", "encode_with_ray")
    for name, value in (("actors", actors), ("batch_size", batch_size), ("num_cpus", num_cpus)):
        _check_int(value, name, 1)
    import logging

    # Ray's start-up notices and Ray Data's per-run INFO lines (which name its log folder) go to stderr;
    # a lesson page shows results, not those. Errors still get through.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, logging_level=logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ds = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
    out = ds.map_batches(_RayEncoder, fn_constructor_kwargs={"model_dir": str(model_dir)},
                         compute=ray.data.ActorPoolStrategy(size=actors),
                         batch_size=batch_size, batch_format="numpy", num_cpus=1)
    rows, embs = [], []
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        rows.append(batch["row"])
        embs.append(np.stack(batch["embedding"]))
    rows_a, emb = np.concatenate(rows), np.concatenate(embs)
    result = np.empty_like(emb)
    result[rows_a] = emb
    return result


# ------------------------------------------------------------------ the ANN benchmark (chapter 7)
#: Search effort used for the one-row-per-index table: HNSW efSearch, IVF / IVF-PQ nprobe.
DEFAULT_EFFORT = {"hnsw": 64, "ivf": 8, "ivfpq": 8}
#: The efSearch / nprobe values of the recall-vs-speed sweep.
EFFORT_SWEEP = {"hnsw": (8, 16, 32, 64, 128, 256), "ivf": (1, 2, 4, 8, 16, 32, 64),
                "ivfpq": (1, 2, 4, 8, 16, 32, 64)}


def _median_seconds(fn: Any, repeats: int = 3) -> tuple[float, Any]:
    _check_int(repeats, "repeats", 1)
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def benchmark_indexes(xb: Any, xq: Any, top_k: int = 10, *, kinds: Sequence[str] = INDEX_KINDS,
                      hnsw_m: int = 32, ef_construction: int = 80, repeats: int = 3) -> tuple[Any, dict, np.ndarray]:
    """Build each index over ``xb`` and time ``xq`` (all queries in one batch, median of ``repeats``).

    Returns ``(table, indexes, exact_ids)``: a DataFrame with build seconds, serialised MiB, queries/s,
    recall@k against the flat index and the speed-up over it (each at :data:`DEFAULT_EFFORT`).
    """
    import pandas as pd

    xb, xq = check_embeddings(xb, "database vectors"), check_embeddings(xq, "query vectors")
    if xb.shape[1] != xq.shape[1]:
        raise ValueError(f"dimension mismatch: query vectors have {xq.shape[1]} dimensions, the database "
                         f"{xb.shape[1]}")
    _check_k(top_k, len(xb), "database")
    _check_int(repeats, "repeats", 1)
    if isinstance(kinds, str):
        raise TypeError(f"kinds must be a list of index kinds, not one string: wrap it as [{kinds!r}]")
    kinds = list(kinds)
    for kind in kinds:
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose among {', '.join(INDEX_KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds lists an index twice: {kinds}")
    if "flat" not in kinds:
        kinds.insert(0, "flat")
    indexes, rows, exact_ids, flat_qps = {}, [], None, None
    for kind in kinds:
        t = time.perf_counter()
        indexes[kind] = build_index(kind, xb, hnsw_m=hnsw_m, ef_construction=ef_construction)
        build_s = time.perf_counter() - t
        effort = DEFAULT_EFFORT.get(kind)
        if effort:
            set_search_effort(indexes[kind], effort)
        sec, (_, ids) = _median_seconds(lambda kind=kind: faiss_search(indexes[kind], xq, top_k), repeats)
        if kind == "flat":
            exact_ids, flat_qps = ids, len(xq) / sec
        rows.append({"index": kind, "effort": effort, "build_s": build_s,
                     "memory_mib": index_bytes(indexes[kind]) / 2**20, "qps": len(xq) / sec,
                     "recall_at_k": recall_vs_exact(ids, exact_ids)})
    table = pd.DataFrame(rows).set_index("index")
    table["speedup"] = table["qps"] / flat_qps
    return table, indexes, exact_ids


def sweep_effort(indexes: Mapping[str, Any], xq: Any, exact_ids: Any, top_k: int = 10,
                 efforts: Mapping[str, Sequence[int]] = EFFORT_SWEEP, repeats: int = 3) -> Any:
    """Queries/s and recall@k of each approximate index over its ``efSearch`` / ``nprobe`` values.

    With the default ``efforts`` the kinds missing from ``indexes`` are skipped; a kind named in ``efforts``
    given explicitly must be in ``indexes``.
    """
    import pandas as pd

    if not isinstance(indexes, Mapping) or not isinstance(efforts, Mapping):
        raise TypeError("indexes and efforts must be dicts keyed by index kind")
    _check_int(repeats, "repeats", 1)
    missing = [k for k in efforts if k not in indexes]
    if missing and efforts is not EFFORT_SWEEP:
        raise ValueError(f"efforts names {missing}, which indexes does not hold (it has {list(indexes)})")
    if all(k in missing for k in efforts):
        raise ValueError(f"no index to sweep: indexes holds {list(indexes)}, efforts names {list(efforts)}")
    rows = []
    for kind, values in efforts.items():
        if kind not in indexes:
            continue
        for e in values:
            set_search_effort(indexes[kind], e)
            sec, (_, ids) = _median_seconds(lambda kind=kind: faiss_search(indexes[kind], xq, top_k), repeats)
            rows.append({"index": kind, "effort": e, "qps": len(xq) / sec,
                         "recall_at_k": recall_vs_exact(ids, exact_ids)})
    return pd.DataFrame(rows)


def cheapest_at_recall(sweep: Any, kind: str = "hnsw", target: float = 0.95) -> Any:
    """The sweep row of ``kind`` with the smallest effort reaching ``target`` recall (else the best)."""
    for col in ("index", "effort", "recall_at_k"):
        if col not in getattr(sweep, "columns", ()):
            raise ValueError(f"sweep must be the table sweep_effort returns (with a {col!r} column)")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 <= target <= 1.0:
        raise ValueError(f"target is a recall and must lie in [0, 1], got {target!r}")
    sub = sweep[sweep["index"] == kind].sort_values("effort")
    if sub.empty:
        raise ValueError(f"the sweep has no {kind!r} rows")
    if sub["recall_at_k"].isna().any():
        raise ValueError(f"the sweep's {kind!r} rows hold a NaN recall")
    good = sub[sub["recall_at_k"] >= target]
    return good.iloc[0] if len(good) else sub.loc[sub["recall_at_k"].idxmax()]
