"""Issue 25: the search, long-text, clustering, model-choice and adaptation helpers (chapters 7-10) under
bad input. Each input here gave a silently different result or a bare exception from numpy, FAISS or pandas;
now it gives the right answer or an error that names the argument, the row, the id or the limit.
"""

import math

import numpy as np
import pandas as pd
import pytest
from fakes_ch07_10 import ReadingModel, direct_encode

from sbert_lessons import adaptation, choosing, clustering, longtext, search


# ------------------------------------------------------------------- the reproductions
def test_chunk_and_pool_refuses_a_window_larger_than_the_model_reads():
    m = ReadingModel(max_seq_length=8)  # reads 6 tokens
    text = " ".join(f"w{i:02d}" for i in range(30))  # 30 one-token words
    with pytest.raises(ValueError, match=r"max_tokens=20 is larger than the model's max_seq_length=8"):
        longtext.chunk_and_pool(m, [text], max_tokens=20, encode=direct_encode)
    for mode in ("window", "sentences"):
        with pytest.raises(ValueError, match="max_seq_length=8"):
            longtext.chunk_and_pool(m, [text], max_tokens=1000, mode=mode, encode=direct_encode)


def test_chunk_and_pool_reads_every_token_of_a_word_longer_than_a_chunk():
    m = ReadingModel(max_seq_length=5)  # reads 3 tokens of 3 characters
    word = "".join(f"{i:03d}" for i in range(10))  # one "word" of 10 tokens: a long URL, a chemical name
    text = f"Short start. {word} and an end."
    emb, n = longtext.chunk_and_pool(m, [text], mode="sentences", encode=direct_encode)
    read = {t for r in m.read for t in r}
    assert {f"{i:03d}" for i in range(10)} <= read      # the word used to be one chunk, cut after 3 tokens
    assert n[0] >= 4 and np.isfinite(emb).all()
    assert longtext.chunk_text(m, word) == ["000001002", "003004005", "006007008", "009"]


def test_fusion_and_rerank_refuse_a_nan_or_infinite_score():
    for bad in (math.nan, math.inf, -math.inf):
        run = {"q1": {"d1": bad, "d2": 0.5}}
        other = {"q1": {"d2": 1.0, "d1": 0.1}}
        with pytest.raises(ValueError, match=r"runs\[0\]\['q1'\]: document 'd1' has score"):
            search.reciprocal_rank_fusion([run, other])
        with pytest.raises(ValueError, match=r"'q1'.*'d1'"):
            search.normalized_score_mix([other, run], weights=[0.5, 0.5])
        with pytest.raises(ValueError, match=r"'q1'.*'d1'"):
            search.rerank(_LengthScorer(), run, {"q1": "query"}, {"d1": "x", "d2": "xx"})
        with pytest.raises(ValueError, match="'d1'"):
            search.ranked_ids(run["q1"])


def test_rerank_refuses_a_nan_from_the_cross_encoder_by_query_and_document():
    class NaNScorer:
        def predict(self, pairs, **kw):
            return np.array([1.0 if d != "xx" else np.nan for _, d in pairs])

    run = {"q1": {"d1": 2.0, "d2": 1.0}}
    with pytest.raises(ValueError, match=r"query 'q1', document 'd2'"):
        search.rerank(NaNScorer(), run, {"q1": "query"}, {"d1": "x", "d2": "xx"})

    class ShortScorer:
        def predict(self, pairs, **kw):
            return np.ones(len(pairs) - 1)

    with pytest.raises(ValueError, match="one score per pair"):
        search.rerank(ShortScorer(), run, {"q1": "query"}, {"d1": "x", "d2": "xx"})


def test_topk_to_run_refuses_repeated_ids():
    ids, scores = np.array([[0, 1], [1, 0]]), np.array([[0.9, 0.8], [0.7, 0.6]])
    with pytest.raises(ValueError, match=r"query id 'q1' appears twice \(positions 0 and 1\)"):
        search.topk_to_run(ids, scores, ["q1", "q1"], ["a", "b"])  # used to keep one query
    six = np.arange(6)[None, :]
    with pytest.raises(ValueError, match="document id 'a' appears twice"):
        search.topk_to_run(six, np.linspace(1, 0, 6)[None, :], ["q"], ["a", "b", "c", "d", "e", "a"])
    with pytest.raises(ValueError, match="document 'b' appears twice in its results"):
        search.topk_to_run(np.array([[1, 1]]), np.array([[0.9, 0.8]]), ["q"], ["a", "b"])
    with pytest.raises(ValueError, match="'q'.*'a'.*nan"):
        search.topk_to_run(np.array([[0]]), np.array([[np.nan]]), ["q"], ["a"])
    with pytest.raises(ValueError, match="row 5, but doc_ids has only 2"):
        search.topk_to_run(np.array([[5]]), np.array([[1.0]]), ["q"], ["a", "b"])
    with pytest.raises(TypeError, match="integer row numbers"):
        search.topk_to_run(np.array([[0.0]]), np.array([[1.0]]), ["q"], ["a"])
    padded = search.topk_to_run(np.array([[1, -1]]), np.array([[0.5, -np.inf]]), ["q"], ["a", "b"])
    assert padded == {"q": {"b": 0.5}}  # padding (-1) is skipped, whatever its score


def test_score_agreement_refuses_a_zero_or_nan_row():
    q = np.array([1.0, 0.0])
    with pytest.raises(ValueError, match="candidates: row 1 is a zero-length"):
        choosing.score_agreement(q, np.array([[0.5, 0.5], [0.0, 0.0]]))  # used to be "top_cosine": 1
    with pytest.raises(ValueError, match="candidates: row 0 holds NaN"):
        choosing.score_agreement(q, np.array([[np.nan, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="query: row 0 is a zero-length"):
        choosing.score_agreement(np.zeros(2), np.array([[1.0, 0.0]]))
    r = choosing.score_agreement(q, np.array([[1e-200, 1e-201], [3e200, 3e200]]))  # direction survives
    assert r["top_cosine"] == 0 and r["cosine"][0] == pytest.approx(0.995, abs=1e-3)
    with pytest.raises(ValueError, match="overflows"):
        choosing.score_agreement(np.array([1e300, 1e300]), np.array([[1e300, 1e300]]))


class _StrScorer:
    def predict(self, pairs, **kw):
        return ["high"] * len(pairs)


class _LengthScorer:
    def predict(self, pairs, **kw):
        return np.array([float(len(d)) for _, d in pairs])


# ----------------------------------------------------------------------------------------- search
def _vecs(n, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_exact_topk_survives_long_and_tiny_vectors_and_refuses_overflowing_dots():
    c = _vecs(20)
    _, want = search.exact_topk(c[:3], c, 5)
    for scale in (1e-30, 1e25):  # float32 square sums under- and overflow at these scales
        _, got = search.exact_topk(c[:3] * scale, c * scale, 5)
        assert np.array_equal(got, want), scale
    with pytest.raises(ValueError, match="overflow"):
        search.exact_topk(c[:3] * 1e25, c * 1e25, 5, cosine=False)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        search.exact_topk(c[:3], c, 5, chunk=0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: search.exact_topk(np.array([[1 + 1j, 0]]), _vecs(3, d=2), 1), ValueError, "real numbers"),
    (lambda: search.exact_topk([[1.0, 2.0], [1.0]], _vecs(3, d=2), 1), ValueError, "different lengths"),
    (lambda: search.exact_topk(np.array([[1e39, 1.0]]), _vecs(3, d=2), 1), ValueError, "float32's range"),
    (lambda: search.topk_to_run([[0, 1], [0]], [[1.0, 0.5], [1.0]], ["q", "r"], ["a", "b"]), ValueError,
     "different lengths"),
    (lambda: search.scifact_doc_texts(pd.DataFrame({"title": ["t", None], "text": ["x", "y"]})), ValueError,
     "'title' is missing .* row 1"),  # used to become the text "None y"
    (lambda: search.scifact_query_texts(pd.DataFrame({"text": [np.nan]})), ValueError, "'text' is missing"),
    (lambda: search.rerank(_StrScorer(), {"q": {"a": 1.0}}, {"q": "x"}, {"a": "y"}), TypeError, "not numbers"),
    (lambda: search.reciprocal_rank_fusion({"q": {"a": 1.0}}), TypeError, r"wrap it as \[run\]"),
    (lambda: search.reciprocal_rank_fusion([{"q": {"a": 1.0}}], top_k=-1), ValueError, "top_k must be >= 1"),
    (lambda: search.reciprocal_rank_fusion([{"q": {"a": 1.0}}], top_k=1.5), TypeError, "top_k must be an integer"),
    (lambda: search.reciprocal_rank_fusion([{"q": {"a": 1.0}}], k=math.nan), ValueError, "finite"),
    (lambda: search.reciprocal_rank_fusion([{"q": {"a": "0.5"}}]), TypeError, "'a' has score '0.5'"),
    (lambda: search.reciprocal_rank_fusion([{1: {"a": 1.0}}, {"1": {"a": 1.0}}]), ValueError, "appears both as"),
    (lambda: search.normalized_score_mix([{"q": {"a": 1.0}}], ["x"]), TypeError, "weights must be numbers"),
    (lambda: search.normalized_score_mix([{"q": {"a": 1.0}}], [1], top_k=0), ValueError, "top_k"),
    (lambda: search.rerank(_LengthScorer(), {"q": {"a": 1.0}}, ["q"], {"a": "x"}), TypeError, "query_texts"),
    (lambda: search.rerank(object(), {"q": {"a": 1.0}}, {"q": "x"}, {"a": "x"}), TypeError, "predict"),
    (lambda: search.rerank(_LengthScorer(), {"q": {"a": 1.0}}, {"q": "x"}, {"a": "x"}, batch_size=0),
     ValueError, "batch_size"),
    (lambda: search.bm25_search(["a cat", None], ["cat"], 1), TypeError, "item 1 is NoneType"),
    (lambda: search.bm25_search(["the", "of"], ["cat"], 1), ValueError, "no corpus text has a word"),
    (lambda: search.bm25_search(["a cat", "dog"], "cat", 1), TypeError, "not one string"),
    (lambda: search.bm25_search(["a cat", "dog"], ["cat"], 1, b=2.0), ValueError, r"b .*\[0, 1\]"),
    (lambda: search.bm25_search(["a cat", "dog"], ["cat"], 1, method="bm99"), ValueError, "unknown BM25"),
    (lambda: search.build_index("ivfpq", _vecs(100)), ValueError, "needs at least that many vectors"),
    (lambda: search.build_index("ivf", _vecs(50), nlist=-3), ValueError, "nlist must be >= 1"),
    (lambda: search.build_index("hnsw", _vecs(50), hnsw_m=0), ValueError, "hnsw_m"),
    (lambda: search.build_index("ivfpq", _vecs(300), pq_bits=20), ValueError, "pq_bits"),
    (lambda: search.faiss_search(object(), _vecs(1), 1), TypeError, "FAISS index"),
    (lambda: search.set_search_effort(np.zeros(3), 8), TypeError, "FAISS index"),
    (lambda: search.index_bytes("index.faiss"), TypeError, "FAISS index"),
    (lambda: search.recall_vs_exact(np.zeros((2, 3), int), np.array([[0, 0, 1], [1, 2, 3]])), ValueError,
     "exact_ids row 0 repeats"),
    (lambda: search.recall_vs_exact(np.zeros((0, 3), int), np.zeros((0, 3), int)), ValueError, "non-empty"),
    (lambda: search.quantized_search(_vecs(2), _vecs(20), "int8", 5, calibration=_vecs(5, d=4)),
     ValueError, "calibration embeddings have 4 dimensions"),
    (lambda: search.encode_chunked(object(), ["a"], chunk_size=2.5), TypeError, "chunk_size"),
    (lambda: search.scifact_sentences(pd.DataFrame({"title": ["x"]})), ValueError, "'text' column"),
    (lambda: search.cheapest_at_recall(pd.DataFrame({"effort": [1]}), "hnsw"), ValueError, "'index' column"),
    (lambda: search.cheapest_at_recall(pd.DataFrame({"index": ["hnsw"], "effort": [1], "recall_at_k": [0.5]}),
                                       "hnsw", math.nan), ValueError, r"target .*\[0, 1\]"),
    (lambda: search.benchmark_indexes(_vecs(50), _vecs(3), 5, kinds="hnsw"), TypeError, r"\['hnsw'\]"),
    (lambda: search.benchmark_indexes(_vecs(50), _vecs(3, d=4), 5), ValueError, "dimension mismatch"),
    (lambda: search.benchmark_indexes(_vecs(50), _vecs(3), 5, repeats=0), ValueError, "repeats"),
])
def test_search_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_sweep_effort_names_a_missing_index_and_an_empty_sweep():
    xb = _vecs(200)
    indexes = {"hnsw": search.build_index("hnsw", xb)}
    _, exact = search.exact_topk(xb[:5], xb, 3)
    with pytest.raises(ValueError, match=r"\['ivf'\]"):
        search.sweep_effort(indexes, xb[:5], exact, 3, efforts={"hnsw": (8,), "ivf": (2,)}, repeats=1)
    with pytest.raises(ValueError, match="no index to sweep"):
        search.sweep_effort({"flat": search.build_index("flat", xb)}, xb[:5], exact, 3, repeats=1)
    assert len(search.sweep_effort(indexes, xb[:5], exact, 3, repeats=1)) == len(search.EFFORT_SWEEP["hnsw"])


def test_small_ivf_default_cells_fit_the_data():
    index = search.build_index("ivf", _vecs(10))  # 4·√10 = 12 cells for 10 vectors used to be refused
    assert index.nlist == 10


# ----------------------------------------------------------------------------------------- longtext
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"max_tokens": 2}, ValueError, "at least 3"),
    ({"max_tokens": 6.5}, TypeError, "max_tokens must be an integer"),
    ({"max_tokens": True}, TypeError, "max_tokens must be an integer"),
    ({"max_tokens": "6"}, TypeError, "max_tokens must be an integer"),
    ({"encode": "cache"}, TypeError, "encode must be a function"),
    ({"base_embeddings": np.full((1, 8), np.nan)}, ValueError, "base_embeddings: row 0 holds NaN"),
    ({"base_embeddings": np.zeros((1, 8))}, ValueError, "base_embeddings: row 0 is all zeros"),
    ({"base_embeddings": np.ones((1, 5)), "mode": "window"}, ValueError, "5 dimensions"),
    ({"head_weight": True}, ValueError, "head_weight"),
])
def test_chunk_and_pool_bad_input_is_named(kwargs, exc, match):
    m = ReadingModel(max_seq_length=8)
    text = "Alpha beta gamma delta. Epsilon zeta eta theta iota. Kappa lambda mu nu xi omicron."
    with pytest.raises(exc, match=match):
        longtext.chunk_and_pool(m, [text], **{"encode": direct_encode} | kwargs)


def test_chunk_and_pool_refuses_an_encoder_that_returns_the_wrong_rows():
    m = ReadingModel(max_seq_length=8)
    with pytest.raises(ValueError, match=r"the encoded texts has shape \(2, 8\), expected \(1, dim\)"):
        longtext.chunk_and_pool(m, ["a b"], encode=lambda mod, ts: np.ones((2, 8)))
    with pytest.raises(ValueError, match="the encoded chunks: row 0 holds NaN"):
        longtext.chunk_and_pool(m, ["a b c d e f g h i j k l m n"], mode="sentences",
                                encode=lambda mod, ts: np.full((len(ts), 8), np.nan))


def test_tail_text_and_chunk_text_check_max_tokens():
    m = ReadingModel(max_seq_length=8)
    with pytest.raises(TypeError, match="max_tokens must be an integer"):
        longtext.tail_text(m, "a b c", max_tokens="5")
    with pytest.raises(TypeError, match="max_tokens must be an integer"):
        longtext.chunk_text(m, "a b c", max_tokens=4.0)

    class NoTokenizer:
        tokenizer = object()

    with pytest.raises(TypeError, match="cannot count its tokens"):
        longtext.token_lengths(NoTokenizer(), ["a"])


# ---------------------------------------------------------------------------------------- choosing
def test_choosing_bad_input_is_named():
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        choosing.mean_random_cosine(np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        choosing.centre(np.array([[1.0, 0.0], [np.inf, 1.0]]))
    with pytest.raises(ValueError, match="exceeds the float32 range"):
        choosing.centre(np.array([[1e300, 0.0], [-1e300, 1.0]]))
    with pytest.raises(ValueError, match="seed"):
        choosing.mean_random_cosine(np.eye(3), seed=-1)
    with pytest.raises(ValueError, match="query must be one vector"):
        choosing.score_agreement(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        choosing.peak_memory_mb("x", "onnx", ["a"], batch_size=0)
    with pytest.raises(TypeError, match="size_on_disk_mb takes paths"):
        choosing.size_on_disk_mb(3)
    with pytest.raises(TypeError, match="candidates must be numbers"):
        choosing.score_agreement([1.0, 0.0], [["a", "b"]])
    big = np.array([[1e200, 0.0], [0.0, 1e200], [1e200, 1e200]])  # used to be all zeros: mean cosine 0
    assert choosing.mean_random_cosine(big, n_pairs=500) > 0.3


# -------------------------------------------------------------------------------------- clustering
def test_kmeans_refuses_more_clusters_than_distinct_points():
    x = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    with pytest.raises(ValueError, match="only 2 distinct"):
        clustering.kmeans(x, 3)  # scikit-learn warned and returned 2 clusters


@pytest.mark.parametrize("call, exc, match", [
    (lambda: clustering.contingency(["a", None, "b"], [0, 1, 1]), ValueError, "position 1"),
    (lambda: clustering.adjusted_rand_index([0.0, np.nan, 1.0], [0, 1, 1]), ValueError, "position 1"),
    (lambda: clustering.normalized_mutual_info(["a", 1, "b"], [0, 1, 1]), TypeError, "mixes label types"),
    (lambda: clustering.kmeans(np.ones((4, 2)).tolist() + [["x", 1]], 2), TypeError, "numeric"),
    (lambda: clustering.kmeans(np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0]]), 2), ValueError, "row 1"),
    (lambda: clustering.kmeans(np.eye(3), 2, seed=-1), ValueError, "seed"),
    (lambda: clustering.silhouette_sweep(np.eye(3), 2), TypeError, r"wrap it as \[2\]"),
    (lambda: clustering.silhouette_sweep(np.eye(4), [2, 2]), ValueError, "twice"),
    (lambda: clustering.silhouette_sweep(np.eye(2), [2]), ValueError, "at least 3 points"),
    (lambda: clustering.silhouette_sweep(np.eye(3), [2], labels_true=5), TypeError, "labels_true"),
    (lambda: clustering.communities(np.array([[1.0, 0.0], [0.0, 0.0]]), min_size=1), ValueError, "zero-length"),
    (lambda: clustering.communities(np.eye(3), threshold=True), ValueError, "threshold"),
    (lambda: clustering.expected_ari_of_random([0, 1, 0, 1], 2, repeats=0), ValueError, "repeats"),
    (lambda: clustering.contingency({"b", "a"}, [0, 1]), TypeError, "ordered sequence"),  # order was arbitrary
    (lambda: clustering.community_precision([0, 1], [1, 1]), TypeError, "group 0 must be a list"),
])
def test_clustering_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_unit_rows_keep_the_direction_of_huge_and_tiny_rows():
    x = np.array([[3e200, 4e200], [3e-200, 4e-200]])
    np.testing.assert_allclose(clustering.unit_rows(x), [[0.6, 0.8], [0.6, 0.8]])  # used to be 0 / refused


# -------------------------------------------------------------------------------------- adaptation
def test_adaptation_bad_input_is_named():
    q, docs = _vecs(1, d=4), _vecs(5, d=4)
    with pytest.raises(TypeError, match=r"positives\[0\] must be a set of ids"):
        adaptation.mine_hard_negatives(q, docs, ["a", "b", "c", "d", "e"], ["ab"])  # "a" in "ab" is True
    with pytest.raises(ValueError, match="id 'b' appears twice"):
        adaptation.mine_hard_negatives(q, docs, ["a", "b", "c", "b", "e"], [{"a"}])
    with pytest.raises(ValueError, match="candidate 'y' is nan"):
        adaptation.teacher_agreement([[0.5, np.nan]], [["x", "y"]], [{"x"}])  # argmax picked the NaN
    with pytest.raises(TypeError, match=r"positives\[0\]"):
        adaptation.teacher_agreement([[0.5]], [["x"]], ["x"])
    with pytest.raises(ValueError, match="one score per candidate"):
        adaptation.teacher_agreement([[[0.1, 0.2]]], [["x"]], [{"x"}])
    with pytest.raises(TypeError, match="data.SciFact"):
        adaptation.eval_corpus(None, "smoke")
    with pytest.raises(TypeError, match="data.SciFact"):
        adaptation.scifact_ndcg(object(), None, 64)
    with pytest.raises(ValueError, match="only 5 documents"):
        adaptation.silver_candidates(q, docs, 6)
    with pytest.raises(TypeError, match="numpy Generator"):
        adaptation.delete_noise("a b c", 0.5, rng=0)
    with pytest.raises(ValueError, match="seed"):
        adaptation.tsdae_pairs(["a b", "c d"], seed=-2)
    with pytest.raises(ValueError, match="unknown variant"):
        adaptation.last_training_seconds("mnrl-typo")
    with pytest.raises(ValueError, match=r"label 1 is nan"):
        adaptation.train_variant("augsbert", [["a", "b"], ["c", "d"]], "smoke", labels=[0.5, math.nan])
    with pytest.raises(TypeError, match="column 1, example 1 is NoneType"):
        adaptation.fit_with_loss(None, None, [["a", "b"], ["c", None]], None)
    with pytest.raises(ValueError, match="label 0 is inf"):
        adaptation.fit_with_loss(None, None, [["a", "b"], ["c", "d"]], None, labels=[math.inf, 0.5])
    with pytest.raises(ValueError, match="1 labels for 2"):
        adaptation.train_variant("augsbert", [["a", "b"], ["c", "d"]], "smoke", labels=[0.5])


def test_train_pairs_refuse_more_pairs_than_there_are():
    from test_adaptation import TEST, TRAIN

    with pytest.raises(ValueError, match="n=10 pairs asked for, but the train qrels give only 3"):
        adaptation.scifact_train_pairs(TRAIN, TEST, n=10)  # used to return 3 without a word


def test_with_max_length_refuses_more_than_the_position_embeddings():
    class Config:
        max_position_embeddings = 512

    class Auto:
        config = Config()

    class Module:
        auto_model = Auto()

    class Model:
        max_seq_length = 256

        def __getitem__(self, i):
            return Module()

    with pytest.raises(ValueError, match="at most 512"):
        adaptation.with_max_length(Model(), 1000)
    assert adaptation.with_max_length(Model(), 512).max_seq_length == 512
