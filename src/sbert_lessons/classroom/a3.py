"""Assignment A3's data: a slice of SciFact, and its embeddings through the course cache."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

A3_DOCS = 240
A3_QUERIES = 80


@dataclass
class SearchSlice:
    """A3's SciFact slice: ``doc_ids``/``doc_texts``, ``dev`` queries for the student, ``grading`` queries
    for the hidden test (``{query_id: text}``), and ``qrels`` for both."""

    doc_ids: list[str]
    doc_texts: list[str]
    dev: dict[str, str]
    grading: dict[str, str]
    qrels: dict[str, dict[str, int]]


@functools.lru_cache(maxsize=2)
def scifact_slice(n_docs: int = A3_DOCS, n_queries: int = A3_QUERIES) -> SearchSlice:
    """Assignment A3's slice of SciFact (test split), small enough to encode on a laptop in a minute.

    The first ``n_queries`` claims (first half: dev, for the student; second half: grading), every
    document judged for them, and, up to ``n_docs`` documents, *hard* distractors: for each claim in
    turn, the best BM25 match among the whole corpus's unjudged documents (so the slice is not
    trivially easy the way a random sample of distractors would make it). Cached per process: treat
    the result as read-only.
    """
    from ..data import load_scifact
    from ..search import bm25_search, scifact_doc_texts, scifact_query_texts

    if n_queries < 2 or n_docs < 1:
        raise ValueError("scifact_slice needs at least 2 queries and 1 document")
    sf = load_scifact("test")
    queries = sf.queries.iloc[:n_queries]
    qids = [str(q) for q in queries["_id"]]
    texts = scifact_query_texts(queries)
    judged = {d for q in qids for d in sf.qrels[q]}
    all_ids = [str(d) for d in sf.corpus["_id"]]
    keep = [d for d in all_ids if d in judged]
    _, ids = bm25_search(scifact_doc_texts(sf.corpus), texts, top_k=50)
    chosen, rank = set(keep), 0
    while len(chosen) < n_docs and rank < ids.shape[1]:
        for row in ids:
            d = all_ids[int(row[rank])]
            if d not in chosen and len(chosen) < n_docs:
                chosen.add(d)
        rank += 1
    corpus = sf.corpus[sf.corpus["_id"].astype(str).isin(chosen)].reset_index(drop=True)
    half = n_queries // 2
    return SearchSlice(doc_ids=[str(d) for d in corpus["_id"]], doc_texts=scifact_doc_texts(corpus),
                       dev=dict(zip(qids[:half], texts[:half])), grading=dict(zip(qids[half:], texts[half:])),
                       qrels={q: dict(sf.qrels[q]) for q in qids})


A3_MAX_SEQ = 128


def encode_slice(model: Any, texts: list[str]) -> np.ndarray:
    """Unit-length embeddings of A3 texts through the course cache, truncated to ``A3_MAX_SEQ`` tokens
    (the notebook and the grader call this one function, so they share cache entries)."""
    model.max_seq_length = min(int(model.max_seq_length), A3_MAX_SEQ)
    from ..cache import encode

    return encode(model, list(texts), normalize=True)
