"""sbert_lessons.search (chapter 7): exact top-k, runs, BM25, fusion, rerank, FAISS, quantization."""

import numpy as np
import pandas as pd
import pytest
import torch

from sbert_lessons import search


def _vectors(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32)


# ------------------------------------------------------------------------------------------- exact
def test_exact_topk_equals_library_semantic_search():
    from sentence_transformers import util

    q, c = _vectors(7, seed=1), _vectors(50, seed=2)
    scores, ids = search.exact_topk(q, c, top_k=5)
    lib = util.semantic_search(torch.from_numpy(q), torch.from_numpy(c), top_k=5)
    for row_s, row_i, hits in zip(scores, ids, lib):
        assert row_i.tolist() == [h["corpus_id"] for h in hits]
        assert np.allclose(row_s, [h["score"] for h in hits], atol=1e-5)


def test_exact_topk_dot_product_and_order():
    c = np.array([[1, 0], [0, 2], [3, 0]], dtype=np.float32)
    scores, ids = search.exact_topk(np.array([[1, 0]], dtype=np.float32), c, top_k=3, cosine=False)
    assert ids.tolist() == [[2, 0, 1]] and scores.tolist() == [[3, 1, 0]]
    _, ids = search.exact_topk(np.array([[1, 0]], dtype=np.float32), c, top_k=3)  # cosine: tie 0 and 2
    assert ids.tolist() == [[0, 2, 1]]  # ties broken by the lower index


@pytest.mark.parametrize("bad, match", [
    ({"top_k": 51}, "larger than the corpus"),
    ({"corpus": np.zeros((0, 16), np.float32)}, "corpus is empty"),
    ({"corpus": _vectors(50, d=8)}, "dimension mismatch"),
    ({"queries": np.full((2, 16), np.nan, np.float32)}, "NaN"),
    ({"top_k": 0}, ">= 1"),
])
def test_exact_topk_rejects_bad_input(bad, match):
    args = {"queries": _vectors(3), "corpus": _vectors(50), "top_k": 5} | bad
    with pytest.raises(ValueError, match=match):
        search.exact_topk(args["queries"], args["corpus"], args["top_k"])


def test_nan_in_corpus_is_named():
    c = _vectors(10)
    c[4, 3] = np.nan
    with pytest.raises(ValueError, match="first at row 4"):
        search.exact_topk(_vectors(1), c, 3)


def test_topk_to_run():
    run = search.topk_to_run(np.array([[2, 0, -1]]), np.array([[0.9, 0.5, 0.0]]), ["q"], ["a", "b", "c"])
    assert run == {"q": {"c": 0.9, "a": 0.5}}
    with pytest.raises(ValueError, match="query ids"):
        search.topk_to_run(np.array([[0]]), np.array([[1.0]]), ["q1", "q2"], ["a"])


# ------------------------------------------------------------------------------- lexical and hybrid
def test_reciprocal_rank_fusion_hand_worked():
    # run A ranks a, b, c; run B ranks c, a, d. With k = 60:
    # a: 1/61 + 1/62, b: 1/62, c: 1/63 + 1/61, d: 1/63  ->  order a, c, b, d
    a = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    b = {"q": {"c": 0.9, "a": 0.5, "d": 0.1}}
    fused = search.reciprocal_rank_fusion([a, b], k=60)["q"]
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62) and fused["d"] == pytest.approx(1 / 63)
    assert search.ranked_ids(fused) == ["a", "c", "b", "d"]
    assert list(search.reciprocal_rank_fusion([a, b], top_k=2)["q"]) == ["a", "c"]
    with pytest.raises(ValueError, match="at least one run"):
        search.reciprocal_rank_fusion([])


def test_normalized_score_mix_hand_worked():
    a = {"q": {"x": 10.0, "y": 5.0, "z": 0.0}}   # min-max -> 1, 0.5, 0
    b = {"q": {"y": 0.8, "z": 0.4}}              # min-max -> 1, 0
    mixed = search.normalized_score_mix([a, b], weights=[1, 3])["q"]  # weights -> 0.25, 0.75
    assert mixed == pytest.approx({"x": 0.25, "y": 0.25 * 0.5 + 0.75, "z": 0.0})
    with pytest.raises(ValueError, match="weights"):
        search.normalized_score_mix([a, b], weights=[1, -1])
    with pytest.raises(ValueError, match="2 runs but 1 weights"):
        search.normalized_score_mix([a, b], weights=[1])


def test_bm25_finds_the_word_overlap():
    corpus = ["the cat sat on the mat", "dogs chase cats in the park", "protein folding in yeast cells",
              "a mat for yoga"]
    scores, ids = search.bm25_search(corpus, ["yeast protein", "yoga mat"], top_k=2)
    assert ids[0, 0] == 2 and ids[1, 0] == 3
    assert scores.shape == (2, 2) and scores[0, 0] > scores[0, 1]
    with pytest.raises(ValueError, match="larger than the corpus"):
        search.bm25_search(corpus, ["x"], top_k=5)
    with pytest.raises(ValueError, match="empty"):
        search.bm25_search([], ["x"], top_k=1)


class _FakeCrossEncoder:
    """Scores a pair by the length of the document: a re-ranker whose answer we know."""

    def predict(self, pairs, batch_size=32, show_progress_bar=False):
        return np.array([len(d) for _, d in pairs], dtype=float)


def test_rerank_reorders_the_head_and_keeps_the_tail():
    run = {"q": {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}}
    docs = {"a": "x", "b": "xxx", "c": "xx", "d": "xxxxxxx"}
    out = search.rerank(_FakeCrossEncoder(), run, {"q": "query"}, docs, depth=3)
    assert search.ranked_ids(out["q"]) == ["b", "c", "a", "d"]  # d is below the depth: stays last
    with pytest.raises(ValueError, match="no text for document"):
        search.rerank(_FakeCrossEncoder(), run, {"q": "query"}, {"a": "x"}, depth=2)


def test_scifact_texts():
    corpus = pd.DataFrame({"_id": ["1"], "title": ["A title."], "text": [" Body one. Body two is here. "]})
    assert search.scifact_doc_texts(corpus) == ["A title. Body one. Body two is here."]
    assert search.scifact_sentences(corpus, min_chars=5) == ["Body one.", "Body two is here."]
    with pytest.raises(ValueError, match="title"):
        search.scifact_doc_texts(pd.DataFrame({"text": ["x"]}))


# -------------------------------------------------------------------------------------------- FAISS
@pytest.fixture(scope="module")
def unit_vectors():
    x = _vectors(2_000, d=32, seed=3)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_index_equals_exact(unit_vectors):
    q = unit_vectors[:20]
    index = search.build_index("flat", unit_vectors)
    _, got = search.faiss_search(index, q, 10)
    _, want = search.exact_topk(q, unit_vectors, 10)
    assert search.recall_vs_exact(got, want) == 1.0


@pytest.mark.parametrize("kind, effort, floor", [("hnsw", 128, 0.9), ("ivf", 64, 0.9), ("ivfpq", 64, 0.2)])
def test_approximate_indexes_find_most_neighbours(unit_vectors, kind, effort, floor):
    q = unit_vectors[:50] + 0.01
    _, want = search.exact_topk(q, unit_vectors, 10)
    index = search.set_search_effort(search.build_index(kind, unit_vectors, nlist=64, pq_m=8), effort)
    _, got = search.faiss_search(index, q, 10)
    assert floor <= search.recall_vs_exact(got, want) <= 1.0
    assert search.index_bytes(index) > 0


def test_ivfpq_is_smaller_than_flat(unit_vectors):
    flat = search.index_bytes(search.build_index("flat", unit_vectors))
    assert search.index_bytes(search.build_index("ivfpq", unit_vectors, nlist=16, pq_m=8)) < flat / 2


def test_faiss_errors(unit_vectors):
    with pytest.raises(ValueError, match="unknown index kind"):
        search.build_index("lsh", unit_vectors)
    with pytest.raises(ValueError, match="no search-effort"):
        search.set_search_effort(search.build_index("flat", unit_vectors), 8)
    with pytest.raises(ValueError, match="dimension mismatch"):
        search.faiss_search(search.build_index("flat", unit_vectors), _vectors(2, d=8), 3)
    with pytest.raises(ValueError, match="larger than the index"):
        search.faiss_search(search.build_index("flat", unit_vectors[:5]), unit_vectors[:1], 6)
    with pytest.raises(ValueError, match="same shape|one shape"):
        search.recall_vs_exact(np.zeros((2, 3)), np.zeros((2, 4)))


# ------------------------------------------------------------------------------------- quantization
def test_quantized_search(unit_vectors):
    q = unit_vectors[:40] + 0.05
    base = search.quantized_search(q, unit_vectors, "float32", 10)
    _, want = search.exact_topk(q, unit_vectors, 10)
    assert np.array_equal(base["ids"], want)
    i8 = search.quantized_search(q, unit_vectors, "int8", 10)
    b1 = search.quantized_search(q, unit_vectors, "binary", 10, rescore_multiplier=10)
    assert search.recall_vs_exact(i8["ids"], want) > 0.9
    assert (b1["ids"][:, 0] == np.arange(40)).all()  # each query's own (slightly moved) vector comes first
    assert search.recall_vs_exact(b1["ids"], want) > 0.2  # 32 bits per vector: the rest is coarse
    assert i8["corpus_bytes"] * 4 == base["corpus_bytes"] and b1["corpus_bytes"] * 32 == base["corpus_bytes"]
    with pytest.raises(ValueError, match="unknown precision"):
        search.quantized_search(q, unit_vectors, "int4", 10)


def test_ray_available_is_a_bool():
    assert isinstance(search.ray_available(), bool)


def test_benchmark_helpers(unit_vectors):
    xq, xb = unit_vectors[:30], unit_vectors[30:]
    table, indexes, exact_ids = search.benchmark_indexes(xb, xq, 5, kinds=("hnsw",), repeats=1)
    assert list(table.index) == ["flat", "hnsw"]  # flat is always added: it is the reference
    assert table.loc["flat", "recall_at_k"] == 1.0 and table.loc["flat", "speedup"] == 1.0
    sweep = search.sweep_effort(indexes, xq, exact_ids, 5, efforts={"hnsw": (4, 64)}, repeats=1)
    assert list(sweep["effort"]) == [4, 64]
    pick = search.cheapest_at_recall(sweep, "hnsw", target=0.0)
    assert pick.effort == 4  # every row reaches recall 0: the cheapest wins
    with pytest.raises(ValueError, match="no 'ivf' rows"):
        search.cheapest_at_recall(sweep, "ivf")


def test_pq_default_divides_any_dimension():
    x = _vectors(400, d=50, seed=5)
    assert search.build_index("ivfpq", x, nlist=4).pq.M == 10  # 5 dimensions per code


def test_quantized_search_without_rescoring_and_timed_parts(unit_vectors):
    q = unit_vectors[:40] + 0.05
    for prec in ("int8", "binary"):
        plain = search.quantized_search(q, unit_vectors, prec, 10, rescore=False)
        x1 = search.quantized_search(q, unit_vectors, prec, 10, rescore_multiplier=1)
        # rescoring the top 10 only re-orders them: the same set of documents per query
        assert [set(a) for a in plain["ids"].tolist()] == [set(b) for b in x1["ids"].tolist()]
        assert plain["rescore_s"] == 0.0 and x1["rescore_s"] >= 0.0
        for r in (plain, x1):
            assert r["search_s"] == pytest.approx(r["candidate_s"] + r["rescore_s"])
        # without rescoring, the quantized scores are returned, highest first
        assert (np.diff(plain["scores"], axis=1) <= 0).all()
    with pytest.raises(TypeError, match="rescore must be True or False"):
        search.quantized_search(q, unit_vectors, "int8", 10, rescore="yes")


def test_read_embeddings_parquet_restores_row_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = _vectors(5, d=4)
    order = [3, 0, 4, 1, 2]  # workers may write batches in any order
    flat = pa.array(emb[order].reshape(-1))
    pq.write_table(pa.table({"row": pa.array(order, type=pa.int64()),
                             "embedding": pa.FixedSizeListArray.from_arrays(flat, 4)}), tmp_path / "part.parquet")
    assert np.array_equal(search.read_embeddings_parquet(str(tmp_path)), emb)
    pq.write_table(pa.table({"row": [0]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="no column"):
        search.read_embeddings_parquet(str(tmp_path / "other.parquet"))


def test_encode_with_pool_refuses_bad_threads():
    class Fake:
        device = torch.device("cpu")

    with pytest.raises(ValueError, match="threads_per_process"):
        search.encode_with_pool(Fake(), ["a"], threads_per_process=0)


def test_parquet_encoder_writes_its_worker_id():
    import os

    pytest.importorskip("pyarrow")

    class FakeModel:
        def encode(self, texts, **kwargs):
            return np.arange(len(texts) * 3, dtype=np.float32).reshape(len(texts), 3)

    enc = object.__new__(search.ParquetEncoder)  # no model loading: the fake stands in
    enc.model = FakeModel()
    out = enc({"row": np.array([4, 7]), "text": np.array(["a", "b"])})
    assert out.column_names == ["row", "embedding", "worker"]
    assert out["worker"].to_pylist() == [os.getpid()] * 2
    assert out["row"].to_pylist() == [4, 7]
