"""Recorded figures of chapters 1 and 2 held in bands (run after the notebooks executed).

Comparisons (``chNN.cmp.*``, issue 21) are held three ways: the difference in its band, its 95 % interval
recorded and holding the difference, and its verdict per profile. Smoke verdicts are the ones observed in
the smoke build. Full verdicts are those of the committed full record (records/full/metrics.json, first
full run on the 2-core CPU, 2026-12-06; marked "measured"), held by the ``[full_record]`` pass of each test.
"""

import pytest
from _figures import entry, profile, value


def interval(metrics, key):
    """The figure's recorded 95 % interval, checked to hold the figure."""
    e = entry(metrics, key)
    assert "ci95" in e, f"{key} was recorded without its 95 % interval"
    low, high = e["ci95"]
    assert low <= e["value"] <= high, f"{key}: {e['value']} outside its interval [{low}, {high}]"
    return low, high


def comparison(metrics, key, *, smoke, full, band=None):
    """Hold a recorded comparison: interval present and holding the difference, the verdict of its profile,
    and (optionally) the difference inside ``band[profile]``."""
    e = entry(metrics, key)
    interval(metrics, key)
    expected = smoke if e["profile"] == "smoke" else full
    allowed = expected if isinstance(expected, (set, frozenset)) else {expected}
    assert e["verdict"] in allowed, f"{key} ({e['profile']}): verdict {e['verdict']!r}, expected {expected!r}"
    assert e["detected"] == (e["verdict"] != "no detectable difference")
    if band is not None and e["profile"] in band:
        low, high = band[e["profile"]]
        assert low <= e["value"] <= high, f"{key} ({e['profile']}): {e['value']} outside [{low}, {high}]"
    return e


NONE = "no detectable difference"


# ------------------------------------------------------------------------------------ chapter 1
def test_glove_analogy_accuracy(metrics):
    # GloVe 6B-50d with 3CosAdd: ~50% of covered questions on the 30k most frequent words (smoke),
    # ~46% over all 400k words (full). Far from 0 and far from perfect.
    acc = value(metrics, "ch01.analogy.glove_acc")
    assert (44 <= acc <= 56) if profile(metrics, "ch01.analogy.glove_acc") == "smoke" else (40 <= acc <= 55)
    low, high = interval(metrics, "ch01.analogy.glove_acc")
    # ~15,000 covered questions but ~500 answer word pairs, redrawn as clusters (smoke: [46.4, 53.0]; redrawing
    # single questions gave [48.9, 50.5], too narrow)
    assert 3 < high - low < 10


def test_capitals_vs_opposites(metrics):
    # smoke, answer word pairs redrawn: 79.6% [67.8, 89.1] (23 pairs) vs 11.8% [6.6, 17.4] (20 pairs),
    # +67.8 [+54.2, +78.5]; redrawing single questions gave [76.1, 83.2] and [+62.9, +72.5], too narrow
    low, high = interval(metrics, "ch01.analogy.capital_common_acc")
    assert high - low > 12  # a cluster interval, not the question-level one
    for key in ("ch01.analogy.capital_common_acc", "ch01.analogy.opposite_acc"):
        interval(metrics, key)
    # full (records/full, CPU 2026-12-06): +69.8 [+57.2, +79.9]
    comparison(metrics, "ch01.cmp.capitals_vs_opposites", smoke="capitals ahead",
               full="capitals ahead",  # measured
               band={"smoke": (60, 75), "full": (40, 85)})


def test_glove_word_similarity(metrics):
    ws, sl = value(metrics, "ch01.wordsim353.glove"), value(metrics, "ch01.simlex999.glove")
    assert ws == pytest.approx(50.33, abs=0.5)   # deterministic: fixed vectors, fixed file
    assert sl == pytest.approx(26.46, abs=0.5)
    assert interval(metrics, "ch01.wordsim353.glove") == pytest.approx((41.1, 59.3), abs=1.0)  # 353 pairs
    assert interval(metrics, "ch01.simlex999.glove") == pytest.approx((20.4, 32.2), abs=1.0)   # 999 pairs
    # two different files: an unpaired bootstrap; the same vectors and files in both profiles
    comparison(metrics, "ch01.cmp.wordsim_vs_simlex", smoke="WordSim-353 ahead", full="WordSim-353 ahead",
               band={"smoke": (23.4, 24.4), "full": (23.4, 24.4)})


def test_word2vec_against_glove_on_shared_items(metrics):
    w2v_acc, w2v_ws = value(metrics, "ch01.analogy.w2v_acc"), value(metrics, "ch01.wordsim353.w2v")
    assert 0 <= w2v_acc < value(metrics, "ch01.analogy.glove_acc")
    assert 0 < w2v_ws < 100
    interval(metrics, "ch01.analogy.w2v_acc")
    interval(metrics, "ch01.wordsim353.w2v")
    smoke = profile(metrics, "ch01.analogy.shared_questions") == "smoke"
    n_questions = value(metrics, "ch01.analogy.shared_questions")
    n_pairs = value(metrics, "ch01.wordsim353.shared_pairs")
    # smoke (the 10,000-sentence slice of the corpus without STS-B's evaluation sentences): 1,243 questions
    # and 110 WordSim-353 pairs
    assert (n_questions == 1243 and n_pairs == 110) if smoke else (n_questions > 1243 and n_pairs > 110)
    # smoke: +57.5 [+50.0, +64.9] points on 1,243 questions
    # full (records/full, CPU 2026-12-06): +49.9 [+45.2, +54.6] on 4,978 questions
    comparison(metrics, "ch01.cmp.glove_vs_w2v_analogy", smoke="GloVe ahead",
               full="GloVe ahead",  # measured
               band={"smoke": (45, 60), "full": (10, 70)})
    # smoke: +17.8 [-5.3, +42.2] on 110 pairs. The verdict hangs on the slice: the slice that still held
    # STS-B's evaluation sentences gave +15.0 [-5.5, +34.6] on 115 pairs, and one cut by a looser key
    # +24.1 [+0.7, +47.1] on 94 pairs (GloVe ahead); the page says the slice and seed are not in the interval
    # full (records/full, CPU 2026-12-06; all 83,320 sentences): +26.0 [+12.1, +39.6] on 236 pairs, GloVe
    # ahead (the guess before the first full run was "no detectable difference")
    comparison(metrics, "ch01.cmp.glove_vs_w2v_wordsim", smoke=NONE,
               full="GloVe ahead",  # measured
               band={"smoke": (12, 24), "full": (-30, 40)})


def test_corpus_size_and_word2vec_vocabulary(metrics):
    # the page says which corpus it read: 10,000 sentences in smoke, all 83,320 in full (the 88,726 of the
    # corpus file less its 5,406 lines that are STS-B validation and test sentences)
    n = value(metrics, "ch01.corpus.sentences")
    assert n == (10_000 if profile(metrics, "ch01.corpus.sentences") == "smoke" else 83_320)
    vocab = value(metrics, "ch01.w2v.vocabulary")  # measured in smoke: 3,073 words (min_count 3)
    assert 1_000 <= vocab <= 60_000


def test_3cosmul_against_3cosadd_on_family(metrics):
    # exercise ex01-3cosmul; smoke (30,000 words searched): 75.7% both on 342 questions, 12 answered
    # differently, 0.0 [-2.3, +2.6] (19 answer word pairs redrawn); an earlier full build (all 400,000 words) measured 63.2% against 69.0%
    # of 506 questions, -5.7 points, before the comparison was recorded
    assert value(metrics, "ch01.family.questions") == (342 if profile(metrics, "ch01.family.questions") == "smoke"
                                                        else 506)
    for key in ("ch01.family.cosadd_acc", "ch01.family.cosmul_acc"):
        interval(metrics, key)
    # full (records/full, CPU 2026-12-06; 400,000 words searched): -5.7 [-10.5, -1.8] on 506 questions
    comparison(metrics, "ch01.cmp.cosmul_vs_cosadd_family", smoke=NONE,
               full="3CosAdd ahead",  # measured
               band={"smoke": (-0.5, 0.5), "full": (-8.0, -3.0)})
    # capital-common-countries, 23 answer word pairs; smoke: -7.5 [-10.5, -4.9]. The page asserts (and says)
    # that 3CosMul is ahead on neither section: Levy & Goldberg's gain does not reproduce on GloVe-50d here
    # full (records/full, CPU 2026-12-06; 400,000 candidates): -8.3 [-11.9, -5.3]
    comparison(metrics, "ch01.cmp.cosmul_vs_cosadd_capitals", smoke="3CosAdd ahead",
               full="3CosAdd ahead",  # measured
               band={"smoke": (-9.0, -6.0), "full": (-20.0, 5.0)})


def test_epochs(metrics):
    # exercise ex01-epochs, first seed's models, bootstrap over the known WordSim-353 pairs (smoke: 110)
    # smoke: 15.9 [-5.1, 35.7], 19.3 [-0.1, 36.6], 35.0 [15.9, 52.0]
    for e in (1, 5, 20):
        interval(metrics, f"ch01.epochs.wordsim353_{e}")
    pairs = value(metrics, "ch01.epochs.pairs")
    assert pairs == 110 if profile(metrics, "ch01.epochs.pairs") == "smoke" else 110 < pairs <= 353
    # smoke: +3.4 [-26.4, +33.9] and +15.7 [-0.7, +31.8] (with the slice that still held STS-B's
    # evaluation sentences, 115 pairs: +7.5 [-19.1, +35.1] and +19.5 [+4.6, +33.9], 20 epochs ahead)
    # full (records/full, CPU 2026-12-06; 236 pairs): +8.5 [-2.0, +19.7], no detectable difference (the
    # guess before the first full run was "5 epochs ahead"), and +20.6 [+9.5, +31.5], 20 epochs ahead
    comparison(metrics, "ch01.cmp.epochs_5_vs_1", smoke=NONE,
               full=NONE,  # measured
               band={"smoke": (1, 6), "full": (-10, 40)})
    comparison(metrics, "ch01.cmp.epochs_20_vs_5", smoke=NONE,
               full="20 epochs ahead",  # measured (the guess was "no detectable difference")
               band={"smoke": (13, 18), "full": (-10, 30)})
    if profile(metrics, "ch01.cmp.epochs_20_vs_5") == "full":  # three training seeds only in full
        # full (records/full, CPU 2026-12-06): +18.3 [+12.6, +24.1] over 3 seeds
        comparison(metrics, "ch01.cmp.epochs_20_vs_5_seeds", smoke=None, full="20 epochs ahead")  # measured


# ------------------------------------------------------------------------------------ chapter 2
def test_order_blindness_is_exact(metrics):
    assert value(metrics, "ch02.order.glove_cosine") == pytest.approx(1.0, abs=1e-6)
    assert value(metrics, "ch02.order.minilm_cosine") < 1.0 - 1e-3


def test_minilm_matches_published(metrics):
    assert value(metrics, "ch02.stsb_test.minilm_l6") == pytest.approx(82.03, abs=0.1)
    assert interval(metrics, "ch02.stsb_test.minilm_l6") == pytest.approx((79.8, 84.2), abs=0.5)


def test_averaged_glove_band_and_improvements(metrics):
    # the STS-B test split is whole in both profiles; only SIF's p(w) depends on the profile (corpus slice)
    avg = value(metrics, "ch02.stsb_test.avg_glove")
    # the page no longer reads SIF against the paper's 58.02 (another setup); it says whether 58.02 lies in
    # SIF's interval (smoke: 60.07 [56.24, 63.74], inside)
    assert 30 <= avg <= 50
    for key in ("avg_glove", "avg_glove_nostop", "sif_glove"):
        interval(metrics, f"ch02.stsb_test.{key}")
    # smoke: no stop words +18.3 [+14.0, +22.5], SIF weights +17.9 [+14.6, +21.3], SIF +21.8 [+17.6, +26.2]
    comparison(metrics, "ch02.cmp.nostop_vs_avg.all", smoke="no stop words ahead", full="no stop words ahead",
               band={"smoke": (17.5, 19.0), "full": (17.5, 19.0)})  # no SIF in it: the same in both profiles
    comparison(metrics, "ch02.cmp.sif_weights_vs_avg.all", smoke="SIF weights ahead",
               full="SIF weights ahead", band={"smoke": (15, 21), "full": (10, 25)})  # full: measured +18.0
    comparison(metrics, "ch02.cmp.sif_vs_avg.all", smoke="SIF ahead", full="SIF ahead",
               band={"smoke": (19, 25), "full": (12, 28)})  # full: measured +21.9 [+17.6, +26.2]


# per genre (smoke, n = 500 news, 625 captions, 254 forums): every step ahead except SIF in news,
# +4.5 [-0.8, +9.9]; full (p(w) from the whole corpus) measured the same verdicts: SIF in news +4.3
# [-1.1, +9.5]
GENRE_VERDICTS = {
    ("nostop", "news"): "no stop words ahead", ("nostop", "captions"): "no stop words ahead",
    ("nostop", "forums"): "no stop words ahead",
    ("sif_weights", "news"): "SIF weights ahead", ("sif_weights", "captions"): "SIF weights ahead",
    ("sif_weights", "forums"): "SIF weights ahead",
    ("sif", "news"): NONE, ("sif", "captions"): "SIF ahead", ("sif", "forums"): "SIF ahead",
}


def test_multiple_comparisons_of_the_steps(metrics):
    # 12 step comparisons read (3 steps x all + 3 genres); held to 1 - 0.05/12 (Bonferroni), smoke loses two:
    # no stop words in news +5.07 [-1.10, +11.46] and in forums +13.39 [-3.84, +30.38]
    assert value(metrics, "ch02.steps.comparisons_read") == 12
    lost = value(metrics, "ch02.steps.bonferroni_lost")
    assert lost == 2 if profile(metrics, "ch02.steps.bonferroni_lost") == "smoke" else 0 <= lost <= 12


def test_sif_weights_at_large_a(metrics):
    # the page: at a = 1e-2 the weights are flatter (smoke: the 0.20, guitar 0.96)
    assert 0.1 < value(metrics, "ch02.sif.weight_the_1e2") < value(metrics, "ch02.sif.weight_guitar_1e2") <= 1


@pytest.mark.parametrize(("step", "where"), sorted(GENRE_VERDICTS))
def test_steps_against_plain_average_per_genre(metrics, step, where):
    verdict = GENRE_VERDICTS[(step, where)]
    # the no-stop-words rows use no corpus statistic: the same verdict in both profiles; the SIF rows use p(w)
    # from the profile's corpus: full measured to read as smoke
    comparison(metrics, f"ch02.cmp.{step}_vs_avg.{where}", smoke=verdict, full=verdict, band={"smoke": (-1, 30)})


def test_untuned_stand_ins_stay_below_trained_minilm(metrics):
    trained = value(metrics, "ch02.stsb_test.minilm_l6")
    for key in ("random_init_mean", "static_token_avg", "minilm_cls"):
        v = value(metrics, f"ch02.stsb_test.{key}")
        assert 0 < v < trained - 3, key
        interval(metrics, f"ch02.stsb_test.{key}")
    # the measured values on a CPU: random weights ~44, static token average ~51, CLS ~73.5
    assert value(metrics, "ch02.stsb_test.static_token_avg") == pytest.approx(50.89, abs=1.0)
    assert value(metrics, "ch02.stsb_test.minilm_cls") == pytest.approx(73.50, abs=1.0)
    assert 25 <= value(metrics, "ch02.stsb_test.random_init_mean") <= 60
    # no corpus in any of these: the same verdicts in both profiles (smoke values below)
    comparison(metrics, "ch02.cmp.random_vs_avg", smoke="random weights ahead", full="random weights ahead",
               band={"smoke": (2, 10), "full": (2, 10)})   # +5.9 [+2.0, +9.9]
    for key, band in (("random", (-45, -30)), ("static", (-36, -26)), ("cls", (-10, -7))):
        e = comparison(metrics, f"ch02.cmp.{key}_vs_minilm", smoke="trained MiniLM ahead",
                       full="trained MiniLM ahead", band={"smoke": band, "full": band})
        assert e["ci95"][1] < -5, key  # the page: every interval lies more than 5 points below zero
    comparison(metrics, "ch02.cmp.minilm_vs_sif", smoke="MiniLM ahead", full="MiniLM ahead",
               band={"smoke": (19, 25), "full": (15, 30)})  # +22.0 [+18.9, +25.1]


def test_share_of_high_cosines(metrics):
    glove_low, _ = interval(metrics, "ch02.share_above_08.glove_avg")      # 98.3 [97.6, 99.0]
    _, minilm_high = interval(metrics, "ch02.share_above_08.minilm_l6")    # 27.6 [25.2, 29.9]
    assert glove_low > 50 > minilm_high


def test_sif_exercises(metrics):
    # ex02-sif-a; smoke: gain of the removal at 1e-2 minus at 1e-4 +5.1 [+3.1, +7.3]; combined score
    # 1e-3 vs 1e-2 +4.7 [+3.0, +6.5], 1e-3 vs 1e-4 -0.3 [-1.7, +1.3]; full measured: +5.4 [+3.3, +7.5],
    # +4.8 [+3.0, +6.5], -0.0 [-1.5, +1.6]; ex02-fit-on +0.34 [-0.08, +0.76]
    comparison(metrics, "ch02.cmp.removal_gain_1e2_vs_1e4", smoke="a = 1e-2 ahead", full="a = 1e-2 ahead",
               band={"smoke": (4, 6.5)})
    comparison(metrics, "ch02.cmp.sif_1e3_vs_1e2", smoke="a = 1e-3 ahead", full="a = 1e-3 ahead",
               band={"smoke": (3.5, 6)})
    comparison(metrics, "ch02.cmp.sif_1e3_vs_1e4", smoke=NONE, full=NONE, band={"smoke": (-1, 0.5)})
    # ex02-fit-on; smoke: +0.31 [-0.09, +0.72]; the page: the whole interval within one point of zero
    e = comparison(metrics, "ch02.cmp.corpus_fit_vs_test_fit", smoke=NONE, full=NONE,  # full: measured
                   band={"smoke": (0, 0.6)})
    assert -1 < e["ci95"][0] and e["ci95"][1] < 1
    assert value(metrics, "ch02.sif.pc_cosine") > 0.95
    # the STS-B test sentences inside the corpus that p(w) is counted on: none, in either profile (the loader
    # leaves the 5,406 lines that are STS-B validation and test sentences out of the 88,726 in the file)
    assert value(metrics, "ch02.corpus.stsb_test_overlap") == 0
    assert value(metrics, "ch02.corpus.held_out_removed") == 5406
    assert value(metrics, "ch02.corpus.sentences_full") == 83320
