"""Recorded figures of chapters 9 (clustering) and 10 (choosing a model, where embeddings break) held in bands.

Smoke bands come from runs on a 2-core CPU (CLINC150: 3,000 sampled training utterances; Banking77: 3,000
questions; SciFact in chapter 10: chapter 6's transfer sample, 50 claims and up to 300 abstracts read up to
128 tokens). The full profile clusters whole training splits (CLINC150: 15,000 utterances; Banking77:
10,003), and its bands are centred on the full run made on a 2-core CPU (book/runtimes.json); a GPU run
may differ in the last digits of k-means and t-SNE.
Comparisons (issue 21) are held by their difference, their interval and their verdict per profile.
"""

import _figures
import pytest
from _figures import entry, value

ANY = ("no detectable difference", "{a} ahead", "{b} ahead")
# Recorded verdicts per profile. smoke: observed in the smoke build (CPU, 2 cores). full: chapter 9's are
# measured (records/full/metrics.json, CPU, 2026-12-06: every expectation held; a tuple stays where an end
# of the full interval lies within 0.02 of zero); chapter 10's are expected, NOT YET MEASURED (no full record
# of it exists yet), a tuple listing the verdicts accepted where the smoke build gives no basis for one. Chapter 10 scores the whole
# STS-B test split in both profiles with the same shipped models and the same hand-written pairs, so those
# verdicts are expected to hold; its SciFact comparisons move from 50 claims to 300.
VERDICTS = {
    # chapter 9: k-means at 3 seeds, one start each (Welch t over seeds)
    "ch09.cmp.domain.minilm_vs_glove": {"smoke": "MiniLM ahead", "full": "MiniLM ahead"},
    "ch09.cmp.intent.minilm_vs_glove": {"smoke": "MiniLM ahead", "full": "MiniLM ahead"},
    "ch09.cmp.minilm.intents_vs_domains": {"smoke": "intents ahead", "full": "intents ahead"},
    # V-measure (MTEB's clustering score, = NMI here) beside ARI, same seeds (issue 23)
    "ch09.cmp.domain.minilm_vs_glove_vmeasure": {"smoke": "MiniLM ahead", "full": "MiniLM ahead"},
    "ch09.cmp.intent.minilm_vs_glove_vmeasure": {"smoke": "MiniLM ahead", "full": "MiniLM ahead"},
    # HDBSCAN outliers vs clustered questions: nearest neighbour's intent agrees (unpaired bootstrap)
    # full measured +0.170 [+0.146, +0.193]
    "ch09.cmp.topics.nn_agreement.clustered_vs_outliers": {"smoke": "clustered ahead",
                                                           "full": "clustered ahead"},
    # label-only: cosine silhouette of the true intents vs the true domains (bootstrap over utterances)
    "ch09.cmp.minilm.silhouette_intents_vs_domains": {"smoke": "intents ahead", "full": "intents ahead"},
    # full only (mpnet is not encoded in smoke); the earlier full run (best of 3 starts, one seed) gave
    # mpnet - MiniLM +0.077 ARI on intents and -0.015 on domains, mean of k-means and Ward; the full record
    # (k-means at 3 seeds): +0.058 [+0.040, +0.076] on intents, +0.069 [+0.003, +0.135] on domains (mpnet
    # ahead, the lower end at zero: not pinned)
    "ch09.cmp.domain.mpnet_vs_minilm": {"full": ANY},
    "ch09.cmp.intent.mpnet_vs_minilm": {"full": "mpnet ahead"},
    "ch09.cmp.community_precision.labels_vs_shuffled": {"smoke": "intent labels ahead",
                                                        "full": "intent labels ahead"},
    "ch09.cmp.linkage.average_vs_ward": {"smoke": "Ward ahead", "full": "Ward ahead"},
    # GloVe, 10 starts a run: raw vs normalised at different seeds against two seeds of each setup (the
    # earlier pooled comparison, full: within-setup pairs normalised 0.592 0.523 0.607, raw 0.885 0.948 0.910,
    # across 0.55-0.57: as large as a normalised seed change, far larger than a raw one)
    "ch09.cmp.normalise.glove.vs_normalised_seeds": {"smoke": "no detectable difference",
                                                     "full": "no detectable difference"},
    "ch09.cmp.normalise.glove.vs_raw_seeds": {"smoke": "two raw seeds ahead", "full": "two raw seeds ahead"},
    # chapter 10: STS-B (1,379 pairs, both profiles) and SciFact (50 claims in smoke, 300 in full)
    "ch10.cmp.stsb.l3_onnx_vs_minilm": {"smoke": "no detectable difference",
                                      "full": "no detectable difference"},
    "ch10.cmp.stsb.minilm_int8_vs_minilm": {"smoke": "no detectable difference",
                                            "full": ("no detectable difference", "MiniLM-L6 ahead")},
    "ch10.cmp.scifact.l3_onnx_vs_minilm": {"smoke": "no detectable difference", "full": "MiniLM-L6 ahead"},
    "ch10.cmp.scifact.minilm_int8_vs_minilm": {"smoke": "no detectable difference", "full": "no detectable difference"},
    "ch10.cmp.stsb.mpnet_vs_minilm": {"full": ("mpnet ahead", "no detectable difference")},
    "ch10.cmp.scifact.mpnet_vs_minilm": {"full": "no detectable difference"},
    "ch10.cmp.scifact.matryoshka_vs_minilm": {"smoke": "no detectable difference", "full": "MiniLM-L6 ahead"},
    # truncation 384 -> 64: against chapter 6's CoSENT control (the controlled comparison) and plain MiniLM;
    # test-pair noise only (one training seed each)
    "ch10.cmp.truncation.matryoshka_vs_cosent": {"smoke": "no detectable difference", "full": "Matryoshka ahead"},
    "ch10.cmp.truncation.matryoshka_vs_minilm": {"smoke": "MiniLM-L6 ahead", "full": "no detectable difference"},
    "ch10.cmp.dim64.matryoshka_vs_minilm": {"smoke": "no detectable difference", "full": "Matryoshka at 64 ahead"},
    # exercise 1: the Matryoshka model at 256, 128, 64 dimensions against itself at 384 (paired)
    "ch10.cmp.matryoshka.dim256_vs_384": {"smoke": "no detectable difference", "full": "no detectable difference"},
    "ch10.cmp.matryoshka.dim128_vs_384": {"smoke": "384 dims ahead", "full": "384 dims ahead"},
    "ch10.cmp.matryoshka.dim64_vs_384": {"smoke": "384 dims ahead", "full": "384 dims ahead"},
    "ch10.cmp.stsb.l3_cosine_vs_dot": {"smoke": "cosine ahead", "full": "cosine ahead"},
    "ch10.cmp.scifact.l3_cosine_vs_dot": {"smoke": "no detectable difference", "full": "cosine ahead"},
    # the same 11 hand-written anchors in both profiles (paired bootstrap over anchors)
    "ch10.cmp.breaks.edit_vs_paraphrase": {"smoke": "no detectable difference",
                                           "full": "no detectable difference"},
    # the same anchors with a one-word meaning-preserving edit and an unrelated sentence (both profiles)
    "ch10.cmp.breaks.minilm_kept_vs_changed": {"smoke": "meaning kept ahead",
                                                      "full": "meaning kept ahead"},
    "ch10.cmp.breaks.changing_vs_unrelated": {"smoke": "meaning-changing edit ahead",
                                              "full": "meaning-changing edit ahead"},
    # chapter 3's STS-B cross-encoder: trained on 2,000 pairs for one epoch in smoke, on all of STS-B train
    # for four in full (another model there: no basis for predicting its verdicts)
    # (smoke: with the drug-dose anchor used twice, +0.023 [+0.009, +0.040]; with ten distinct anchors and the
    # package-weight unit row, +0.014 [-0.018, +0.038])
    "ch10.cmp.breaks.cross_encoder_kept_vs_changed": {"smoke": "no detectable difference", "full": "meaning kept ahead"},
    "ch10.cmp.breaks.separated.cross_encoder_vs_minilm": {"smoke": "no detectable difference", "full": "no detectable difference"},
    # smoke window 128 tokens (MiniLM reads 256), full 256: an earlier full run had pooled - truncated < 0
    "ch10.cmp.chunking.pooled_vs_truncated": {"smoke": "chunk-and-pool ahead", "full": "truncated ahead"},
    "ch10.cmp.chunking.max_chunk_vs_truncated": {"smoke": "max over chunks ahead", "full": "no detectable difference"},
    "ch10.cmp.chunking.max_chunk_vs_pooled": {"smoke": "no detectable difference", "full": "max over chunks ahead"},
    "ch10.cmp.chunking.weighted_vs_chunk_and_pool": {"smoke": "no detectable difference", "full": "weighted ahead"},
    "ch10.cmp.chunking.weighted_vs_truncated": {"smoke": "no detectable difference", "full": "truncated ahead"},
    "ch10.cmp.centring.avg_glove": {"smoke": "centred ahead", "full": "centred ahead"},
    "ch10.cmp.centring.minilm": {"smoke": "centred ahead",
                               "full": ("centred ahead", "no detectable difference")},
}


def held_comparison(metrics, key, low, high, full=None):
    """The recorded difference lies in [low, high] (``full``: the full profile's range), inside its own
    interval, with the expected verdict."""
    return _figures.held_comparison(metrics, key, low, high, VERDICTS, full=full)


def has_interval(metrics, key, max_width):
    lo, hi = entry(metrics, key)["ci95"]
    assert lo <= value(metrics, key) <= hi and hi - lo < max_width, (key, lo, hi)


def band(metrics, key, smoke, full=None):
    e = entry(metrics, key)
    lo, hi = smoke if e["profile"] == "smoke" or full is None else full
    assert lo <= e["value"] <= hi, f"{key} = {e['value']} is outside [{lo}, {hi}] ({e['profile']} profile)"
    return e["value"]


# --------------------------------------------------------------------------------------------- chapter 9
def test_six_sentence_demo_matches_the_tutorials_split(metrics):
    assert value(metrics, "ch09.six_sentences.ari_vs_tutorial") == pytest.approx(1.0)


@pytest.mark.parametrize("key,smoke,full", [
    ("ch09.clinc.domain.ari_kmeans.minilm", (0.28, 0.48), (0.29, 0.42)),
    ("ch09.clinc.domain.ari_agglo.minilm", (0.25, 0.45), (0.35, 0.47)),
    ("ch09.clinc.domain.nmi_kmeans.minilm", (0.46, 0.62), (0.46, 0.57)),
    ("ch09.clinc.domain.nmi_agglo.minilm", (0.47, 0.63), (0.55, 0.66)),
    ("ch09.clinc.intent.ari_kmeans.minilm", (0.60, 0.78), (0.67, 0.78)),
    ("ch09.clinc.intent.ari_agglo.minilm", (0.55, 0.75), (0.61, 0.72)),
    ("ch09.clinc.intent.nmi_kmeans.minilm", (0.86, 0.94), (0.88, 0.93)),
    ("ch09.clinc.intent.nmi_agglo.minilm", (0.85, 0.93), (0.85, 0.91)),
    ("ch09.clinc.domain.ari_kmeans.glove", (0.10, 0.27), (0.11, 0.22)),
    ("ch09.clinc.domain.ari_agglo.glove", (0.17, 0.35), (0.19, 0.30)),
    ("ch09.clinc.intent.ari_kmeans.glove", (0.22, 0.40), (0.26, 0.37)),
    ("ch09.clinc.intent.ari_agglo.glove", (0.24, 0.42), (0.29, 0.40)),
])
def test_clinc_clustering_scores(metrics, key, smoke, full):
    band(metrics, key, smoke, full)


@pytest.mark.parametrize("name", ["glove", "minilm"])
def test_kmeans_seed_means_have_intervals(metrics, name):
    for level in ("domain", "intent"):
        for m in ("ari", "nmi"):
            has_interval(metrics, f"ch09.clinc.{level}.{m}_kmeans_seeds.{name}", 0.25)


def test_trained_encoder_against_averaged_glove_over_seeds(metrics):
    # smoke (one start, seeds 0-2): domains +0.138 [+0.085, +0.192], intents +0.355 [+0.332, +0.379];
    # intents - domains +0.321 [+0.258, +0.384]
    held_comparison(metrics, "ch09.cmp.domain.minilm_vs_glove", 0.08, 0.30)
    held_comparison(metrics, "ch09.cmp.intent.minilm_vs_glove", 0.25, 0.48)
    held_comparison(metrics, "ch09.cmp.minilm.intents_vs_domains", 0.18, 0.42)


def test_vmeasure_and_the_seed_to_seed_baseline(metrics):
    # smoke: V-measure MiniLM - GloVe +0.186 [+0.148, +0.224] (domains), +0.178 [+0.165, +0.190] (intents)
    held_comparison(metrics, "ch09.cmp.domain.minilm_vs_glove_vmeasure", 0.10, 0.30)
    held_comparison(metrics, "ch09.cmp.intent.minilm_vs_glove_vmeasure", 0.10, 0.25)
    # smoke: two seeds' partitions agree to ARI 0.47 (MiniLM, k = 10) and 0.69 (k = 150); the ARI against the
    # labels ranges over 0.048 and 0.008 across the three seeds
    for name in ("minilm", "glove"):
        for level in ("domain", "intent"):
            band(metrics, f"ch09.clinc.{level}.seed_to_seed_ari.{name}", (0.3, 0.85), (0.3, 0.95))
            assert "ci95" in entry(metrics, f"ch09.clinc.{level}.seed_to_seed_ari.{name}")
            for m in ("ari", "nmi"):
                band(metrics, f"ch09.clinc.{level}.{m}_seed_range.{name}", (0.0, 0.1), (0.0, 0.1))
    # the MiniLM - GloVe gaps the page reads are far outside the seed range
    for level in ("domain", "intent"):
        assert value(metrics, f"ch09.cmp.{level}.minilm_vs_glove") > 2 * max(
            value(metrics, f"ch09.clinc.{level}.ari_seed_range.{n}") for n in ("minilm", "glove"))


def test_stability_across_seeds_and_subsamples(metrics):
    # smoke (k = 10, 50, 150, 300; 3 subsamples of 80 %): 0.539, 0.496, 0.642, 0.618; best 150 (silhouette on
    # the same grid: 150)
    smoke = entry(metrics, "ch09.clinc.stability.at_150")["profile"] == "smoke"
    for k in (10, 50, 150, 300):
        band(metrics, f"ch09.clinc.stability.at_{k}", (0.35, 0.8), (0.3, 0.95))
        assert "ci95" in entry(metrics, f"ch09.clinc.stability.at_{k}")
    # the intervals overlap (smoke: the best k's interval overlaps all 3 others'), so no ordering of the k is
    # held: only that the best k is one of the grid's and the overlap count is recorded
    assert value(metrics, "ch09.clinc.stability.best_k") in ((10, 50, 150, 300) if smoke else
                                                            (5, 10, 20, 50, 100, 150, 200, 300))
    n_other = value(metrics, "ch09.clinc.stability.n_other_k")
    assert n_other == (3 if smoke else 7)
    assert 0 <= value(metrics, "ch09.clinc.stability.k_overlapping_best") <= n_other
    if smoke:
        assert value(metrics, "ch09.clinc.stability.best_silhouette_k") == 150


def test_topics_named_and_outliers_left_out(metrics):
    # smoke: 1,000 Banking77 questions, HDBSCAN(min_cluster_size=5): 32 clusters, 56 % outliers, purity 0.67,
    # ARI 0.58 on the clustered ones; a c-TF-IDF keyword is a word of the majority intent's name in 72 %
    smoke = entry(metrics, "ch09.topics.n_questions")["profile"] == "smoke"
    assert value(metrics, "ch09.topics.n_questions") == (1000 if smoke else 3000)
    band(metrics, "ch09.topics.n_clusters", (20, 45), (40, 200))
    band(metrics, "ch09.topics.outlier_share", (0.4, 0.7), (0.2, 0.8))
    band(metrics, "ch09.topics.purity", (0.55, 0.8), (0.4, 0.95))
    band(metrics, "ch09.topics.ari_clustered", (0.45, 0.7), (0.3, 0.9))
    band(metrics, "ch09.topics.keyword_in_intent_name", (0.6, 0.9), (0.4, 1.0))
    # chance level (the clusters' majority intents shuffled, 200 draws); smoke: about 0.08
    band(metrics, "ch09.topics.keyword_in_intent_name_shuffled", (0.0, 0.25), (0.0, 0.3))
    assert value(metrics, "ch09.topics.keyword_in_intent_name") > 2 * value(
        metrics, "ch09.topics.keyword_in_intent_name_shuffled")
    # the outlier dial: min_samples=1 (reviewer's measurement on the smoke slice: 53 clusters, 37 % outliers,
    # ARI 0.66 on the clustered); fewer outliers than the default min_samples (= min_cluster_size)
    band(metrics, "ch09.topics.min_samples_1.n_clusters", (35, 75), (40, 300))
    band(metrics, "ch09.topics.min_samples_1.outlier_share", (0.2, 0.5), (0.05, 0.7))
    band(metrics, "ch09.topics.min_samples_1.ari_clustered", (0.5, 0.8), (0.3, 0.9))
    assert value(metrics, "ch09.topics.min_samples_1.outlier_share") < value(metrics, "ch09.topics.outlier_share")
    # smoke: nearest neighbour's intent agrees for 0.90 of clustered questions, 0.78 of outliers:
    # +0.121 [+0.076, +0.166]
    for g in ("clustered", "outliers"):
        has_interval(metrics, f"ch09.topics.nn_agreement.{g}", 0.15)
    held_comparison(metrics, "ch09.cmp.topics.nn_agreement.clustered_vs_outliers", 0.05, 0.2, full=(-0.1, 0.4))


def test_mpnet_row_in_the_full_profile(metrics):
    if entry(metrics, "ch09.clinc.intent.ari_kmeans.minilm")["profile"] != "full":
        pytest.skip("all-mpnet-base-v2 is clustered in the full profile only")
    assert value(metrics, "ch09.clinc.intent.ari_kmeans.mpnet") > value(metrics, "ch09.clinc.intent.ari_kmeans.glove")
    held_comparison(metrics, "ch09.cmp.intent.mpnet_vs_minilm", -0.05, 0.20)
    held_comparison(metrics, "ch09.cmp.domain.mpnet_vs_minilm", -0.15, 0.15)


def test_linkage_and_normalisation_exercises(metrics):
    # smoke: average - Ward -0.178 [-0.198, -0.159] (bootstrap over utterances, partitions fixed)
    held_comparison(metrics, "ch09.cmp.linkage.average_vs_ward", -0.30, -0.05)
    # MiniLM's vectors are unit length: normalising is the identity (same seed, same partition; no comparison)
    assert value(metrics, "ch09.normalise.minilm.ari_raw_vs_normalised") > 0.99
    for key in ("ch09.normalise.glove.ari_raw_vs_normalised", "ch09.normalise.glove.ari_seed_vs_seed.normalised",
                "ch09.normalise.glove.ari_seed_vs_seed.raw"):
        band(metrics, key, (0.3, 1.0), (0.3, 1.0))
        assert "ci95" in entry(metrics, key)
    # 6 across-setup pairs against 3 pairs of each setup
    for setup in ("normalised", "raw"):
        held_comparison(metrics, f"ch09.cmp.normalise.glove.vs_{setup}_seeds", -0.7, 0.6)


def test_silhouette_prefers_the_intent_granularity(metrics):
    best = value(metrics, "ch09.clinc.silhouette.best_k")
    assert 50 <= best <= 300
    assert value(metrics, "ch09.clinc.silhouette.at_10") < value(metrics, "ch09.clinc.silhouette.at_150") < 0.5
    # one run per k (smoke: 0.222, 0.238, 0.225 at k = 100, 150, 200): the page gives no interval and no rank
    for k in (100, 200):
        assert 0.1 < value(metrics, f"ch09.clinc.silhouette.at_{k}") < 0.5


def test_nmi_chance_floor_and_true_label_silhouettes(metrics):
    # a random partition: NMI grows with k (smoke: 0.006 at 10 vs the domains, 0.417 at 150 vs the intents),
    # AMI stays near 0
    band(metrics, "ch09.clinc.domain.nmi_random", (0.0, 0.05), (0.0, 0.02))
    band(metrics, "ch09.clinc.intent.nmi_random", (0.30, 0.50), (0.15, 0.35))
    for level in ("domain", "intent"):
        assert abs(value(metrics, f"ch09.clinc.{level}.ami_random")) < 0.02
        ami = {m: value(metrics, f"ch09.clinc.{level}.ami_kmeans.{m}") for m in ("minilm", "glove")}
        assert ami["minilm"] > ami["glove"], (level, ami)
        has_interval(metrics, f"ch09.clinc.{level}.silhouette_true_labels.minilm", 0.05)
    # smoke: 0.224 against 0.058, +0.166 [+0.159, +0.173] over 2,986 utterances
    held_comparison(metrics, "ch09.cmp.minilm.silhouette_intents_vs_domains", 0.08, 0.25)


def test_tsne_map_keeps_neighbourhoods(metrics):
    band(metrics, "ch09.clinc.tsne.trustworthiness", (0.95, 1.0), (0.98, 1.0))


def test_community_detection_on_banking77(metrics):
    precision = band(metrics, "ch09.banking77.community.precision", (0.74, 0.88), (0.77, 0.87))
    band(metrics, "ch09.banking77.community.coverage", (0.38, 0.54), (0.66, 0.78))
    band(metrics, "ch09.banking77.community.n_groups", (50, 90), (200, 280))
    shuffled = value(metrics, "ch09.banking77.community.precision_shuffled")
    assert shuffled < 0.2 and precision > 3 * shuffled
    has_interval(metrics, "ch09.banking77.community.precision", 0.2)
    # smoke: pooled precision, intent labels - shuffled: 0.811 - 0.107 = +0.704 [+0.659, +0.747], cluster
    # bootstrap over 69 communities
    held_comparison(metrics, "ch09.cmp.community_precision.labels_vs_shuffled", 0.5, 0.9)


# -------------------------------------------------------------------------------------------- chapter 10
MODELS = ("minilm", "l3_onnx", "minilm_int8")


def test_onnx_files_compute_what_the_lesson_says(metrics):
    assert value(metrics, "ch10.onnx.l3_output_is_mean_pool_maxdiff") < 1e-4
    assert value(metrics, "ch10.onnx.int8_cosine_to_fp32.mean") > 0.995
    assert value(metrics, "ch10.onnx.int8_cosine_to_fp32.min") > 0.98


def test_comparison_table(metrics):
    assert value(metrics, "ch10.compare.minilm.stsb_test") == pytest.approx(82.03, abs=0.1)
    band(metrics, "ch10.compare.minilm_int8.stsb_test", (80.5, 83.0))
    band(metrics, "ch10.compare.l3_onnx.stsb_test", (74.0, 84.0))
    for name in MODELS:
        band(metrics, f"ch10.compare.{name}.scifact_ndcg10", (0.35, 0.95), (0.30, 0.80))
        assert value(metrics, f"ch10.compare.{name}.sentences_per_s") > 0
        assert value(metrics, f"ch10.compare.{name}.peak_memory_mb") > 0
    # the sizes are those of the shipped files
    assert value(metrics, "ch10.compare.minilm.size_mb") == pytest.approx(90.9, abs=0.5)
    assert value(metrics, "ch10.compare.minilm_int8.size_mb") == pytest.approx(22.93, abs=0.05)
    assert value(metrics, "ch10.compare.l3_onnx.size_mb") == pytest.approx(69.06, abs=0.05)
    # int8 keeps MiniLM's retrieval quality (same vectors to a cosine of 0.999)
    assert abs(value(metrics, "ch10.compare.minilm_int8.scifact_ndcg10")
               - value(metrics, "ch10.compare.minilm.scifact_ndcg10")) < 0.03
    for name in MODELS:
        has_interval(metrics, f"ch10.compare.{name}.stsb_test", 5.0)
        has_interval(metrics, f"ch10.compare.{name}.scifact_ndcg10", 0.4)


def test_table_comparisons(metrics):
    # smoke: STS-B L3 +0.37 [-0.92, +1.72], int8 -0.043 [-0.098, +0.008]; SciFact (50 claims) L3 -0.048
    # [-0.115, +0.010], int8 -0.007 [-0.022, +0.000]
    held_comparison(metrics, "ch10.cmp.stsb.l3_onnx_vs_minilm", -0.8, 1.5)
    held_comparison(metrics, "ch10.cmp.stsb.minilm_int8_vs_minilm", -0.15, 0.05)
    # full (300 claims, whole collection): L3 - MiniLM -0.132 [-0.171, -0.094], MiniLM-L6 ahead
    held_comparison(metrics, "ch10.cmp.scifact.l3_onnx_vs_minilm", -0.12, 0.03, full=(-0.2, -0.05))
    held_comparison(metrics, "ch10.cmp.scifact.minilm_int8_vs_minilm", -0.03, 0.01)
    if entry(metrics, "ch10.compare.minilm.stsb_test")["profile"] == "full":
        held_comparison(metrics, "ch10.cmp.stsb.mpnet_vs_minilm", -2.0, 6.0)
        held_comparison(metrics, "ch10.cmp.scifact.mpnet_vs_minilm", -0.1, 0.15)


def test_matryoshka_truncation(metrics):
    full = value(metrics, "ch10.matryoshka.stsb_test.dim384")
    assert 80.0 <= full <= 90.0
    assert value(metrics, "ch10.matryoshka.stsb_test.dim64") > full - 6
    band(metrics, "ch10.matryoshka.drop_384_to_64", (0.0, 6.0))
    band(metrics, "ch10.matryoshka.cosent_control.drop_384_to_64", (0.0, 6.0))
    band(metrics, "ch10.matryoshka.minilm_truncated.drop_384_to_64", (1.5, 4.5))
    for key in ("drop_384_to_64", "cosent_control.drop_384_to_64", "minilm_truncated.drop_384_to_64"):
        has_interval(metrics, f"ch10.matryoshka.{key}", 2.0)
    assert value(metrics, "ch10.matryoshka.minilm_truncated.stsb_test.dim384") == pytest.approx(82.03, abs=0.1)
    band(metrics, "ch10.matryoshka.scifact_ndcg10.dim384", (0.30, 0.95))
    for model in ("", "cosent_control.", "minilm_truncated."):
        for dim in (384, 256, 128, 64):
            has_interval(metrics, f"ch10.matryoshka.{model}stsb_test.dim{dim}", 5.0)
    has_interval(metrics, "ch10.matryoshka.scifact_ndcg10.dim384", 0.4)
    # smoke (chapter 6's models, loaded as chapter 6 loads them): 384 -> 64 costs Matryoshka 3.09, the
    # CoSENT control 3.05, MiniLM 2.83; Matryoshka - control -0.04 [-0.12, +0.04], Matryoshka - MiniLM
    # -0.26 [-0.40, -0.12]; at 64 dims Matryoshka - MiniLM +0.07 [-0.17, +0.30]
    # full (4 epochs): Matryoshka - control +1.77 [+1.32, +2.25], Matryoshka - MiniLM +0.64 [-0.16, +1.45];
    # at 64 dims Matryoshka - MiniLM +4.84 [+3.49, +6.32]; SciFact Matryoshka - MiniLM -0.038 [-0.061, -0.016]
    drop = value(metrics, "ch10.matryoshka.drop_384_to_64")
    for other, smoke, full in (("cosent", (-0.3, 0.2), (0.8, 2.8)), ("minilm", (-0.6, -0.05), (-0.5, 1.8))):
        e = held_comparison(metrics, f"ch10.cmp.truncation.matryoshka_vs_{other}", *smoke, full=full)
        assert e["comparison"]["a_value"] == pytest.approx(-drop, abs=1e-6)
    held_comparison(metrics, "ch10.cmp.dim64.matryoshka_vs_minilm", -0.5, 0.6, full=(3.0, 7.0))
    held_comparison(metrics, "ch10.cmp.scifact.matryoshka_vs_minilm", -0.02, 0.03, full=(-0.07, -0.01))
    # chapter 10 reads the same Matryoshka model as chapter 6 (same cache entry, same encoding)
    ch06 = metrics.get("ch06.matryoshka.384.matryoshka")
    if ch06 is not None and ch06["profile"] == entry(metrics, "ch10.matryoshka.stsb_test.dim384")["profile"]:
        assert value(metrics, "ch10.matryoshka.stsb_test.dim384") == pytest.approx(
            value(metrics, "ch06.matryoshka.384.matryoshka"), abs=1e-6)
    for name in ("minilm_int8", "l3_onnx", "matryoshka"):  # claims scored differently, out of the sample
        assert 0 <= value(metrics, f"ch10.scifact.claims_differ.{name}_vs_minilm") <= 300


def test_matryoshka_budget_exercise(metrics):
    # smoke: 256 -0.24 [-0.53, +0.06], 128 -1.47 [-2.02, -0.92], 64 -3.09 [-4.02, -2.23] (paired, test pairs)
    for dim, (low, high) in ((256, (-0.8, 0.2)), (128, (-2.5, -0.5)), (64, (-5.0, -1.5))):
        held_comparison(metrics, f"ch10.cmp.matryoshka.dim{dim}_vs_384", low, high)


def test_cosine_and_dot(metrics):
    assert value(metrics, "ch10.scores.l3_stsb.cosine") > value(metrics, "ch10.scores.l3_stsb.dot")
    band(metrics, "ch10.scores.l3_scifact_ndcg10.cosine", (0.30, 0.95))
    band(metrics, "ch10.scores.l3_scifact_ndcg10.dot", (0.05, 0.95))
    # smoke: STS-B +22.4 [+19.6, +25.5]; SciFact +0.018 [-0.010, +0.047]
    held_comparison(metrics, "ch10.cmp.stsb.l3_cosine_vs_dot", 10.0, 35.0)
    held_comparison(metrics, "ch10.cmp.scifact.l3_cosine_vs_dot", -0.03, 0.07)


def test_where_it_breaks(metrics):
    swapped = value(metrics, "ch10.breaks.roles_swapped.mean_cosine")
    para = value(metrics, "ch10.breaks.paraphrase.mean_cosine")
    assert 0.95 < swapped <= 1.0 and 0.8 < para < 0.97
    band(metrics, "ch10.breaks.negated.mean_cosine", (0.65, 0.85))
    # 11 distinct anchors (anchor, paraphrase, edits); the paraphrase is closer for 6 of 11 (MiniLM: the same
    # in both profiles); edit - paraphrase -0.011 [-0.053, +0.032] (paired bootstrap over anchors)
    assert value(metrics, "ch10.breaks.anchors") == 11
    assert value(metrics, "ch10.breaks.paraphrase_closer") == 6
    assert 0 <= value(metrics, "ch10.breaks.near_ties.minilm") <= 11  # 1: decided by < 0.005
    # no single cosine threshold separates meaning-changing edits from harmless rewrites (MiniLM, both
    # profiles: lowest paraphrase or preserving edit 0.719, highest changing edit 0.993)
    assert value(metrics, "ch10.breaks.lowest_meaning_kept") < value(metrics, "ch10.breaks.highest_meaning_changed")
    held_comparison(metrics, "ch10.cmp.breaks.edit_vs_paraphrase", -0.08, 0.04)
    # one-word meaning-preserving edits and unrelated sentences (issue 23); smoke: MiniLM separates 9 of 11
    # (roles 1 of 3), kept - changed +0.086 [+0.027, +0.152]; changed - unrelated +0.844 [+0.779, +0.904]
    assert value(metrics, "ch10.breaks.separated.minilm") == 9
    assert value(metrics, "ch10.breaks.roles_swapped.separated") == 1
    band(metrics, "ch10.breaks.preserving.mean_cosine", (0.9, 1.0))
    band(metrics, "ch10.breaks.unrelated.mean_cosine", (-0.1, 0.2))
    held_comparison(metrics, "ch10.cmp.breaks.minilm_kept_vs_changed", 0.03, 0.15)
    held_comparison(metrics, "ch10.cmp.breaks.changing_vs_unrelated", 0.6, 1.0)


def test_cross_encoder_on_the_break_anchors(metrics):
    # smoke (chapter 3's smoke cross-encoder): separates 7 of 11 (2 of them near ties, < 0.005); kept -
    # changed +0.014 [-0.018, +0.038]; share separated, cross-encoder - MiniLM -0.182 [-0.455, 0.000]
    sep = value(metrics, "ch10.breaks.separated.cross_encoder")
    assert 0 <= sep <= 11
    assert 0 <= value(metrics, "ch10.breaks.near_ties.cross_encoder") <= 11
    if entry(metrics, "ch10.breaks.separated.cross_encoder")["profile"] == "smoke":
        assert sep == 7
        held_comparison(metrics, "ch10.cmp.breaks.cross_encoder_kept_vs_changed", -0.03, 0.06)
        held_comparison(metrics, "ch10.cmp.breaks.separated.cross_encoder_vs_minilm", -0.5, 0.1)
    else:  # full: not yet measured
        held_comparison(metrics, "ch10.cmp.breaks.cross_encoder_kept_vs_changed", -0.5, 0.5)
        held_comparison(metrics, "ch10.cmp.breaks.separated.cross_encoder_vs_minilm", -1.0, 1.0)


def test_truncation_and_chunking(metrics):
    assert value(metrics, "ch10.truncation.tail_max_abs_diff") == 0.0
    band(metrics, "ch10.truncation.share_over_limit", (0.4, 0.95))
    band(metrics, "ch10.truncation.share_over_window", (0.8, 1.0), (0.4, 0.95))
    t = band(metrics, "ch10.chunking.scifact_ndcg10.truncated", (0.35, 0.95), (0.30, 0.80))
    c = band(metrics, "ch10.chunking.scifact_ndcg10.chunk_and_pool", (0.35, 1.0), (0.30, 0.85))
    assert value(metrics, "ch10.chunking.scifact_ndcg10.gain") == pytest.approx(c - t, abs=1e-9)
    # the truncated run is the table's MiniLM run (same window, same cache entries)
    assert t == pytest.approx(value(metrics, "ch10.compare.minilm.scifact_ndcg10"), abs=1e-6)
    has_interval(metrics, "ch10.chunking.scifact_ndcg10.truncated", 0.4)
    has_interval(metrics, "ch10.chunking.scifact_ndcg10.chunk_and_pool", 0.4)
    # smoke: +0.060 [+0.006, +0.118]; weighted - plain -0.015, weighted - truncated +0.045 [-0.001, +0.096]
    # full (window 256): -0.045 [-0.076, -0.015]; weighted - plain +0.010 [+0.003, +0.018], weighted -
    # truncated -0.035 [-0.066, -0.006]
    smoke = entry(metrics, "ch10.chunking.window")["profile"] == "smoke"
    e = held_comparison(metrics, "ch10.cmp.chunking.pooled_vs_truncated", 0.01, 0.11, full=(-0.09, -0.01))
    assert e["value"] == pytest.approx(c - t, abs=1e-9)
    held_comparison(metrics, "ch10.cmp.chunking.weighted_vs_chunk_and_pool", -0.04, 0.01, full=(0.0, 0.03))
    held_comparison(metrics, "ch10.cmp.chunking.weighted_vs_truncated", 0.0, 0.09, full=(-0.08, 0.0))
    # max over chunks (issue 23); smoke: 0.957, vs truncated +0.085 [+0.028, +0.151], vs pooled +0.025
    # [-0.010, +0.066]; full (window 256): vs truncated +0.001 [-0.022, +0.024], vs pooled +0.046 [+0.025, +0.069]
    assert value(metrics, "ch10.chunking.window") == (128 if smoke else 256)
    band(metrics, "ch10.chunking.scifact_ndcg10.max_chunk", (0.35, 1.0), (0.30, 0.85))
    has_interval(metrics, "ch10.chunking.scifact_ndcg10.max_chunk", 0.4)
    held_comparison(metrics, "ch10.cmp.chunking.max_chunk_vs_truncated", 0.02, 0.15, full=(-0.2, 0.2))
    held_comparison(metrics, "ch10.cmp.chunking.max_chunk_vs_pooled", -0.03, 0.07, full=(-0.2, 0.2))


def test_anisotropy_and_centring(metrics):
    glove = band(metrics, "ch10.anisotropy.avg_glove.mean_random_cosine", (0.75, 0.90))
    assert abs(value(metrics, "ch10.anisotropy.avg_glove.after_centring")) < 0.15
    assert value(metrics, "ch10.anisotropy.avg_glove.stsb_test_centred") > value(metrics, "ch10.anisotropy.avg_glove.stsb_test")
    for name in ("minilm", "l3_onnx"):
        raw = band(metrics, f"ch10.anisotropy.{name}.mean_random_cosine", (-0.02, 0.1))
        assert raw < glove and abs(value(metrics, f"ch10.anisotropy.{name}.after_centring")) <= abs(raw)
        band(metrics, f"ch10.anisotropy.{name}.stsb_test_centred", (70.0, 86.0))
    # smoke: averaged GloVe +5.28 [+2.78, +7.74]; MiniLM +0.23 [+0.08, +0.40]
    held_comparison(metrics, "ch10.cmp.centring.avg_glove", 2.0, 9.0)
    held_comparison(metrics, "ch10.cmp.centring.minilm", 0.05, 0.45)


def test_cache_and_languages(metrics):
    assert value(metrics, "ch10.cache.speedup") > 5
    # three English sentences, stated descriptively (no interval); the same sentences in both profiles
    assert value(metrics, "ch10.languages.unrelated_same_language.mean_cosine") > \
        value(metrics, "ch10.languages.translation.mean_cosine")
    band(metrics, "ch10.languages.translation.mean_cosine", (-0.1, 0.4))
    band(metrics, "ch10.languages.unrelated_cross_language.mean_cosine", (-0.1, 0.3))
    assert value(metrics, "ch10.languages.language_effect.mean_cosine") > \
        value(metrics, "ch10.languages.meaning_effect.mean_cosine")
    assert value(metrics, "ch10.languages.translation_above_unrelated_foreign") == 3
    assert value(metrics, "ch10.languages.same_language_above_translation") == 3
