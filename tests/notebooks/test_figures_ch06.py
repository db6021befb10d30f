"""Recorded figures of chapter 6 (fine-tuning with the library) held in bands (run after the notebook)."""

import pytest
from _figures import entry, profile, value

TUNED = ("cosine", "cosent", "angle", "mnrl", "mnrl_hard", "matryoshka")
TRANSFER_MODELS = ("shipped", *TUNED)
VERDICT_NONE = "no detectable difference"

# Every comparison the page records: (smoke band for A - B, smoke verdict, full verdict).
# smoke: measured on the 2-core CPU (2026-12-06); full: the verdict expected, NOT YET MEASURED (no full
# record of this chapter exists yet); None where no direction can be predicted before the full run.
COMPARISONS = {
    # section 2, each tuned model against the shipped one: smoke +0.996 [+0.665, +1.364], +0.259 [+0.040,
    # +0.486], +0.222 [+0.042, +0.391]; between the losses -0.737 [-1.082, -0.420], -0.775 [-1.122, -0.451]
    "ch06.cmp.stsb.cosine_vs_shipped": ((0.3, 2.5), "cosine-tuned ahead", "cosine-tuned ahead"),
    "ch06.cmp.stsb.cosent_vs_shipped": ((-0.5, 1.5), "CoSENT-tuned ahead", "CoSENT-tuned ahead"),
    "ch06.cmp.stsb.angle_vs_shipped": ((-0.5, 1.5), "AnglE-tuned ahead", "AnglE-tuned ahead"),
    "ch06.cmp.stsb.cosent_vs_cosine": ((-2.0, 0.5), "cosine-tuned ahead", None),
    "ch06.cmp.stsb.angle_vs_cosine": ((-2.0, 0.5), "cosine-tuned ahead", None),
    # section 4: -0.092 [-0.981, +0.833] and -65.09 [-70.62, -59.48]
    "ch06.cmp.cross_encoder_trainer_vs_loop": ((-6.0, 6.0), VERDICT_NONE, None),
    "ch06.cmp.cross_encoder_vs_bi_encoder": ((-75.0, -40.0), "bi-encoder ahead", "bi-encoder ahead"),
    # section 5: +0.005 [-0.101, +0.105], +0.050 [-0.004, +0.103], +0.045 [-0.052, +0.143]
    "ch06.cmp.stsb.mnrl_vs_shipped": ((-1.0, 1.0), VERDICT_NONE, None),
    "ch06.cmp.stsb.mnrl_hard_vs_shipped": ((-1.0, 1.0), VERDICT_NONE, None),
    "ch06.cmp.stsb.mnrl_hard_vs_mnrl": ((-1.0, 1.0), VERDICT_NONE, None),
    # section 6 (smoke trains the Matryoshka model 16 steps): at 384 dims +0.332 [+0.143, +0.531]; change
    # 384 -> 64 minus the shipped model's -0.263 [-0.405, -0.122], minus the control's (the same recipe
    # without MatryoshkaLoss) -0.057 [-0.139, +0.018]
    "ch06.cmp.stsb.matryoshka_vs_shipped": ((-0.5, 1.5), "Matryoshka ahead", "Matryoshka ahead"),
    "ch06.cmp.drop_64.matryoshka_vs_shipped": ((-1.5, 1.0), "shipped ahead", "Matryoshka ahead"),
    "ch06.cmp.drop_64.matryoshka_vs_control": ((-1.0, 1.0), VERDICT_NONE, "Matryoshka ahead"),
    # the other truncated sizes the loss trained, against the control: smoke -0.045
    # [-0.100, +0.007] at 256 and -0.045 [-0.107, +0.016] at 128
    "ch06.cmp.drop_256.matryoshka_vs_control": ((-1.0, 1.0), VERDICT_NONE, None),
    "ch06.cmp.drop_128.matryoshka_vs_control": ((-1.0, 1.0), VERDICT_NONE, None),
    # exercise: 384 -> 16, minus the shipped model's -0.791 [-1.070, -0.510], minus CoSENT's +0.003
    "ch06.cmp.drop_16.matryoshka_vs_shipped": ((-2.0, 1.0), "shipped ahead", None),
    "ch06.cmp.drop_16.matryoshka_vs_control": ((-1.0, 1.0), VERDICT_NONE, None),
    # every model keeps less at 16 dimensions than at 384 (smoke -10.0, -10.8, -10.8 points)
    **{f"ch06.cmp.dim16_vs_384.{v}": ((-20.0, -3.0), f"{label} at 384 dims ahead",
                                       f"{label} at 384 dims ahead")
       for v, label in (("shipped", "shipped"), ("control", "CoSENT, same recipe"),
                                      ("matryoshka", "Matryoshka"))},
    # section 7: SciFact on 50 queries (smoke |d| <= 0.006), CLINC150 NMI at 3 k-means seeds (|d| <= 0.02)
    **{f"ch06.cmp.transfer.scifact.{n}_vs_shipped": ((-0.05, 0.05), VERDICT_NONE, None) for n in TUNED},
    **{f"ch06.cmp.transfer.clinc_nmi.{n}_vs_shipped": ((-0.08, 0.08), VERDICT_NONE, None) for n in TUNED},
}


def _comparison(metrics, key):
    """A recorded comparison: its interval holds its value and its verdict follows from the interval."""
    e = entry(metrics, key)
    c = e["comparison"]
    low, high = e["ci95"]
    assert low <= e["value"] <= high, key
    expected = f"{c['a']} ahead" if low > 0 else f"{c['b']} ahead" if high < 0 else VERDICT_NONE
    assert e["verdict"] == expected, key
    return e


def test_every_comparison_in_its_band_with_its_verdict(metrics):
    for key, (band, smoke, full) in COMPARISONS.items():
        e = _comparison(metrics, key)
        if e["profile"] == "smoke":
            assert band[0] <= e["value"] <= band[1], (key, e["value"])
            assert e["verdict"] == smoke, (key, e["verdict"], e["ci95"])
        elif full is not None:  # expected, not yet measured: a failure here means update the expectation
            assert e["verdict"] == full, (key, e["verdict"], e["ci95"])


def test_compared_figures_carry_intervals(metrics):
    keys = ["ch06.stsb_dev.shipped"]
    keys += [f"ch06.stsb_test.{n}" for n in ("shipped", "cosine", "cosent", "angle", "mnrl",
                                              "mnrl_hard", "matryoshka", "cross_encoder_trainer",
                                              "cross_encoder_loop")]
    keys += [f"ch06.matryoshka.{d}.{v}" for d in (384, 256, 128, 64)
             for v in ("shipped", "control", "matryoshka")]
    keys += [f"ch06.matryoshka.drop_384_to_64.{v}" for v in ("shipped", "control", "matryoshka")]
    keys += [f"ch06.transfer.{t}.{n}" for t in ("scifact_ndcg10", "clinc_nmi") for n in TRANSFER_MODELS]
    for key in keys:
        e = entry(metrics, key)
        low, high = e["ci95"]
        assert low <= e["value"] <= high, key


def test_one_pair_demo_moves_towards_the_label_and_survives_reload(metrics):
    before = value(metrics, "ch06.fit_demo.before")
    default = value(metrics, "ch06.fit_demo.after_default_warmup")
    fixed = value(metrics, "ch06.fit_demo.after_fixed_warmup")
    assert abs(default - before) < 0.01  # fit's 10,000-step default warm-up barely moves a 10-step run
    assert abs(fixed - 0.9) < abs(before - 0.9) - 0.01  # a warm-up sized to the run moves it towards 0.9
    assert value(metrics, "ch06.fit_demo.reload_identical") is True
    assert value(metrics, "ch06.fit_demo.default_peak_lr_share") == pytest.approx(9 / 10_000)
    # one pair, batch 16: fit's schedule thinks the run has 0 steps, so after a 1-step warm-up the rate is 0
    assert value(metrics, "ch06.fit_demo.batch16_warmup1_all_zero") is True
    assert value(metrics, "ch06.fit_demo.batch16_warmup1_peak_lr_share") == 0.0  # the page's "exactly zero"
    # the mechanism: fit sizes the schedule as len(dataset) // batch_size = 0 steps; a 5-step warm-up
    # still moves on steps 1-4 (factors 0.2-0.8), batch 1 knows the run's 10 steps (steps 1-9 move)
    assert value(metrics, "ch06.fit_demo.schedule_steps_batch16") == 0
    assert value(metrics, "ch06.fit_demo.batch16_warmup5_moving_steps") == 4
    assert value(metrics, "ch06.fit_demo.batch1_warmup1_moving_steps") == 9


def test_shipped_model_and_dev_baseline(metrics):
    assert value(metrics, "ch06.stsb_test.shipped") == pytest.approx(82.03, abs=0.1)
    assert 80 < value(metrics, "ch06.stsb_dev.shipped") < 95


def test_stsb_tunes(metrics):
    shipped = value(metrics, "ch06.stsb_test.shipped")
    for name in ("cosine", "cosent", "angle", "matryoshka"):
        e = entry(metrics, f"ch06.stsb_test.{name}")
        if e["profile"] == "smoke":  # a few hundred pairs: fine-tuning must not damage the shipped model
            assert shipped - 1.0 <= e["value"] < shipped + 3.0, name
        else:  # all of STS-B train, four epochs (chapter 3's full recipe reached 85.77 with the loop)
            assert 84.0 <= e["value"] < 92, name


def test_trainer_and_loop_agree_step_by_step(metrics):
    # same batches, dropout off: the trainer (its own AdamW and schedule from the arguments) and chapter 3's
    # loop (training.make_optimizer) give the same loss at every step, to float rounding; the loss itself
    # varies between batches by far more (smoke: 8 steps on 128 pairs;
    # measured: largest gap 1.5e-8, the loss ranging over 0.039)
    gap = value(metrics, "ch06.trainer_vs_loop.max_step_loss_diff")
    assert gap < 1e-5 < value(metrics, "ch06.trainer_vs_loop.step_loss_range")
    if profile(metrics, "ch06.trainer_vs_loop.steps") == "smoke":
        assert value(metrics, "ch06.trainer_vs_loop.steps") == 8
        assert value(metrics, "ch06.trainer_vs_loop.n_pairs") == 128
        assert value(metrics, "ch06.trainer_vs_loop.warmup_steps") == 1  # ceil(0.8) = round(0.8) = 1
        # measured: largest norm 0.757, so the clipping at 1 never acted (the prose says so)
        assert 0.3 < value(metrics, "ch06.trainer_vs_loop.max_grad_norm") < 1.0
        assert value(metrics, "ch06.trainer_vs_loop.clipped_steps") == 0
    # what a few steps cannot show, compared directly: the two optimizers' parameter groups (weight decay,
    # tensors, values) are equal; the gradient norm before clipping and the count of steps it clipped are
    # recorded
    assert value(metrics, "ch06.trainer_vs_loop.param_groups_equal") is True
    steps = value(metrics, "ch06.trainer_vs_loop.steps")
    assert value(metrics, "ch06.trainer_vs_loop.max_grad_norm") > 0
    assert 0 <= value(metrics, "ch06.trainer_vs_loop.clipped_steps") <= steps
    # the trainer's best checkpoint is one of its evaluations, and the reloaded model is the trained one
    assert value(metrics, "ch06.trainer.best_step") % value(metrics, "ch06.trainer.eval_every") == 0
    assert value(metrics, "ch06.trainer.reload_identical") is True
    # end scores over seeds exist only where several seeds ran (the full profile; NOT YET MEASURED)
    if value(metrics, "ch06.seeds.per_recipe") > 1:
        _comparison(metrics, "ch06.cmp.trainer_vs_loop_seeds")
        _comparison(metrics, "ch06.cmp.drop_64_seeds.matryoshka_vs_control")


def test_cross_encoder_trainer(metrics):
    e = entry(metrics, "ch06.stsb_test.cross_encoder_trainer")
    loop = entry(metrics, "ch06.stsb_test.cross_encoder_loop")
    for f in (e, loop):
        assert f["ci95"][0] <= f["value"] <= f["ci95"][1]
    diff = _comparison(metrics, "ch06.cmp.cross_encoder_trainer_vs_loop")
    if e["profile"] == "smoke":
        # 192 pairs, one epoch, a random head: measured 17.9 (trainer) and 18.0 (loop) on a 2-core CPU;
        # the band catches a broken run (near 0 or NaN) and an accidental switch to chapter 3's larger slice
        assert 10 < e["value"] < 40 and 10 < loop["value"] < 40
        assert abs(diff["value"]) <= 6.0
    else:
        assert e["value"] > 80 and loop["value"] > 80
        assert abs(diff["value"]) <= 2.0


def test_contrastive_models(metrics):
    shipped = value(metrics, "ch06.stsb_test.shipped")
    for name in ("mnrl", "mnrl_hard"):
        assert shipped - 3.0 <= value(metrics, f"ch06.stsb_test.{name}") < shipped + 3.0, name


def test_cached_mnrl_same_gradients_less_memory(metrics):
    assert value(metrics, "ch06.cached_mnrl.max_grad_diff") < 1e-5
    assert value(metrics, "ch06.cached_mnrl.loss_diff") < 1e-5
    # memory autograd saves for backward: plain MNRL grows with the batch, the cached loss holds one
    # mini-batch's graph (smoke, measured: MNRL 99.6 / 231.6 / 472.6 MiB at 16 / 32 / 64 pairs, cached
    # 29.0 / 33.1 / 35.8 MiB; deterministic on one machine, so the bands are ratios, not values)
    small, big = value(metrics, "ch06.cached_mnrl.smallest_batch"), value(metrics, "ch06.cached_mnrl.largest_batch")
    assert value(metrics, "ch06.cached_mnrl.mini_batch") == 8
    mnrl = {n: value(metrics, f"ch06.cached_mnrl.saved_mib.mnrl.{n}") for n in (small, 32, big)}
    cached = {n: value(metrics, f"ch06.cached_mnrl.saved_mib.cached.{n}") for n in (small, 32, big)}
    assert mnrl[small] < mnrl[32] < mnrl[big]
    assert value(metrics, "ch06.cached_mnrl.mnrl_growth") > 0.7 * big / small  # about linear in the batch
    # one mini-batch's graph, whatever the batch: it grows only with the longest sentence a mini-batch holds
    # (the library trims each mini-batch's padding; smoke 1.24 from 16 to 64 pairs), far less than plain MNRL
    assert value(metrics, "ch06.cached_mnrl.cached_growth") < 2.0
    assert value(metrics, "ch06.cached_mnrl.cached_growth") < value(metrics, "ch06.cached_mnrl.mnrl_growth") / 2
    assert all(cached[n] < mnrl[n] for n in (32, big))
    assert value(metrics, "ch06.cached_mnrl.ratio_largest") > 5


def test_ir_evaluator_gives_the_pages_ndcg(metrics):
    # the library's InformationRetrievalEvaluator on the MNRL model, fed the page's cached document
    # embeddings, reproduces section 7's SciFact nDCG@10 (smoke: 0.873 on 50 queries)
    assert value(metrics, "ch06.ir_evaluator.gap_to_section7") < 1e-6
    assert value(metrics, "ch06.ir_evaluator.ndcg10_mnrl") == pytest.approx(
        value(metrics, "ch06.transfer.scifact_ndcg10.mnrl"), abs=1e-6)


def test_hard_negatives(metrics):
    # smoke: 249 mined triplets; SNLI labels none of their negatives as entailed by the anchor (only a negative
    # that is word for word one of the anchor's own other entailed hypotheses could be caught: rare, not
    # impossible, so the full profile gets a bound, not 0); 6 of 256 anchors keep a contradiction hypothesis in
    # that sample; the closest mined negative has cosine 0.953 with its positive (a paraphrase of it, named in
    # the prose)
    n = value(metrics, "ch06.mined.n_triplets")
    caught = value(metrics, "ch06.mined.false_negatives_labelled")
    if profile(metrics, "ch06.mined.n_triplets") == "smoke":
        assert caught == 0 < n
    else:  # not yet measured: a handful at most among the ~1,800 anchors
        assert 0 <= caught <= 0.01 * n and n > 0
    assert 0 < value(metrics, "ch06.mined.closest_negative_cos") <= 1
    assert 0 < value(metrics, "ch06.mined.natural_triplets") <= value(metrics, "ch06.mnrl.n_train")
    # mined negatives written for the anchor's own image (SNLI's caption_id; smoke: 0, no two of its 256
    # anchors share an image; full: not yet measured)
    if "ch06.mined.same_image" in metrics:
        same = value(metrics, "ch06.mined.same_image")
        assert 0 <= same <= n
        if profile(metrics, "ch06.mined.same_image") == "smoke":
            assert same == 0


def test_cross_encoder_guard_run(metrics):
    # the library's cross-encoder guard run on the anchors of the 3 closest mined negatives (smoke: the margin
    # dropped 2, one of those anchors with no candidate left; 1 passed the margin and lost the top place to
    # another candidate; the STS-B reader scores the entailed positives at most 0.27, so the margin is at most
    # 0.013 wide)
    caught = value(metrics, "ch06.mined.guard_caught_closest")
    assert 0 <= value(metrics, "ch06.mined.guard_none_left") <= caught <= 3
    assert 0 <= caught + value(metrics, "ch06.mined.guard_reranked_closest") <= 3
    assert 0 < value(metrics, "ch06.mined.guard_positive_max") <= 1
    assert value(metrics, "ch06.mined.guard_margin_max") == pytest.approx(
        0.05 * value(metrics, "ch06.mined.guard_positive_max"))


def test_matryoshka_truncation(metrics):
    for dim in (384, 256, 128, 64):
        for variant in ("shipped", "control", "matryoshka"):
            assert 50 < value(metrics, f"ch06.matryoshka.{dim}.{variant}") < 92, (dim, variant)
    assert value(metrics, "ch06.matryoshka.384.shipped") == pytest.approx(82.03, abs=0.1)
    # truncating the untuned model costs points; with the full recipe the Matryoshka model loses less
    # (smoke trains it on 256 pairs, 16 steps: too little to reorder the coordinates, so no direction there)
    shipped_drop = value(metrics, "ch06.matryoshka.drop_384_to_64.shipped")
    assert shipped_drop > 1.0
    mat_drop = entry(metrics, "ch06.matryoshka.drop_384_to_64.matryoshka")
    if mat_drop["profile"] == "full":
        assert mat_drop["value"] < shipped_drop
    else:
        assert -2.0 < mat_drop["value"] < shipped_drop + 2.0


def test_transfer_table(metrics):
    for name in TRANSFER_MODELS:
        assert 0.3 < value(metrics, f"ch06.transfer.scifact_ndcg10.{name}") <= 1.0, name
        assert 0.2 < value(metrics, f"ch06.transfer.clinc_nmi.{name}") <= 1.0, name
    sf = entry(metrics, "ch06.transfer.scifact_ndcg10.shipped")
    if sf["profile"] == "full":  # the whole SciFact test set: the course measured 0.6451 with the library
        assert sf["value"] == pytest.approx(0.645, abs=0.01)
    assert profile(metrics, "ch06.transfer.clinc_nmi.shipped") in ("smoke", "full")
    # each tuned model against the shipped one on three tasks; the page counts the detected changes
    assert value(metrics, "ch06.transfer.n_changes") == 3 * len(TUNED)
    detected = sum(entry(metrics, k)["detected"] for k in metrics
                   if k.startswith(("ch06.cmp.transfer.", "ch06.cmp.stsb.")) and k.endswith("_vs_shipped"))
    assert value(metrics, "ch06.transfer.n_detected") == detected


def test_what_the_page_says_about_training_sizes_and_noise(metrics):
    # the step counts the page pastes beside its non-detections (smoke: 256 pairs at batch 16 and 32,
    # 192 pairs at batch 16)
    if profile(metrics, "ch06.mnrl.steps") == "smoke":
        assert value(metrics, "ch06.bi_encoder.steps") == 16
        assert value(metrics, "ch06.bi_encoder.n_train") == 256
        assert value(metrics, "ch06.mnrl.steps") == 8 and value(metrics, "ch06.mnrl.batch_size") == 32
        assert value(metrics, "ch06.mnrl_hard.steps") == 8  # 249 mined triplets at batch 32
        assert value(metrics, "ch06.cross_encoder.steps") == 12
        assert value(metrics, "ch06.cross_encoder.n_train") == 192
        assert value(metrics, "ch06.transfer.n_kmeans_seeds") == 3
    assert value(metrics, "ch06.transfer.n_kmeans_seeds") >= 3  # the minimum
    # the hard-negative model trains on the mined triplets (at most one per pair), at MNRL's batch size and
    # for as many epochs
    n_mined, batch = value(metrics, "ch06.mined.n_triplets"), value(metrics, "ch06.mnrl.batch_size")
    n_pairs, mnrl_steps = value(metrics, "ch06.mnrl.n_train"), value(metrics, "ch06.mnrl.steps")
    epochs, rest = divmod(mnrl_steps, -(-n_pairs // batch))
    assert n_mined <= n_pairs and epochs >= 1 and rest == 0
    assert value(metrics, "ch06.mnrl_hard.steps") == -(-n_mined // batch) * epochs <= mnrl_steps
    # the Matryoshka count the exercise pastes matches the recorded verdicts
    keys = [f"ch06.cmp.drop_{d}.matryoshka_vs_control" for d in (256, 128, 64)]
    ahead = sum(entry(metrics, k)["verdict"] == "Matryoshka ahead" for k in keys)
    assert value(metrics, "ch06.matryoshka.trained_sizes_ahead_of_control") == ahead
    assert value(metrics, "ch06.matryoshka.trained_sizes_compared") == 3
    # the warm-up exercise: peak about a fiftieth, mean about a hundredth
    assert value(metrics, "ch06.ex_warmup.peak_factor") == pytest.approx(0.0199, abs=1e-4)
    assert value(metrics, "ch06.ex_warmup.mean_factor") == pytest.approx(0.00995, abs=1e-4)
