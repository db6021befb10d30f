"""Approximate nearest neighbours on real sentence vectors: chapter 7's FAISS comparison at full size.

Encodes the ANN collection of the chosen profile (``search.ann_corpus_texts``: in ``full``, the 88,726
course-corpus sentences plus SciFact abstract sentences, 110,000 in all) with all-MiniLM-L6-v2 through the
embedding cache (chunks of 10,000, so an interrupted run resumes), holds out ``--queries`` of them as
queries, and for IndexFlatIP / HNSW / IVF / IVF-PQ reports build time, memory, queries/s and recall@10
against exact search, then the recall-vs-speed sweep over efSearch / nprobe. Prints the tables and writes
them to ``benchmarks/results/ann_benchmark_<profile>_<device>.txt``.

    .venv/bin/python benchmarks/ann_benchmark.py                  # full: 110,000 vectors
    .venv/bin/python benchmarks/ann_benchmark.py --profile smoke  # the lesson's 10,000-vector slice
    .venv/bin/python benchmarks/ann_benchmark.py --vectors glove   # 400,000 GloVe 6B-50d word vectors

``--vectors glove`` needs no encoding at all: the 400,000 GloVe 6B word vectors (50-d), the kind of set the
ann-benchmarks suite uses (its glove-*-angular sets), for a large-n run on a machine where encoding 110,000
sentences is too slow. It is a different (easier, lower-dimensional) workload than sentence vectors.

Numbers are machine-dependent and recorded, never asserted in unit tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="full", choices=("smoke", "full"))
    ap.add_argument("--vectors", default="minilm", choices=("minilm", "glove"),
                    help="sentence vectors of the ANN collection (default) or GloVe word vectors")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N vectors")
    ap.add_argument("--queries", type=int, default=1_000, help="held-out query vectors")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import faiss
    import pandas as pd
    import torch

    from sbert_lessons import models, search
    from sbert_lessons.profile import setup

    P = setup(args.profile)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.vectors == "minilm":
        texts = search.ann_corpus_texts(P.name)
        emb = search.encode_chunked(models.load_sentence_model(models.MINILM), texts)
        what = "384-d all-MiniLM-L6-v2 sentence vectors (search.ann_corpus_texts)"
    else:
        emb = np.array(models.load_glove().vectors, dtype=np.float32)
        what = f"{emb.shape[1]}-d GloVe 6B word vectors"
    if args.limit:
        emb = emb[: args.limit]
    encode_s = time.perf_counter() - t0
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    perm = np.random.default_rng(P.seed).permutation(len(emb))
    xq, xb = emb[perm[: args.queries]], emb[perm[args.queries:]]

    table, indexes, exact_ids = search.benchmark_indexes(xb, xq, args.k, hnsw_m=args.hnsw_m,
                                                         ef_construction=args.ef_construction,
                                                         repeats=args.repeats)
    sweep = search.sweep_effort(indexes, xq, exact_ids, args.k, repeats=args.repeats)
    pick = search.cheapest_at_recall(sweep, "hnsw", 0.95)

    device = P.device if P.device == "cpu" else torch.cuda.get_device_name(0)
    header = (f"# ANN benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, profile {P.name}, "
              f"FAISS {faiss.__version__} on CPU with {faiss.omp_get_max_threads()} threads, "
              f"{platform.processor() or platform.machine()}, encoder on {device}\n"
              f"# {len(xb):,} database vectors + {len(xq):,} held-out queries, {what}, "
              f"cosine (inner product on unit vectors); k={args.k}; HNSW M={args.hnsw_m}, "
              f"efConstruction={args.ef_construction}; median of {args.repeats} timed runs after a warm-up; "
              f"vectors ready in {encode_s:.0f} s (cache hits are fast)\n"
              f"# machine load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
              f"on {os.cpu_count()} cores: timings under load are slower, ratios less so\n")
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        body = (f"{header}\n## one row per index (effort = efSearch for HNSW, nprobe for IVF)\n"
                f"{table.round(4).to_string()}\n\n## recall@{args.k} vs queries/s\n"
                f"{sweep.round(4).to_string(index=False)}\n\n"
                f"HNSW cheapest efSearch with recall@{args.k} >= 0.95: efSearch={int(pick.effort)}, "
                f"recall {pick.recall_at_k:.4f}, {pick.qps:,.0f} queries/s = "
                f"{pick.qps / table.loc['flat', 'qps']:.1f}x the flat index\n")
    print(body)
    name = f"ann_benchmark_{args.vectors}_{len(emb)}_{P.device.split(':')[0]}.txt"
    out = Path(__file__).parent / "results" / name
    out.write_text(body)
    print(f"written to {out.relative_to(Path(__file__).parent.parent)}")


if __name__ == "__main__":
    main()
