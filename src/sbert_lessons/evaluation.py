"""Evaluation: STS Spearman correlation (chapter 0); retrieval and clustering scores come later.

The SBERT paper reports Spearman's rank correlation ×100 between the cosine similarity of the two
sentence embeddings and the gold score. :func:`spearman` is written from scratch (average ranks for
ties, then Pearson on the ranks) and is tested against ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rankdata(x: Any) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy's ``method='average'``)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"rankdata expects a 1-D array, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"rankdata got NaN at position {int(np.flatnonzero(np.isnan(x))[0])}: NaN has no rank")
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # boundaries of runs of equal values
    starts = np.r_[0, np.flatnonzero(sorted_x[1:] != sorted_x[:-1]) + 1]
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(pred: Any, gold: Any) -> float:
    """Spearman's rho of two equal-length 1-D sequences (NaN-free, at least 2 items, not constant)."""
    try:
        a, b = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"spearman needs two sequences of numbers (pred, gold): {exc}") from None
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"spearman needs two 1-D arrays of one length, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError("spearman needs at least two pairs")
    for name, arr in (("pred", a), ("gold", b)):
        if not np.isfinite(arr).all():
            raise ValueError(f"spearman got NaN or infinite values in {name} (first at position "
                             f"{int(np.flatnonzero(~np.isfinite(arr))[0])}; an empty or zero embedding?)")
    ra, rb = rankdata(a) - (len(a) + 1) / 2, rankdata(b) - (len(b) + 1) / 2
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    if denom == 0:
        raise ValueError("spearman is undefined when one side is constant")
    return float((ra * rb).sum() / denom)


def paired_cosine(u: Any, v: Any, eps: float = 1e-12) -> np.ndarray:
    """Cosine similarity of row i of ``u`` with row i of ``v``.

    A zero row (norm below ``eps`` after rescaling) raises, as it has no direction; so does a row with NaN
    or infinite values. Rows too large or too small for a plain norm are scaled by their largest entry
    first (cosine does not depend on scale).
    """
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if u.shape != v.shape or u.ndim != 2:
        raise ValueError(f"paired_cosine needs two (n, d) arrays of one shape, got {u.shape} and {v.shape}")
    for name, arr in (("u", u), ("v", v)):
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(f"{bad.sum()} row(s) of {name} contain NaN or infinite values, first at row "
                             f"{int(np.flatnonzero(bad)[0])}: cosine undefined")
    with np.errstate(over="ignore", under="ignore"):
        nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    lo = max(eps, 1e-150)  # below, the square sum is subnormal and the norm inexact: rescale first
    if not (np.isfinite(nu).all() and np.isfinite(nv).all() and (nu >= lo).all() and (nv >= lo).all()):
        u, v = _scale_rows(u), _scale_rows(v)  # overflow or underflow of the square sum
        nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    zero = np.flatnonzero((nu < eps) | (nv < eps))
    if zero.size:
        raise ValueError(f"{zero.size} zero-length embedding(s), first at row {zero[0]}: cosine undefined")
    return (u * v).sum(axis=1) / (nu * nv)


def _scale_rows(x: np.ndarray) -> np.ndarray:
    """Rows divided by their largest absolute entry (zero rows stay zero)."""
    top = np.abs(x).max(axis=1, keepdims=True) if x.shape[1] else np.ones((len(x), 1))
    return x / np.where(top == 0, 1.0, top)


def sts_spearman(emb1: Any, emb2: Any, gold: Any) -> float:
    """Spearman ×100 between the paired cosine of ``emb1``/``emb2`` and the ``gold`` scores."""
    gold = np.asarray(gold, dtype=float)
    cos = paired_cosine(emb1, emb2)
    if len(cos) != len(gold):
        raise ValueError(f"{len(cos)} embedding pairs but {len(gold)} gold scores")
    return 100.0 * spearman(cos, gold)


def encode_pairs(model: Any, df: Any, col1: str = "sentence1", col2: str = "sentence2",
                 **encode_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Encode both columns of a pair table through the cache, each distinct sentence once."""
    from .cache import encode
    from .data import unique_texts

    s1, s2 = list(df[col1]), list(df[col2])
    texts = unique_texts(s1, s2)
    emb = encode(model, texts, **encode_kwargs)
    row = {t: i for i, t in enumerate(texts)}
    return emb[[row[t] for t in s1]], emb[[row[t] for t in s2]]


def evaluate_sts(model: Any, df: Any, **encode_kwargs: Any) -> float:
    """STS Spearman ×100 of a sentence model on a ``sentence1, sentence2, score`` table."""
    e1, e2 = encode_pairs(model, df, **encode_kwargs)
    return sts_spearman(e1, e2, df["score"].to_numpy(dtype=float))


# ------------------------------------------------------------------ retrieval metrics (chapter 7)
# Written from scratch and checked against trec_eval itself (pytrec-eval-terrier) in the unit tests and
# in chapter 7. A run is {query_id: {doc_id: score}}; qrels are {query_id: {doc_id: relevance}}, and a
# document is relevant when its relevance is >= 1 (trec_eval's default level).
def _retrieval_inputs(run: Any, qrels: Any, k: Any) -> None:
    from collections.abc import Mapping

    if not isinstance(run, Mapping) or not isinstance(qrels, Mapping):
        raise TypeError("run and qrels must be dicts {query_id: {doc_id: score or relevance}}")
    if not qrels:
        raise ValueError("qrels are empty: there is nothing to evaluate against")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"the cut-off k must be a positive integer, got {k!r}")


def ranked_docs(docs: Any) -> list[str]:
    """Doc ids by decreasing score; ties by decreasing doc id (trec_eval's order)."""
    from .search import ranked_ids

    return ranked_ids(docs)


def ndcg_at_k_per_query(run: Any, qrels: Any, k: int = 10) -> dict[str, float]:
    """nDCG@k for every judged query: DCG = sum rel_i / log2(i + 1) over ranks i = 1..k (linear gain,
    as trec_eval's ``ndcg_cut``), divided by the DCG of the ideal ordering of the judged documents.
    A judged query missing from the run scores 0; a query with no relevant document is skipped."""
    _retrieval_inputs(run, qrels, k)
    out = {}
    for qid, rels in qrels.items():
        gains = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
        if not gains:
            continue
        ideal = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
        top = ranked_docs(run.get(qid, {}))[:k]
        dcg = sum(max(rels.get(d, 0), 0) / np.log2(i + 2) for i, d in enumerate(top))
        out[qid] = float(dcg / ideal)
    return out


def _judged_tops(run: Any, qrels: Any, k: int):
    """(query id, its relevant documents, the run's top k) for every query with a relevant document."""
    _retrieval_inputs(run, qrels, k)
    for qid, rels in qrels.items():
        relevant = {d for d, r in rels.items() if r > 0}
        if relevant:
            yield qid, relevant, ranked_docs(run.get(qid, {}))[:k]


def recall_at_k_per_query(run: Any, qrels: Any, k: int = 100) -> dict[str, float]:
    """Recall@k for every judged query: the share of its relevant documents found in the top k."""
    return {qid: len(relevant.intersection(top)) / len(relevant)
            for qid, relevant, top in _judged_tops(run, qrels, k)}


def mrr_at_k_per_query(run: Any, qrels: Any, k: int = 10) -> dict[str, float]:
    """Reciprocal rank of the first relevant document within the top k (0 when none is there)."""
    return {qid: next((1.0 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0)
            for qid, relevant, top in _judged_tops(run, qrels, k)}


def _mean(per_query: dict[str, float], what: str) -> float:
    if not per_query:
        raise ValueError(f"{what}: no judged query has a relevant document")
    return float(np.mean(list(per_query.values())))


def ndcg_at_k(run: Any, qrels: Any, k: int = 10) -> float:
    """Mean nDCG@k over the judged queries (see :func:`ndcg_at_k_per_query`)."""
    return _mean(ndcg_at_k_per_query(run, qrels, k), "nDCG")


def recall_at_k(run: Any, qrels: Any, k: int = 100) -> float:
    """Mean recall@k over the judged queries (see :func:`recall_at_k_per_query`)."""
    return _mean(recall_at_k_per_query(run, qrels, k), "recall")


def mrr_at_k(run: Any, qrels: Any, k: int = 10) -> float:
    """Mean reciprocal rank within the top k over the judged queries."""
    return _mean(mrr_at_k_per_query(run, qrels, k), "MRR")
