"""Recorded figures of chapters 9 (clustering) and 10 (choosing a model, where embeddings break) held in bands.

Smoke bands come from runs on a 2-core CPU (CLINC150: 3,000 sampled training utterances; Banking77: 3,000
questions; SciFact: chapter 7's 1,000-document collection). The full profile clusters whole training
splits, so its bands are wider where more data can move a score.
"""

import pytest
from _figures import entry, value


def band(metrics, key, smoke, full=None):
    e = entry(metrics, key)
    lo, hi = smoke if e["profile"] == "smoke" or full is None else full
    assert lo <= e["value"] <= hi, f"{key} = {e['value']} is outside [{lo}, {hi}] ({e['profile']} profile)"
    return e["value"]


# --------------------------------------------------------------------------------------------- chapter 9
def test_six_sentence_demo_matches_the_tutorials_split(metrics):
    assert value(metrics, "ch09.six_sentences.ari_vs_tutorial") == pytest.approx(1.0)


@pytest.mark.parametrize("key,smoke,full", [
    ("ch09.clinc.domain.ari_kmeans.minilm", (0.28, 0.48), (0.25, 0.60)),
    ("ch09.clinc.domain.ari_agglo.minilm", (0.25, 0.45), (0.20, 0.60)),
    ("ch09.clinc.domain.nmi_kmeans.minilm", (0.46, 0.62), (0.40, 0.70)),
    ("ch09.clinc.domain.nmi_agglo.minilm", (0.47, 0.63), (0.40, 0.70)),
    ("ch09.clinc.intent.ari_kmeans.minilm", (0.60, 0.78), (0.55, 0.85)),
    ("ch09.clinc.intent.ari_agglo.minilm", (0.55, 0.75), (0.50, 0.85)),
    ("ch09.clinc.intent.nmi_kmeans.minilm", (0.86, 0.94), (0.82, 0.96)),
    ("ch09.clinc.intent.nmi_agglo.minilm", (0.85, 0.93), (0.82, 0.96)),
    ("ch09.clinc.domain.ari_kmeans.glove", (0.10, 0.27), (0.05, 0.35)),
    ("ch09.clinc.domain.ari_agglo.glove", (0.17, 0.35), (0.05, 0.40)),
    ("ch09.clinc.intent.ari_kmeans.glove", (0.22, 0.40), (0.15, 0.50)),
    ("ch09.clinc.intent.ari_agglo.glove", (0.24, 0.42), (0.15, 0.50)),
])
def test_clinc_clustering_scores(metrics, key, smoke, full):
    band(metrics, key, smoke, full)


def test_trained_encoder_beats_averaged_glove_at_both_levels(metrics):
    for level in ("domain", "intent"):
        assert value(metrics, f"ch09.clinc.{level}.ari_gain.minilm_over_glove") > 0.05
        for method in ("kmeans", "agglo"):
            assert value(metrics, f"ch09.clinc.{level}.ari_{method}.minilm") > \
                value(metrics, f"ch09.clinc.{level}.ari_{method}.glove")
    # intents are matched better than domains (chance-corrected ARI)
    assert value(metrics, "ch09.clinc.intent.ari_kmeans.minilm") > value(metrics, "ch09.clinc.domain.ari_kmeans.minilm")


def test_mpnet_row_in_the_full_profile(metrics):
    if entry(metrics, "ch09.clinc.intent.ari_kmeans.minilm")["profile"] != "full":
        pytest.skip("all-mpnet-base-v2 is clustered in the full profile only")
    assert value(metrics, "ch09.clinc.intent.ari_kmeans.mpnet") > value(metrics, "ch09.clinc.intent.ari_kmeans.glove")


def test_silhouette_prefers_the_intent_granularity(metrics):
    best = value(metrics, "ch09.clinc.silhouette.best_k")
    assert 50 <= best <= 300
    assert value(metrics, "ch09.clinc.silhouette.at_10") < value(metrics, "ch09.clinc.silhouette.at_150") < 0.5


def test_tsne_map_keeps_neighbourhoods(metrics):
    band(metrics, "ch09.clinc.tsne.trustworthiness", (0.95, 1.0), (0.93, 1.0))


def test_community_detection_on_banking77(metrics):
    precision = band(metrics, "ch09.banking77.community.precision", (0.74, 0.88), (0.65, 0.92))
    band(metrics, "ch09.banking77.community.coverage", (0.38, 0.54), (0.30, 0.80))
    band(metrics, "ch09.banking77.community.n_groups", (50, 90), (40, 250))
    shuffled = value(metrics, "ch09.banking77.community.precision_shuffled")
    assert shuffled < 0.2 and precision > 3 * shuffled
