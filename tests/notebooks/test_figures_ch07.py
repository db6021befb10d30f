"""Recorded figures of chapter 7 (semantic search at scale) held in bands (run after the notebooks).

Every comparison the page reads is recorded with its paired-bootstrap interval and verdict (issue #21); the
tests at the end hold each difference in a band, its interval around it, and its verdict per profile.

Smoke searches a 1,000-document SciFact subset (every judged abstract plus seeded distractors), so its
scores sit above the full-corpus ones; full is held near the figures measured on all 5,183 documents
(design §6: BM25 0.6617 with bm25s, all-MiniLM-L6-v2 0.6451).
"""

import math

import pytest
from _figures import entry, held_comparison, profile, value

METHODS = ("bm25", "dense_minilm", "hybrid_rrf", "hybrid_mix")


def test_every_method_recorded_in_range(metrics):
    for m in METHODS:
        nd = value(metrics, f"ch07.scifact.ndcg10.{m}")
        rc = value(metrics, f"ch07.scifact.recall100.{m}")
        assert 0.3 < nd < 1.0, m
        assert 0.5 < rc <= 1.0, m


def test_bm25_and_dense_near_their_known_values(metrics):
    bm25 = entry(metrics, "ch07.scifact.ndcg10.bm25")
    dense = value(metrics, "ch07.scifact.ndcg10.dense_minilm")
    assert bm25["ref"] == 0.665  # BEIR's published anchor travels with the figure
    if bm25["profile"] == "smoke":
        assert 0.66 < bm25["value"] < 0.80
        assert 0.64 < dense < 0.80
    else:
        assert bm25["value"] == pytest.approx(0.6617, abs=0.01)
        assert dense == pytest.approx(0.6451, abs=0.01)


def test_full_recall_of_dense(metrics):
    rc = value(metrics, "ch07.scifact.recall100.dense_minilm")
    if profile(metrics, "ch07.scifact.recall100.dense_minilm") == "full":
        assert rc == pytest.approx(0.925, abs=0.015)
    else:
        assert rc > 0.9


def test_hybrid_is_not_worse_than_the_weaker_input(metrics):
    lo = min(value(metrics, "ch07.scifact.ndcg10.bm25"), value(metrics, "ch07.scifact.ndcg10.dense_minilm"))
    for m in ("hybrid_rrf", "hybrid_mix"):
        assert value(metrics, f"ch07.scifact.ndcg10.{m}") > lo, m


def test_rerank_section_setup(metrics):
    # BEIR's setting: BM25's top 100 re-scored; smoke re-ranks a seeded sample of 10 claims, full all 300
    assert value(metrics, "ch07.rerank.depth") == 100
    n = value(metrics, "ch07.rerank.n_claims")
    assert n == (10 if profile(metrics, "ch07.rerank.n_claims") == "smoke" else 300)
    ce = entry(metrics, "ch07.rerank.ndcg10.bm25_ce")
    assert ce["ref"] == 0.688  # BEIR's BM25+CE on SciFact travels with the figure
    for k in ("bm25", "dense", "rrf", "bm25_ce", "bm25_stsb"):
        e = entry(metrics, f"ch07.rerank.ndcg10.{k}")
        lo, hi = e["ci95"]
        assert 0.0 <= lo <= e["value"] <= hi <= 1.0, k
    if profile(metrics, "ch07.rerank.n_claims") == "full":  # the sub-sample is the whole test split
        assert value(metrics, "ch07.rerank.ndcg10.bm25") == pytest.approx(
            value(metrics, "ch07.scifact.ndcg10.bm25"), abs=1e-12)


def test_ann_hnsw(metrics):
    rec = value(metrics, "ch07.ann.hnsw.recall10")
    speed = value(metrics, "ch07.ann.hnsw.speedup")
    n = value(metrics, "ch07.ann.n_vectors")
    assert 0.95 <= rec <= 1.0
    if profile(metrics, "ch07.ann.hnsw.recall10") == "full":
        assert n >= 100_000
        assert speed > 2
    else:
        assert n >= 9_000
        assert speed > 0.3  # at 10,000 vectors exact search is already cheap: no speed-up is promised


def test_quantization(metrics):
    f32 = value(metrics, "ch07.quant.float32.ndcg10")
    # float32 "quantized" search is the exact dense search: the same nDCG@10
    assert f32 == pytest.approx(value(metrics, "ch07.scifact.ndcg10.dense_minilm"), abs=1e-6)
    assert value(metrics, "ch07.quant.int8.ndcg10") == pytest.approx(f32, abs=0.02)
    assert f32 - 0.08 < value(metrics, "ch07.quant.binary.ndcg10") <= f32 + 0.02


def test_scale_out_measured(metrics):
    assert value(metrics, "ch07.scale.plain_sentences_per_s") > 5
    assert value(metrics, "ch07.scale.pool_sentences_per_s") > 0
    e = metrics.get("ch07.scale.ray_sentences_per_s")
    if e is not None:
        assert e["value"] > 0


# ------------------------------------------------------------------ intervals and verdicts (issue #21)
NONE = "no detectable difference"
#: key -> (A, B, band for the difference A − B, smoke verdict, full verdict).
#: Smoke: the verdict observed on the 1,000-document subset with all 300 test claims (paired bootstrap,
#: 2,000 resamples, seed 0, so a rebuild of the same profile gives the same verdict).
#: Full: EXPECTED, NOT YET MEASURED — no full-profile record of chapter 7 exists yet (FULL_MEASURED below);
#: the comment on each line says what the expectation rests on. When the first full run disagrees, read its
#: record, replace the expectation by the measured verdict and set FULL_MEASURED.
COMPARISONS = {
    # dense vs BM25: smoke +0.019 [-0.019, +0.056]. Full: design §6 measured BM25 0.6617 and MiniLM 0.6451
    # once on the full corpus (-0.017), inside an interval as wide as smoke's over the same 300 claims.
    "ch07.cmp.dense_vs_bm25": ("dense", "BM25", (-0.08, 0.10), NONE, NONE),
    # The hybrids and the re-ranker: no full measurement at all, so the smoke verdict is the expectation.
    # smoke +0.015 [-0.014, +0.044]; in full dense is the weaker input, so this one may well separate there
    "ch07.cmp.rrf_vs_dense": ("RRF", "dense", (-0.04, 0.10), NONE, NONE),
    "ch07.cmp.rrf_vs_bm25": ("RRF", "BM25", (-0.02, 0.10), "RRF ahead", "RRF ahead"),  # smoke +0.035
    # smoke: score mix - dense +0.048, score mix - BM25 +0.067, score mix - RRF +0.032 [+0.018, +0.047]
    "ch07.cmp.mix_vs_dense": ("score mix", "dense", (0.0, 0.12), "score mix ahead", "score mix ahead"),
    "ch07.cmp.mix_vs_bm25": ("score mix", "BM25", (0.0, 0.14), "score mix ahead", "score mix ahead"),
    "ch07.cmp.mix_vs_rrf": ("score mix", "RRF", (0.0, 0.08), "score mix ahead", "score mix ahead"),
    # quantization (smoke: int8 -0.001 [-0.003, +0.000], binary -0.039, 40 vs 10 rescored +0.016)
    "ch07.cmp.int8_vs_float32": ("int8", "float32", (-0.02, 0.01), NONE, NONE),
    "ch07.cmp.binary_vs_float32": ("binary", "float32", (-0.10, 0.0), "float32 ahead", "float32 ahead"),
    "ch07.cmp.binary_x4_vs_x1": ("40 candidates", "10 candidates", (0.0, 0.06), "40 candidates ahead",
                                 "40 candidates ahead"),
    # exercise ex07-hnsw-m: recall@10 at efSearch 32 over the held-out queries (smoke +0.017 [+0.010, +0.024],
    # 500 queries on 9,500 vectors; full: 1,000 queries on ~110,000 vectors, not measured)
    "ch07.cmp.hnsw_m32_vs_m8": ("M = 32", "M = 8", (0.0, 0.25), "M = 32 ahead", "M = 32 ahead"),
    # recall saturates between M = 16 and 32 in smoke (0.980 vs 0.979: -0.001 [-0.005, +0.004]); full: a larger
    # collection at the same efSearch leaves more room, so M = 32 may separate there (expected, not measured)
    "ch07.cmp.hnsw_m32_vs_m16": ("M = 32", "M = 16", (-0.03, 0.10), NONE, NONE),
}
FULL_MEASURED: set[str] = set()  # keys whose full verdict above was measured, not expected
# all-mpnet-base-v2 runs in the full profile only; expected within a few hundredths of MiniLM (not measured)
FULL_ONLY = {"ch07.cmp.mpnet_vs_dense": ("mpnet", "dense", (-0.06, 0.08), None, NONE)}


def _held_comparison(metrics, key, a, b, band, smoke, full):
    e = entry(metrics, key)
    low, high = e["ci95"]
    assert low <= e["value"] <= high, (key, low, e["value"], high)
    assert band[0] < e["value"] < band[1], (key, e["value"], band)
    c = e["comparison"]
    assert (c["a"], c["b"]) == (a, b), (key, c["a"], c["b"])
    assert c["n"] == value(metrics, "ch07.scifact.n_claims") or key.startswith("ch07.cmp.hnsw"), key
    # the verdict follows from the interval, and is the one this profile holds
    implied = f"{a} ahead" if low > 0 else f"{b} ahead" if high < 0 else NONE
    assert e["verdict"] == implied, (key, e["verdict"], implied)
    expected = smoke if e["profile"] == "smoke" else full
    note = "" if e["profile"] == "smoke" or key in FULL_MEASURED else " (full: expected, not yet measured)"
    assert e["verdict"] == expected, f"{key}: recorded {e['verdict']!r}, held {expected!r}{note}"


@pytest.mark.parametrize("key", sorted(COMPARISONS))
def test_comparison_interval_and_verdict(metrics, key):
    _held_comparison(metrics, key, *COMPARISONS[key])


def test_mpnet_comparison_only_in_full(metrics):
    key = "ch07.cmp.mpnet_vs_dense"
    if profile(metrics, "ch07.cmp.dense_vs_bm25") == "smoke":
        assert key not in metrics or metrics[key]["profile"] != "smoke"
    else:
        _held_comparison(metrics, key, *FULL_ONLY[key])


def test_compared_figures_carry_their_interval(metrics):
    keys = [f"ch07.scifact.{m}.{s}" for m in ("ndcg10", "recall100") for s in METHODS]
    keys += [f"ch07.quant.{p}.ndcg10" for p in ("float32", "int8", "binary", "binary_x1")]
    keys += ["ch07.ann.hnsw.recall10"]
    for key in keys:
        e = entry(metrics, key)
        assert "ci95" in e, f"{key} has no interval"
        low, high = e["ci95"]
        assert low <= e["value"] <= high, (key, low, e["value"], high)
        assert high - low < 0.2, (key, low, high)  # 300 claims (500+ queries for HNSW): a few hundredths
    assert value(metrics, "ch07.scifact.n_claims") == 300  # both profiles score BEIR's whole test split


def test_comparisons_agree_with_the_figures(metrics):
    # the difference recorded by a comparison is the difference of the two recorded figures
    pairs = {"ch07.cmp.dense_vs_bm25": ("dense_minilm", "bm25"),
             "ch07.cmp.rrf_vs_dense": ("hybrid_rrf", "dense_minilm"),
             "ch07.cmp.mix_vs_rrf": ("hybrid_mix", "hybrid_rrf")}
    for key, (a, b) in pairs.items():
        diff = value(metrics, f"ch07.scifact.ndcg10.{a}") - value(metrics, f"ch07.scifact.ndcg10.{b}")
        assert value(metrics, key) == pytest.approx(diff, abs=1e-9), key
    diff = value(metrics, "ch07.quant.binary.ndcg10") - value(metrics, "ch07.quant.float32.ndcg10")
    assert value(metrics, "ch07.cmp.binary_vs_float32") == pytest.approx(diff, abs=1e-9)


def test_comparison_counts_are_computed(metrics):
    # the false-alarm note pastes these counts: the table's comparisons and every comparison on the page
    table = value(metrics, "ch07.cmp_count.table")
    page = value(metrics, "ch07.cmp_count.page")
    recorded = [k for k in metrics if k.startswith("ch07.cmp.") and metrics[k]["profile"] == profile(
        metrics, "ch07.cmp_count.page")]
    assert page == len(recorded), (page, sorted(recorded))
    assert table == 6 + (profile(metrics, "ch07.cmp_count.page") == "full")  # + mpnet in full
    assert value(metrics, "ch07.cmp_count.p_false") == pytest.approx(1 - 0.95 ** page)


def test_int8_changes_few_claims(metrics):
    n = value(metrics, "ch07.quant.int8.n_claims_changed")
    assert 0 <= n <= 30  # smoke: 2 of 300; the int8 interval rests on these claims


# ------------------------------------------------------------------ issue #22: BEIR-style re-ranking, tuning on
# train, rescoring, one collection at several sizes, HNSW on SciFact, the vector database
NONE_ = "no detectable difference"
#: key -> (low, high, {profile: accepted verdict(s)}). Smoke: observed (10 claims for the re-rankers, so wide:
#: with 15 claims the same models gave other signs, so the smoke verdicts here hold what such a sample allows).
#: Full: not yet measured (None: the verdict is not held, the band and the interval still are).
NEW_COMPARISONS = {
    # relevance cross-encoder on BM25's top 100 (smoke: trained on 80 train claims, 2 epochs, 128 tokens, from
    # chapter 3's STS-B cross-encoder; 10 test claims: 0.710 against BM25 0.939, -0.228 [-0.490, +0.058];
    # with 15 claims it was 0.748 against 0.705, +0.043 [-0.141, +0.241])
    "ch07.cmp.rerank_ce_vs_bm25": (-0.5, 0.4, {"smoke": NONE_, "full": None}),
    "ch07.cmp.rerank_ce_vs_dense": (-0.4, 0.4, {"smoke": NONE_, "full": None}),  # smoke -0.161
    "ch07.cmp.rerank_ce_vs_rrf": (-0.5, 0.4, {"smoke": NONE_, "full": None}),  # smoke -0.236
    "ch07.cmp.rerank_ce_vs_stsb": (-0.2, 0.5, {"smoke": (NONE_, "{a} ahead"), "full": None}),  # smoke +0.119
    # the wrong teacher: smoke -0.348 [-0.612, -0.065] on 10 claims (BM25 ahead); -0.062 [-0.237, +0.117] on 15
    "ch07.cmp.rerank_stsb_vs_bm25": (-0.6, 0.3, {"smoke": (NONE_, "{b} ahead"), "full": None}),
    # fusion chosen on train claims (smoke: k = 1 on 338 train claims, +0.022 [+0.005, +0.040] on test;
    # the weight chosen was the default 0.5, so its difference is 0 by construction)
    "ch07.cmp.rrf_tuned_vs_k60": (-0.03, 0.06, {"smoke": ("{a} ahead", NONE_), "full": None}),
    "ch07.cmp.mix_tuned_vs_even": (-0.03, 0.06, {"smoke": (NONE_, "{a} ahead"), "full": None}),
    # rescoring (smoke: binary 10 rescored - not rescored +0.016 [+0.005, +0.028]; int8 not rescored - float32
    # -0.025 [-0.038, -0.011])
    "ch07.cmp.binary_x1_vs_norescore": (0.0, 0.06, {"smoke": "{a} ahead", "full": None}),
    "ch07.cmp.int8_norescore_vs_float32": (-0.06, 0.0, {"smoke": "{b} ahead", "full": None}),
    # HNSW on SciFact at the efSearch chosen on train claims (smoke: -0.012 [-0.026, -0.001], close to zero)
    "ch07.cmp.hnsw_vs_exact_scifact": (-0.05, 0.01, {"smoke": ("{b} ahead", NONE_), "full": None}),
    # the vector database against FAISS HNSW, recall@10 (smoke, 2026-12-06: Milvus Lite 0.958, FAISS 0.958)
    "ch07.cmp.milvus_vs_faiss_recall": (-0.1, 0.1, {"smoke": ("{a} ahead", NONE_), "full": None}),
}


@pytest.mark.parametrize("key", sorted(NEW_COMPARISONS))
def test_issue22_comparisons(metrics, key):
    if key == "ch07.cmp.milvus_vs_faiss_recall" and key not in metrics:
        pytest.skip("the optional vector database was not installed when chapter 7 ran")
    low, high, _ = NEW_COMPARISONS[key]
    held_comparison(metrics, key, low, high, {k: v[2] for k, v in NEW_COMPARISONS.items()})


def test_fusion_chosen_on_train_claims(metrics):
    assert value(metrics, "ch07.fusion.rrf_k") in (1, 3, 10, 30, 60, 100, 300, 1000)
    assert value(metrics, "ch07.fusion.mix_w_bm25") in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    # SciFact's two train claims whose text is a test claim tune nothing (smoke: 338 tuning claims, 340 before)
    assert value(metrics, "ch07.fusion.test_twins_dropped") == 2
    n = value(metrics, "ch07.fusion.n_tune_claims")
    assert (200 < n < 807) if profile(metrics, "ch07.fusion.n_tune_claims") == "smoke" else n == 807


def test_rescoring_rows(metrics):
    f32 = value(metrics, "ch07.quant.float32.ndcg10")
    for p in ("int8", "binary"):
        plain, x1, x4 = (value(metrics, f"ch07.quant.{p}{s}.ndcg10") for s in ("_norescore", "_x1", ""))
        assert plain <= f32 + 0.01 and x1 <= f32 + 0.01 and x4 <= f32 + 0.01, p
        assert entry(metrics, f"ch07.quant.{p}_norescore.rescore_ms")["value"] == 0.0
        for s in ("_norescore", "_x1", ""):
            assert 0 <= value(metrics, f"ch07.quant.{p}{s}.candidate_ms") < 5_000


def test_one_collection_at_several_sizes(metrics):
    ns = [value(metrics, f"ch07.ann_size.s{i}.n_vectors") for i in (1, 2, 3)]
    assert ns == sorted(ns) and ns[-1] == value(metrics, "ch07.ann.n_vectors")
    for i in (1, 2, 3):
        rec = entry(metrics, f"ch07.ann_size.s{i}.hnsw_recall10")
        assert 0.9 <= rec["value"] <= 1.0  # efSearch was chosen for 0.95 on the other half of the queries
        for name in ("flat", "hnsw"):
            p50 = value(metrics, f"ch07.ann_size.s{i}.{name}_p50_ms")
            assert 0 < p50 <= value(metrics, f"ch07.ann_size.s{i}.{name}_p99_ms")
    # exact search's per-query time grows with the collection (smoke: 0.03 ms at 1,000 to 0.30 ms at 9,500)
    assert value(metrics, "ch07.ann_size.s3.flat_p50_ms") > value(metrics, "ch07.ann_size.s1.flat_p50_ms")


def test_hnsw_on_scifact(metrics):
    assert value(metrics, "ch07.ann_scifact.ef_search") in (16, 32, 64, 128, 256)
    nd = value(metrics, "ch07.ann_scifact.ndcg10")
    assert nd == pytest.approx(value(metrics, "ch07.scifact.ndcg10.dense_minilm"), abs=0.05)


def test_vector_database_when_installed(metrics):
    if "ch07.vdb.milvus.recall10" not in metrics:
        pytest.skip("the optional vectordb extra was not installed when chapter 7 ran")
    assert value(metrics, "ch07.vdb.milvus.recall10") > 0.8
    assert value(metrics, "ch07.vdb.faiss_hnsw.recall10") > 0.9
    for name in ("milvus", "faiss_hnsw"):
        assert 0 < value(metrics, f"ch07.vdb.{name}.p50_ms") <= value(metrics, f"ch07.vdb.{name}.p99_ms")
    share = value(metrics, "ch07.vdb.filter_restrictive.share")
    assert share < 0.1 < value(metrics, "ch07.vdb.filter_loose.share")
    # post-filtering a graph search's top 10 finds few of a restrictive filter's exact answers
    assert value(metrics, "ch07.vdb.filter_restrictive.post_filter_recall10") < 0.5


def test_relevance_training_loss_fell(metrics):
    # the trainer's own loss log (history.json of the cached model): the rows were fitted
    first, last = value(metrics, "ch07.rerank.train_loss_first"), value(metrics, "ch07.rerank.train_loss_last")
    assert 0 < last < first
    # the yardstick the page sets beside it: BCE of always predicting the share of positives (smoke: 88 of
    # 328 rows, 0.58); the smoke run ends below it (0.493), but not by much
    base = value(metrics, "ch07.rerank.train_loss_base_rate")
    ratio = value(metrics, "ch07.rerank.negatives_per_positive")
    if profile(metrics, "ch07.rerank.train_loss_base_rate") == "smoke":
        assert 0.4 < base < 0.7 and last < base
        assert 2.0 < ratio < 3.5  # 240 negatives to 88 positives (1 hard + 2 random per claim)
    else:  # 4 hard + 3 random negatives per claim, about one judged abstract each: about 0.40 (computed from
        # the recipe and SciFact's train judgements, not yet measured)
        assert 0.3 < base < 0.5
        assert 5.0 < ratio < 7.5
    # the base rate is the entropy of the positive share the ratio gives
    share = 1 / (1 + ratio)
    assert base == pytest.approx(-(share * math.log(share) + (1 - share) * math.log(1 - share)), rel=1e-9)


def test_batch_speedup_spread(metrics):
    # five timed runs per size, FAISS on one thread: the median lies within the run-by-run range
    for i in (1, 2, 3):
        lo, hi = (value(metrics, f"ch07.ann_size.s{i}.batch_speedup_{m}") for m in ("min", "max"))
        assert 0 < lo <= value(metrics, f"ch07.ann_size.s{i}.batch_speedup") <= hi


def test_vector_database_really_indexed(metrics):
    if "ch07.vdb.milvus.recall10" not in metrics:
        pytest.skip("the optional vectordb extra was not installed when chapter 7 ran")
    # flushed and reopened by a new embedded server: an HNSW index file exists, so searches use the graph
    assert value(metrics, "ch07.vdb.n_index_files") >= 1
    for key in ("loose", "restrictive"):
        e = entry(metrics, f"ch07.vdb.filter_{key}.faiss_selector_recall10")
        lo, hi = e["ci95"]
        assert 0.0 <= lo <= e["value"] <= hi <= 1.0
    # with the filter inside the graph search, HNSW finds far more of the exact answers than post-filtering
    assert (value(metrics, "ch07.vdb.filter_restrictive.faiss_selector_recall10")
            > value(metrics, "ch07.vdb.filter_restrictive.post_filter_recall10"))


def test_blas_switch_of_exact_search(metrics):
    # FAISS's exact search switches to blocked BLAS products once queries x dimension reach
    # distance_compute_blas_threshold (128,000 in FAISS 1.15.1: 334 queries at d = 384); measured on this
    # machine before the lesson said so: 3.1x the queries/s of 333 queries. The cell times both sides.
    threshold = value(metrics, "ch07.ann.blas_threshold")
    assert threshold > 0
    assert value(metrics, "ch07.ann.blas_switch_queries") == (threshold - 1) // 384 + 1
    assert 1.3 < value(metrics, "ch07.ann.flat_qps_ratio_at_switch") < 20
