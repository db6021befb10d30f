"""sbert_lessons.training: recipes, cache keys and the tiny end-to-end path (chapter 3).

No real training here: a few steps on a handful of pairs, to check the plumbing and the cache.
"""

import numpy as np
import pandas as pd
import pytest

from sbert_lessons import training
from sbert_lessons.profile import setup

TINY = pd.DataFrame({
    "sentence1": ["A man plays a guitar.", "A cat sleeps.", "Kids run in a park.", "It is raining."],
    "sentence2": ["A man is playing guitar.", "A dog barks.", "Children are running.", "The sun shines."],
    "score": [4.8, 0.6, 4.0, 0.4],
})
TINY_RECIPE = training.Recipe(epochs=1, batch_size=2, lr=5e-5, n_train=4, max_length=16)


def test_recipe_validation():
    with pytest.raises(ValueError, match="batch_size"):
        training.Recipe(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        training.Recipe(lr=0)
    with pytest.raises(ValueError, match="warmup_fraction"):
        training.Recipe(warmup_fraction=1.5)
    with pytest.raises(ValueError, match="n_train"):
        training.Recipe(n_train=1)
    with pytest.raises(ValueError, match="epochs"):
        training.Recipe(epochs=0)
    with pytest.raises(ValueError, match="head_lr"):
        training.Recipe(head_lr=2.0)
    # 100 examples, batch 16 -> 7 steps per epoch, 2 epochs -> 14 steps, 10 % -> 1
    assert training.Recipe(epochs=2, warmup_fraction=0.1).warmup_steps(100) == 1
    assert training.Recipe(epochs=4, warmup_fraction=0.1).warmup_steps(5_749) == 144


def test_recipe_for_profiles():
    smoke, full = training.recipe_for("cross_encoder", "smoke"), training.recipe_for("cross_encoder", "full")
    assert full.n_train is None  # the whole split
    assert smoke.epochs <= full.epochs and smoke != full
    assert 0 < smoke.warmup_fraction < 1 and smoke.head_lr is not None
    assert training.recipe_for("bi_encoder", "full").epochs >= 1
    with pytest.raises(ValueError, match="unknown model kind"):
        training.recipe_for("poly_encoder", "smoke")
    with pytest.raises(TypeError):
        training.recipe_for("bi_encoder", 3)


def test_training_pairs_scale_scores():
    s1, s2, y = training.stsb_training_pairs(TINY)
    assert y == pytest.approx([0.96, 0.12, 0.8, 0.08])
    assert s1[0] == "A man plays a guitar." and len(s2) == 4
    assert len(training.stsb_training_pairs(TINY, 2)[2]) == 2
    with pytest.raises(ValueError, match="only 4"):
        training.stsb_training_pairs(TINY, 10)
    with pytest.raises(ValueError, match="column"):
        training.stsb_training_pairs(TINY.drop(columns="score"))
    bad = TINY.assign(score=[4.8, 0.6, 4.0, 7.0])
    with pytest.raises(ValueError, match=r"\[0, 5"):
        training.stsb_training_pairs(bad)


def test_training_key_changes_with_each_part():
    s1, s2, y = training.stsb_training_pairs(TINY)
    base = training.training_key("cross_encoder", "smoke", TINY_RECIPE, s1, s2, y)
    assert base["base_sha256"] and base["profile"] == "smoke"
    variants = [
        training.training_key("cross_encoder", "full", TINY_RECIPE, s1, s2, y),
        training.training_key("cross_encoder", "smoke", training.with_overrides(TINY_RECIPE, lr=1e-4), s1, s2, y),
        training.training_key("cross_encoder", "smoke", TINY_RECIPE, s1, s2, [0.5] + y[1:]),
        training.training_key("cross_encoder", "smoke", TINY_RECIPE, s2, s1, y),
        training.training_key("bi_encoder", "smoke", TINY_RECIPE, s1, s2, y),
    ]
    for v in variants:
        assert v != base


def test_cross_encoder_trains_once_then_loads_from_cache():
    P = setup("smoke", device="cpu")
    folder = training.train_cross_encoder(P, recipe=TINY_RECIPE, train_df=TINY)
    assert training.last_training_seconds("cross_encoder") is not None
    assert (folder / "sbert_lessons_key.json").is_file()
    again = training.train_cross_encoder(P, recipe=TINY_RECIPE, train_df=TINY)
    assert again == folder
    assert training.last_training_seconds("cross_encoder") is None  # loaded, not retrained
    ce = training.load_cross_encoder(P, recipe=TINY_RECIPE, train_df=TINY)
    scores = np.asarray(ce.predict([("A man plays a guitar.", "A man is playing guitar.")]))
    assert scores.shape == (1,) and np.isfinite(scores).all() and 0 <= scores[0] <= 1


def test_bi_encoder_step_shares_one_module_and_moves_weights():
    import torch

    from sbert_lessons import models

    setup("smoke", device="cpu")
    model = models.load_sentence_model(models.MINILM, device="cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    s1, s2, y = training.stsb_training_pairs(TINY)
    losses = training.fit_bi_encoder(model, s1, s2, y, training.with_overrides(TINY_RECIPE, batch_size=4))
    assert len(losses) == 1 and np.isfinite(losses[0])
    moved = sum(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert moved > 0
    # one module: the parameter count is that of one encoder, not two
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in before.values())
