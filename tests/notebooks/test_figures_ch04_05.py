"""Recorded figures of chapters 4 (pooling) and 5 (objectives) held in bands (run after the notebooks)."""

import _figures
import pytest
from _figures import entry, profile, value

# Recorded verdicts per profile. smoke: observed in the smoke build (CPU, 2 cores). full: measured in the
# committed full record (records/full/metrics.json, CPU, 2026-12-06; every expectation held); a tuple lists
# the verdicts accepted where an end of the full interval lies within 0.05 of zero, so that another device's
# rounding could flip it. Chapter 4 scores the whole STS-B test split with the shipped model in both
# profiles: full measured the same figures as smoke.
VERDICTS = {
    # chapter 4 (smoke: mean 82.03; weighted mean 81.59, max 78.80, last token 77.97, CLS 73.50)
    "ch04.cmp.mean_vs_max": {"smoke": "mean ahead", "full": "mean ahead"},
    "ch04.cmp.mean_vs_cls": {"smoke": "mean ahead", "full": "mean ahead"},
    "ch04.cmp.mean_vs_weightedmean": {"smoke": "no detectable difference",
                                      "full": "no detectable difference"},
    "ch04.cmp.mean_vs_lasttoken": {"smoke": "mean ahead", "full": "mean ahead"},
    "ch04.cmp.concat_raw_vs_mean": {"smoke": "mean alone ahead", "full": "mean alone ahead"},
    # +0.32 [+0.04, +0.61]: the cosine of two unit halves is the average of the two cosines. Not robust:
    # two variants were tried on the test set; Bonferroni-corrected, the lower end is +0.00 (2 variants,
    # 97.5 %) and -0.04 (all 6 comparisons, 99.2 %), so no verdict is pinned for the full profile (measured
    # there: the same +0.32 [+0.04, +0.61], [+0.00, +0.64], [-0.04, +0.70])
    "ch04.cmp.concat_unit_vs_mean": {"smoke": "mean + max, unit halves ahead",
                                     "full": ("mean + max, unit halves ahead", "no detectable difference")},
    "ch04.cmp.concat_unit_vs_mean_bonferroni2": {"smoke": "mean + max, unit halves ahead",
                                                 "full": ("mean + max, unit halves ahead",
                                                          "no detectable difference")},
    "ch04.cmp.concat_unit_vs_mean_bonferroni6": {"smoke": "no detectable difference",
                                                 "full": ("mean + max, unit halves ahead",
                                                          "no detectable difference")},
    # chapter 5 (one training seed in smoke; the full profile trains the same data at three seeds)
    "ch05.cmp.untrained_vs_avg": {"smoke": "no detectable difference",
                                  "full": "no detectable difference"},
    "ch05.cmp.mnrl_vs_avg": {"smoke": "MNRL ahead", "full": "MNRL ahead"},
    "ch05.cmp.softmax_vs_avg": {"smoke": "softmax ahead", "full": "softmax ahead"},
    # two recipes (objective, data, output size, epochs, batch size and steps all differ), not two objectives
    "ch05.cmp.mnrl_vs_softmax": {"smoke": "MNRL recipe ahead", "full": "MNRL recipe ahead"},
    "ch05.cmp.mnrl_vs_softmax_seeds": {"full": "MNRL recipe ahead"},
    "ch05.cmp.bilstm_init_vs_avg_dev": {"smoke": "random BiLSTM-max ahead",
                                        "full": "random BiLSTM-max ahead"},
    "ch05.cmp.bilstm_trained_vs_init_dev": {"smoke": "trained BiLSTM-max ahead",
                                            "full": "trained BiLSTM-max ahead"},
    # full measured -0.05 [-0.37, +0.27]; MNRL minus softmax over 3 seeds +7.9 [+7.2, +8.5]
    "ch05.cmp.hard_vs_no_hard": {"smoke": "no detectable difference", "full": "no detectable difference"},
}


def held_comparison(metrics, key, low, high):
    """The recorded difference lies in [low, high], inside its own interval, with the expected verdict."""
    return _figures.held_comparison(metrics, key, low, high, VERDICTS)


def has_interval(metrics, key, max_width):
    lo, hi = entry(metrics, key)["ci95"]
    assert lo <= value(metrics, key) <= hi and hi - lo < max_width, (key, lo, hi)


# ------------------------------------------------------------------------------------ chapter 4
def test_from_scratch_pooling_equals_library(metrics):
    assert value(metrics, "ch04.pooling.max_abs_diff_vs_library") < 1e-5


def test_padding_bug_measured(metrics):
    assert value(metrics, "ch04.padding.masked_max_change") < 1e-4
    assert value(metrics, "ch04.padding.unmasked_max_change") > 1e-2
    assert value(metrics, "ch04.padding.unmasked_min_cosine") < 0.999


def test_mean_pooling_reproduces_the_model(metrics):
    assert value(metrics, "ch04.stsb_test.mean") == pytest.approx(82.03, abs=0.1)


def test_no_other_pooling_is_ahead_of_the_trained_one(metrics):
    mean = value(metrics, "ch04.stsb_test.mean")
    # mean − other, measured in smoke: max +3.24, CLS +8.53, weighted mean +0.44 [-0.14, +1.04],
    # last token +4.07
    bands = {"max": (1.5, 5.5), "cls": (5.0, 12.0), "weightedmean": (0.0, 1.2), "lasttoken": (2.5, 6.0)}
    for mode, band in bands.items():
        other = value(metrics, f"ch04.stsb_test.{mode}")
        assert 0 < other < mean, mode
        has_interval(metrics, f"ch04.stsb_test.{mode}", 8)
        e = held_comparison(metrics, f"ch04.cmp.mean_vs_{mode}", *band)
        assert e["value"] == pytest.approx(mean - other, abs=1e-9)
    has_interval(metrics, "ch04.stsb_test.mean", 5)


def test_concatenated_poolings(metrics):
    held_comparison(metrics, "ch04.cmp.concat_raw_vs_mean", -3.5, -1.0)  # smoke: -2.18
    held_comparison(metrics, "ch04.cmp.concat_unit_vs_mean", 0.0, 0.8)  # smoke: +0.32
    # Bonferroni-corrected (smoke: [+0.00, +0.64] and [-0.04, +0.70]): wider than the 95 % interval, and both
    # lower ends within 0.05 of zero, as the page states
    base = entry(metrics, "ch04.cmp.concat_unit_vs_mean")
    for n in (2, 6):
        e = held_comparison(metrics, f"ch04.cmp.concat_unit_vs_mean_bonferroni{n}", 0.0, 0.8)
        assert e["value"] == pytest.approx(base["value"], abs=1e-9)
        assert e["ci95"][0] <= base["ci95"][0] and e["ci95"][1] >= base["ci95"][1]
        assert abs(e["ci95"][0]) < 0.05, e["ci95"]
    for k in ("raw", "unit"):
        has_interval(metrics, f"ch04.stsb_test.concat_{k}", 5)


# ------------------------------------------------------------------------------------ chapter 5
def test_objectives_equal_library(metrics):
    assert value(metrics, "ch05.losses.max_value_diff") < 1e-9
    assert value(metrics, "ch05.losses.max_grad_diff") < 1e-9
    assert value(metrics, "ch05.triplet.squared_formula_equals_library_default") is False


def baseline(metrics):
    """Chapter 2's averaged GloVe when recorded, else the same average recorded by chapter 5."""
    if "ch02.stsb_test.avg_glove" in metrics:
        return value(metrics, "ch02.stsb_test.avg_glove")
    return value(metrics, "ch05.stsb_test.avg_glove_baseline")


def test_baseline_is_chapter2s_plain_average(metrics):
    ours = value(metrics, "ch05.stsb_test.avg_glove_baseline")
    assert 35 < ours < 43  # measured here: 38.2 (regex tokens, punctuation and stop words kept)
    if "ch02.stsb_test.avg_glove" in metrics:
        assert ours == pytest.approx(value(metrics, "ch02.stsb_test.avg_glove"), abs=2.0)


def test_untrained_model_is_no_better_than_the_average(metrics):
    assert value(metrics, "ch05.stsb_test.glove_untrained") < baseline(metrics) + 3
    e = held_comparison(metrics, "ch05.cmp.untrained_vs_avg", -1.0, 1.0)  # smoke: +0.08
    assert -2 < e["ci95"][0] and e["ci95"][1] < 2  # the page says: the whole interval within 2 points


def test_nli_training_beats_averaged_glove(metrics):
    key = "ch05.stsb_test.glove_nli_mnrl"
    need = 10 if profile(metrics, key) == "full" else 5
    assert value(metrics, key) >= baseline(metrics) + need
    # the softmax objective helps, but less
    assert value(metrics, "ch05.stsb_test.glove_nli_softmax") >= baseline(metrics) + 3
    assert value(metrics, "ch05.stsb_test.glove_nli_softmax") < value(metrics, key)
    # the comparisons the page pastes (smoke: MNRL − average +16.84, softmax − average +8.89,
    # MNRL − softmax +7.95)
    held_comparison(metrics, "ch05.cmp.mnrl_vs_avg", 10.0, 25.0)
    held_comparison(metrics, "ch05.cmp.softmax_vs_avg", 3.0, 15.0)
    held_comparison(metrics, "ch05.cmp.mnrl_vs_softmax", 3.0, 13.0)
    for name in ("avg_glove_baseline", "glove_untrained", "glove_nli_softmax", "glove_nli_mnrl",
                 "glove_bilstm_mnrl", "glove_nli_mnrl_no_hard_negatives"):
        has_interval(metrics, f"ch05.stsb_test.{name}", 12)  # measured: 8 to 10 points wide


def test_objectives_over_seeds_only_where_seeds_were_trained(metrics):
    key = "ch05.cmp.mnrl_vs_softmax_seeds"
    if profile(metrics, "ch05.cmp.mnrl_vs_softmax") == "full":
        e = held_comparison(metrics, key, 3.0, 13.0)
        assert e["comparison"]["n"] == 6  # three seeds a side
    elif key in metrics:  # left over from a full build: not this profile's figure
        assert metrics[key]["profile"] == "full"


def test_infersent_style_bilstm(metrics):
    key = "ch05.stsb_test.glove_bilstm_mnrl"
    # InferSent-GloVe (68.03) is a reference for the BiLSTM-max only, not for the linear models
    assert entry(metrics, key).get("ref") == 68.03
    for other in ("glove_nli_softmax", "glove_nli_mnrl"):
        assert entry(metrics, f"ch05.stsb_test.{other}").get("ref") is None, other
    floor = 60 if profile(metrics, key) == "full" else 55
    assert floor <= value(metrics, key) <= 75


def test_validation_baseline_and_hard_negatives(metrics):
    # the dev curves' baseline: the plain average on the same validation pairs (measured in smoke: 50.63)
    assert 44 <= value(metrics, "ch05.stsb_dev.avg_glove_baseline") <= 58
    # exercise ex05-hard (measured in smoke: 55.03 with, 55.08 without the contradictions)
    no_hard = value(metrics, "ch05.stsb_test.glove_nli_mnrl_no_hard_negatives")
    e = held_comparison(metrics, "ch05.cmp.hard_vs_no_hard", -3.0, 3.0)
    assert e["value"] == pytest.approx(value(metrics, "ch05.stsb_test.glove_nli_mnrl") - no_hard, abs=1e-9)


def test_dev_curve_points_and_their_comparisons(metrics):
    # smoke: the BiLSTM-max starts at 60.96 before any step, the average scores 50.63 on the same 500 pairs,
    # and training takes the BiLSTM to 73.27
    for name in ("nli_softmax", "nli_mnrl", "bilstm_mnrl"):
        for when in ("step0", "final"):
            has_interval(metrics, f"ch05.stsb_dev.{name}_{when}", 15)
    has_interval(metrics, "ch05.stsb_dev.avg_glove_baseline", 15)
    held_comparison(metrics, "ch05.cmp.bilstm_init_vs_avg_dev", 4.0, 18.0)
    held_comparison(metrics, "ch05.cmp.bilstm_trained_vs_init_dev", 5.0, 25.0)


def test_scale_exercise_is_a_property_of_one_batch(metrics):
    # the page states: on its batch of 64 triplets, the right positives' loss is lower at s = 20 than at 100
    assert value(metrics, "ch05.scale.right_loss_s20") < value(metrics, "ch05.scale.right_loss_s100")
