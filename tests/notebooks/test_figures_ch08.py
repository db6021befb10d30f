"""Recorded figures of chapter 8 (domain adaptation on SciFact) held in bands (run after the notebooks).

Smoke bands come from the smoke profile on a CPU (64-token texts, a 500-abstract corpus, a few hundred
training examples); full bands from the whole corpus at 256 tokens, where all-MiniLM-L6-v2 scores 0.6451
(MTEB) and BM25 0.6617 (chapter 7's measurement).
"""

import pytest
from _figures import entry, profile, value


def test_duplicated_claims_are_dropped(metrics):
    # two train claims are test claims word for word (other ids, same abstract): they must not train
    assert value(metrics, "ch08.scifact.train_claims_dropped") == 2


def test_untuned_model_and_the_gap(metrics):
    assert value(metrics, "ch08.stsb_test.before") == pytest.approx(82.03, abs=0.1)
    before = entry(metrics, "ch08.scifact.ndcg10.before")
    bm25 = value(metrics, "ch08.scifact.ndcg10.bm25")
    if before["profile"] == "smoke":
        assert before["value"] == pytest.approx(0.7812, abs=0.01)
        assert bm25 == pytest.approx(0.8154, abs=0.005)
    else:
        assert before["value"] == pytest.approx(0.6451, abs=0.01)
        assert bm25 == pytest.approx(0.6617, abs=0.005)
    # BM25's mean is the higher in both profiles; whether the difference is detectable is held with the
    # comparisons below (smoke: +0.034 [-0.009, +0.076] over 300 claims, no detectable difference)
    assert bm25 > before["value"]


def test_supervised_adaptation_helps(metrics):
    before = value(metrics, "ch08.scifact.ndcg10.before")
    mnrl = entry(metrics, "ch08.scifact.ndcg10.mnrl")
    # smoke measured +0.0156 (256 pairs, 64 tokens); full, on a 2-core CPU: 0.6451 -> 0.6799 (+0.0348)
    if mnrl["profile"] == "smoke":
        assert mnrl["value"] > before + 0.005
    else:
        assert mnrl["value"] == pytest.approx(0.6799, abs=0.015) and mnrl["value"] > before + 0.02
    assert value(metrics, "ch08.scifact.gain.mnrl") == pytest.approx(mnrl["value"] - before, abs=1e-12)
    hard = value(metrics, "ch08.scifact.ndcg10.mnrl_hard")
    assert value(metrics, "ch08.scifact.hard_minus_mnrl") == pytest.approx(hard - mnrl["value"], abs=1e-12)
    assert abs(hard - mnrl["value"]) < 0.05  # one mined negative per claim: a small change either way


# Measured on a 2-core CPU: smoke 2026-12-06 (issue #23's version: SimCSE and TSDAE on 128 abstracts, AugSBERT
# with chapter 7's relevance cross-encoder, 64 gold + 64 silver claims). Full: mnrl, mnrl_hard, simcse and tsdae
# keep the recipes of the full run of 2026-11-25/26; tsdae_mnrl, augsbert_gold and augsbert are NOT YET MEASURED
# in full (bands wide open until a full run records them).
VARIANTS = ("mnrl", "mnrl_hard", "simcse", "tsdae", "augsbert_gold", "augsbert")
NONE = "no detectable difference"
# Smoke, observed 2026-12-06 (one seed; TSDAE: 16 steps on 128 abstracts, too short for the collapse of the
# full recipe): simcse 0.7854, tsdae 0.8017, tsdae_mnrl 0.8093; STS-B TSDAE - untuned -0.32; mean cosine
# between abstracts 0.10 -> 0.25.
SMOKE_SIMCSE, SMOKE_TSDAE, SMOKE_TSDAE_MNRL = (0.77, 0.80), (0.785, 0.815), (0.795, 0.825)
SMOKE_STSB_TSDAE = (-1.0, 0.0)
SMOKE_COS_END = (0.15, 0.4)
SMOKE_UNSUPERVISED = {
    "ch08.cmp.simcse_vs_untuned": ((-0.01, 0.015), NONE),  # +0.004 [-0.003, +0.012]
    "ch08.cmp.tsdae_vs_untuned": ((0.005, 0.035), {"TSDAE ahead", NONE}),  # +0.021 [+0.010, +0.032]
    "ch08.cmp.tsdae_vs_mnrl": ((-0.01, 0.02), NONE),  # +0.005 [-0.005, +0.015]
    "ch08.cmp.simcse_vs_mnrl": ((-0.025, 0.0), {NONE, "MNRL ahead"}),  # -0.012 [-0.023, +0.000]
    "ch08.cmp.tsdae_mnrl_vs_mnrl": ((0.0, 0.025), {"TSDAE → MNRL ahead", NONE}),  # +0.012 [+0.004, +0.022]
    "ch08.cmp.stsb.tsdae_vs_untuned": ((-1.0, 0.0), {"untuned ahead", NONE}),  # -0.32 [-0.47, -0.17]
    "ch08.cmp.stsb.tsdae_vs_mnrl": ((-1.0, 0.1), {"MNRL ahead", NONE}),  # -0.24 [-0.39, -0.10]
}
NDCG_BANDS = {
    "smoke": {"mnrl": (0.785, 0.81), "mnrl_hard": (0.78, 0.805), "simcse": SMOKE_SIMCSE, "tsdae": SMOKE_TSDAE,
              "tsdae_mnrl": SMOKE_TSDAE_MNRL, "augsbert_gold": (0.775, 0.80), "augsbert": (0.765, 0.79)},
    # mnrl 0.6799, mnrl_hard 0.7102, simcse 0.5801, tsdae 0.1130 (collapsed); the others not yet measured
    "full": {"mnrl": (0.665, 0.695), "mnrl_hard": (0.695, 0.725), "simcse": (0.56, 0.60),
             "tsdae": (0.05, 0.25), "tsdae_mnrl": (0.0, 1.0), "augsbert_gold": (0.0, 1.0),
             "augsbert": (0.0, 1.0)},
}


def test_every_variant_recorded_in_range(metrics):
    prof = profile(metrics, "ch08.scifact.ndcg10.before")
    for v, (lo, hi) in NDCG_BANDS[prof].items():
        assert profile(metrics, f"ch08.scifact.ndcg10.{v}") == prof, v
        assert lo < value(metrics, f"ch08.scifact.ndcg10.{v}") < hi, (v, value(metrics, f"ch08.scifact.ndcg10.{v}"))
    for v in ("simcse", "tsdae", "augsbert"):
        gain = value(metrics, f"ch08.scifact.ndcg10.{v}") - value(metrics, "ch08.scifact.ndcg10.before")
        assert value(metrics, f"ch08.scifact.gain.{v}") == pytest.approx(gain, abs=1e-12)


def test_stsb_price_of_mnrl_and_tsdae(metrics):
    # STS-B is measured for MNRL and TSDAE only (the other variants' STS-B comparisons were dropped: CPU budget)
    prof = profile(metrics, "ch08.stsb_test.mnrl")
    before = value(metrics, "ch08.stsb_test.before")
    assert abs(value(metrics, "ch08.stsb_test.mnrl") - before) < 1.5  # smoke -0.08
    tsdae = value(metrics, "ch08.stsb_test.tsdae")
    if prof == "smoke":  # a short run (16 steps): -0.32
        assert SMOKE_STSB_TSDAE[0] < tsdae - before < SMOKE_STSB_TSDAE[1]
    else:  # full 68.85 (-13.18) in the run of 2026-11-26: general English pays for the collapse
        assert 60 < tsdae < before - 5
    for v in ("mnrl_hard", "simcse", "augsbert", "augsbert_gold", "tsdae_mnrl"):
        assert f"ch08.stsb_test.{v}" not in metrics or metrics[f"ch08.stsb_test.{v}"]["profile"] != prof, v


def test_tsdae_trace(metrics):
    steps = entry(metrics, "ch08.tsdae.trace.steps")
    # one epoch at batch 8: smoke 128 abstracts, full all 5,183
    assert steps["value"] == (16 if steps["profile"] == "smoke" else 648)
    assert value(metrics, "ch08.tsdae.probe_docs") == 500
    start = value(metrics, "ch08.tsdae.trace.ndcg10_start")
    end = value(metrics, "ch08.tsdae.trace.ndcg10_end")
    peak = value(metrics, "ch08.tsdae.trace.ndcg10_peak")
    assert peak >= max(start, end) - 1e-12
    assert 0 <= value(metrics, "ch08.tsdae.trace.peak_step") <= steps["value"]
    cos0 = value(metrics, "ch08.tsdae.trace.doc_cos_start")
    cos1 = value(metrics, "ch08.tsdae.trace.doc_cos_end")
    assert cos0 < 0.2  # 0.10: all-MiniLM-L6-v2's abstracts are spread out
    if steps["profile"] == "smoke":  # the probe set is the evaluation set: the trace's ends are the table's
        assert start == pytest.approx(value(metrics, "ch08.scifact.ndcg10.before"), abs=1e-4)
        assert end == pytest.approx(value(metrics, "ch08.scifact.ndcg10.tsdae"), abs=1e-4)
        assert SMOKE_COS_END[0] < cos1 < SMOKE_COS_END[1]
    else:  # the full run of 2026-11-26: 0.10 -> 0.90 and retrieval collapsed
        assert end < start - 0.05 and cos1 > 0.7
    # six cross-attention blocks and the word-prediction head's transform start from random numbers
    assert value(metrics, "ch08.tsdae.fresh_parameters") == 3_731_898


def test_teacher_check_and_noise(metrics):
    ce, bi = value(metrics, "ch08.teacher.top1_cross_encoder"), value(metrics, "ch08.teacher.top1_bi_encoder")
    assert 0.0 <= ce <= 1.0 and 0.0 <= bi <= 1.0
    assert value(metrics, "ch08.teacher.top1_margin") == pytest.approx(ce - bi, abs=1e-12)
    assert value(metrics, "ch08.tsdae.kept_word_share") == pytest.approx(0.4, abs=0.03)
    # chapter 7's split drops the 2 train claims whose text is a test claim: the teacher saw none, in both
    assert value(metrics, "ch08.augsbert.teacher_saw_test_twins") == 0
    # the teacher is chapter 7's re-ranker, not trained on the students' gold alone (smoke: 80 claims, 6 of the
    # 64 gold and 5 of the 64 silver; full: every train claim but the twins, so all of both)
    teacher = entry(metrics, "ch08.augsbert.teacher_claims")
    gold_o, silver_o = (value(metrics, f"ch08.augsbert.teacher_{w}_overlap") for w in ("gold", "silver"))
    assert 0 <= gold_o <= value(metrics, "ch08.augsbert.gold_claims")
    assert 0 <= silver_o <= value(metrics, "ch08.augsbert.silver_claims")
    assert teacher["value"] == (80 if teacher["profile"] == "smoke" else 807)
    # MNRL batches by plain shuffling: an abstract cited by several claims (smoke: 256 pairs, 214 abstracts)
    assert 0 < value(metrics, "ch08.train.distinct_abstracts") <= value(metrics, "ch08.train.pairs")


def test_training_sizes_follow_the_profile(metrics):
    pairs = entry(metrics, "ch08.train.pairs")
    abstracts = value(metrics, "ch08.unlabelled.abstracts")
    sizes = (value(metrics, "ch08.simcse.abstracts"), value(metrics, "ch08.tsdae.abstracts"),
             value(metrics, "ch08.augsbert.gold_claims"), value(metrics, "ch08.augsbert.silver_claims"),
             value(metrics, "ch08.tsdae_mnrl.seeds"), value(metrics, "ch08.augsbert.k"))
    if pairs["profile"] == "smoke":
        assert pairs["value"] == 256 and abstracts == 640 and sizes == (128, 128, 64, 64, 1, 5)
    else:  # one pair per train claim: 809 claims in qrels/train.tsv less the 2 duplicated test claims
        assert pairs["value"] == 807 and abstracts == 5_183 and sizes == (5_183, 5_183, 200, 607, 3, 5)


# ------------------------------------------------------------------ comparisons (issues #21, #23)
# Every difference the page reads is a recorded Comparison: A − B, its 95 % paired-bootstrap interval over
# the test items (claims, STS-B pairs; train claims for the teacher check; a bootstrap within each group for
# the overlap groups) and the verdict computed from that interval. One trained model per recipe (TSDAE → MNRL:
# three seeds in full, each claim's score averaged over them): the intervals hold test-item noise only.
# Per profile: key -> ((low, high) band of A − B, verdict). Smoke: observed on a 2-core CPU, 2026-12-06.
# Full: NOT YET MEASURED as comparisons; bands and verdicts are what the full figures of 2026-11-25/26 imply
# where the recipe is unchanged, and wide open where it is new.


def ANY(a, b):
    return {f"{a} ahead", f"{b} ahead", NONE}


CMP = {
    "smoke": {
        "ch08.cmp.bm25_vs_untuned": ((0.01, 0.06), NONE),  # +0.034 [-0.009, +0.076]
        "ch08.cmp.mnrl_vs_untuned": ((0.005, 0.03), "MNRL ahead"),  # +0.016 [+0.006, +0.026]
        "ch08.cmp.mnrl_hard_vs_untuned": ((0.0, 0.025), {"MNRL + hard negatives ahead", NONE}),  # +0.011
        "ch08.cmp.mnrl_hard_vs_mnrl": ((-0.02, 0.01), NONE),  # -0.005 [-0.015, +0.005]
        **SMOKE_UNSUPERVISED,
        "ch08.cmp.augsbert_gold_vs_untuned": ((-0.005, 0.02), {"gold alone ahead", NONE}),  # +0.008 [+0.001, +0.016]
        "ch08.cmp.augsbert_vs_untuned": ((-0.02, 0.01), NONE),  # -0.004 [-0.016, +0.009]
        "ch08.cmp.augsbert_vs_gold": ((-0.03, 0.005), {NONE, "gold alone ahead"}),  # -0.012 [-0.024, +0.001]
        "ch08.cmp.teacher_vs_student_top1": ((-0.4, -0.05), "student ahead"),  # -0.231 [-0.365, -0.096], 52
        "ch08.cmp.stsb.mnrl_vs_untuned": ((-0.3, 0.1), {"untuned ahead", NONE}),  # -0.08 [-0.15, -0.01]
        "ch08.cmp.overlap.seen.mnrl_vs_untuned": ((-0.01, 0.04), NONE),  # +0.012 [-0.007, +0.033], 77 claims
        "ch08.cmp.overlap.new.mnrl_vs_untuned": ((0.005, 0.03), {"MNRL ahead", NONE}),  # +0.017, 223 claims
        "ch08.cmp.overlap.seen_vs_new_gain": ((-0.03, 0.02), NONE),  # -0.005 [-0.029, +0.019]
    },
    "full": {
        "ch08.cmp.bm25_vs_untuned": ((0.0, 0.04), {NONE, "BM25 ahead"}),  # 0.6617 - 0.6451 = +0.0166
        "ch08.cmp.mnrl_vs_untuned": ((0.02, 0.05), {"MNRL ahead", NONE}),  # 0.6799 - 0.6451 = +0.0348
        "ch08.cmp.mnrl_hard_vs_untuned": ((0.05, 0.08), "MNRL + hard negatives ahead"),  # +0.0651
        "ch08.cmp.mnrl_hard_vs_mnrl": ((0.015, 0.045), {"MNRL + hard negatives ahead", NONE}),  # +0.0303
        "ch08.cmp.simcse_vs_untuned": ((-0.09, -0.04), "untuned ahead"),  # 0.5801 - 0.6451 = -0.0650
        "ch08.cmp.tsdae_vs_untuned": ((-0.60, -0.40), "untuned ahead"),  # 0.1130 - 0.6451 = -0.5321
        "ch08.cmp.simcse_vs_mnrl": ((-0.13, -0.07), "MNRL ahead"),  # -0.0998
        "ch08.cmp.tsdae_vs_mnrl": ((-0.65, -0.45), "MNRL ahead"),  # -0.5669
        "ch08.cmp.stsb.tsdae_vs_untuned": ((-16.0, -10.0), "untuned ahead"),  # 68.85 - 82.03 = -13.18
        "ch08.cmp.stsb.tsdae_vs_mnrl": ((-16.0, -10.0), "MNRL ahead"),  # TSDAE's STS-B loss, against MNRL
        "ch08.cmp.stsb.mnrl_vs_untuned": ((-1.5, 1.5), ANY("MNRL", "untuned")),
        "ch08.cmp.tsdae_mnrl_vs_mnrl": ((-1.0, 1.0), ANY("TSDAE → MNRL", "MNRL alone")),  # not yet measured
        "ch08.cmp.augsbert_gold_vs_untuned": ((-1.0, 1.0), ANY("gold alone", "untuned")),  # not yet measured
        "ch08.cmp.augsbert_vs_untuned": ((-1.0, 1.0), ANY("gold + silver", "untuned")),  # not yet measured
        "ch08.cmp.augsbert_vs_gold": ((-1.0, 1.0), ANY("gold + silver", "gold alone")),  # not yet measured
        "ch08.cmp.teacher_vs_student_top1": ((-1.0, 1.0), ANY("teacher", "student")),
        "ch08.cmp.overlap.seen.mnrl_vs_untuned": ((-0.2, 0.3), ANY("MNRL", "untuned")),
        "ch08.cmp.overlap.new.mnrl_vs_untuned": ((-0.2, 0.3), ANY("MNRL", "untuned")),
        "ch08.cmp.overlap.seen_vs_new_gain": ((-0.3, 0.3), ANY("seen abstracts", "new abstracts")),
    },
}
FULL_ONLY = {"ch08.cmp.seeds.tsdae_mnrl_vs_mnrl"}  # three seeds: recorded in the full profile only


def test_comparisons_hold_band_interval_and_verdict(metrics):
    prof = profile(metrics, "ch08.cmp.mnrl_vs_untuned")
    assert set(CMP["full"]) >= set(CMP["smoke"])  # the smoke list is the full one, measured
    for key, (band, verdicts) in CMP[prof].items():
        e = entry(metrics, key)
        assert e["profile"] == prof, key
        low, high = e["ci95"]
        assert low <= e["value"] <= high, key
        assert band[0] < e["value"] < band[1], (key, e["value"])
        allowed = {verdicts} if isinstance(verdicts, str) else verdicts
        assert e["verdict"] in allowed, (key, e["verdict"])
        c = e["comparison"]  # the verdict follows from the interval, A − B
        assert e["verdict"] == (f"{c['a']} ahead" if low > 0 else f"{c['b']} ahead" if high < 0 else NONE), key
        assert c["n"] >= 2 and "resamples" in c["method"], key
    if prof == "full":  # the seed-to-seed comparison: a t interval over three per-seed differences
        e = entry(metrics, "ch08.cmp.seeds.tsdae_mnrl_vs_mnrl")
        assert e["comparison"]["n"] == 3 and "per-seed" in e["comparison"]["method"]
    else:
        assert all(k not in metrics or metrics[k]["profile"] != "smoke" for k in FULL_ONLY)


def test_compared_figures_carry_their_interval(metrics):
    keys = ["ch08.scifact.ndcg10.before", "ch08.scifact.ndcg10.bm25", "ch08.stsb_test.before",
            "ch08.teacher.top1_cross_encoder", "ch08.teacher.top1_bi_encoder", "ch08.teacher.top1_margin",
            "ch08.scifact.hard_minus_mnrl", "ch08.overlap.gain_seen", "ch08.overlap.gain_unseen",
            "ch08.scifact.ndcg10.tsdae_mnrl"]
    keys += [f"ch08.scifact.ndcg10.{v}" for v in VARIANTS]
    keys += [f"ch08.stsb_test.{v}" for v in ("mnrl", "tsdae")] + [f"ch08.stsb_test.change.{v}" for v in ("mnrl", "tsdae")]
    keys += [f"ch08.scifact.gain.{v}" for v in ("mnrl", "simcse", "tsdae", "augsbert")]
    for key in keys:
        e = entry(metrics, key)
        assert "ci95" in e, key
        assert e["ci95"][0] <= e["value"] <= e["ci95"][1], key
    # the figures and the comparisons are one measurement
    for v in ("mnrl", "tsdae"):
        assert value(metrics, f"ch08.stsb_test.change.{v}") == pytest.approx(
            value(metrics, f"ch08.cmp.stsb.{v}_vs_untuned"), abs=1e-9)
        assert value(metrics, f"ch08.cmp.stsb.{v}_vs_untuned") == pytest.approx(
            value(metrics, f"ch08.stsb_test.{v}") - value(metrics, "ch08.stsb_test.before"), abs=1e-9)
    for v in ("mnrl", "simcse", "tsdae", "augsbert"):
        assert value(metrics, f"ch08.scifact.gain.{v}") == pytest.approx(
            value(metrics, f"ch08.cmp.{v}_vs_untuned"), abs=1e-12)
    if profile(metrics, "ch08.tsdae_mnrl.seeds") == "smoke":  # one seed: the seed mean is that seed's score
        assert value(metrics, "ch08.cmp.tsdae_mnrl_vs_mnrl") == pytest.approx(
            value(metrics, "ch08.scifact.ndcg10.tsdae_mnrl") - value(metrics, "ch08.scifact.ndcg10.mnrl"), abs=1e-12)
    assert value(metrics, "ch08.scifact.test_claims") == 300  # all test claims, in both profiles
    assert value(metrics, "ch08.stsb_test.pairs") == 1379


# the decision table's computed words: each row reads one comparison, and the side its advice favours
DECISION_ROWS = {"mnrl": ("ch08.cmp.mnrl_vs_untuned", "MNRL"),
                 "hard": ("ch08.cmp.mnrl_hard_vs_mnrl", "MNRL + hard negatives"),
                 "tsdae": ("ch08.cmp.tsdae_vs_untuned", "untuned"),  # the advice: do not run it on a finished model
                 "simcse": ("ch08.cmp.simcse_vs_untuned", "untuned"),
                 "augsbert": ("ch08.cmp.augsbert_vs_gold", "gold + silver")}


def test_decision_words_follow_the_verdicts(metrics):
    for row, (key, advised) in DECISION_ROWS.items():
        e = entry(metrics, key)
        assert advised in (e["comparison"]["a"], e["comparison"]["b"]), (row, advised)
        expected = 0 if e["verdict"] == "no detectable difference" else (1 if e["verdict"] == f"{advised} ahead" else -1)
        assert value(metrics, f"ch08.decision.{row}") == expected, (row, e["verdict"])
    # the smoke build's words (2-core CPU): MNRL backs it, hard negatives not detected, a 16-step TSDAE runs
    # against the advice (it gained), SimCSE and AugSBERT not detected
    if profile(metrics, "ch08.decision.tsdae") == "smoke":
        assert [value(metrics, f"ch08.decision.{r}") for r in DECISION_ROWS] == [1, 0, -1, 0, 0]
    # the AugSBERT row says "not a test of it" when the teacher fails its check (1) or saw every silver claim's
    # judgements (2): smoke 1 (student ahead on the check); full 1 or 2 (the teacher trains on every train claim)
    blocked = value(metrics, "ch08.decision.augsbert_blocked")
    teacher = entry(metrics, "ch08.cmp.teacher_vs_student_top1")["verdict"]
    assert (blocked == 1) == (teacher != "teacher ahead")
    if profile(metrics, "ch08.decision.augsbert_blocked") == "smoke":
        assert blocked == 1
    else:
        assert blocked in (1, 2)
