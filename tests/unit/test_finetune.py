"""sbert_lessons.finetune (chapter 6) and the shared recipe helpers of sbert_lessons.training.

Mostly plumbing and validation; one tiny trainer run (4 pairs, 2 steps) checks the cached path end to end.
"""

import math

import numpy as np
import pytest
import torch

from sbert_lessons import encoders, finetune, training
from sbert_lessons.profile import setup

CH3_FIELDS = {"epochs", "batch_size", "lr", "warmup_fraction", "max_length", "n_train", "weight_decay", "seed",
              "head_lr"}


# ------------------------------------------------------------------------------------ the recipe type
def test_recipe_rejects_wrong_types_with_type_error():
    with pytest.raises(TypeError, match="epochs"):
        training.Recipe(epochs=True)
    with pytest.raises(TypeError, match="batch_size"):
        training.Recipe(batch_size=16.0)
    with pytest.raises(TypeError, match="lr"):
        training.Recipe(lr="2e-5")
    with pytest.raises(TypeError, match="options"):
        training.Recipe(options=[1, 2])
    with pytest.raises(TypeError, match="data"):
        training.Recipe(data=3)


def test_recipe_rejects_bad_values_with_value_error():
    with pytest.raises(ValueError, match="unknown loss"):
        training.Recipe(loss="hinge")
    with pytest.raises(ValueError, match="optimizer"):
        training.Recipe(optimizer="sgd")
    with pytest.raises(ValueError, match="schedule"):
        training.Recipe(schedule="cosine")
    with pytest.raises(ValueError, match="mini_batch_size"):
        training.Recipe(batch_size=8, mini_batch_size=16)
    with pytest.raises(ValueError, match="max_grad_norm"):
        training.Recipe(max_grad_norm=0)
    with pytest.raises(ValueError, match="weight_decay"):
        training.Recipe(weight_decay=-0.1)


def test_recipe_options_and_key_fields():
    r = training.Recipe(options={"dims": [384, 64], "inner": "cosent"})
    assert r.option("dims") == (384, 64) and r.option("inner") == "cosent" and r.option("nope", 5) == 5
    # chapter 3's recipes keep exactly their old key (so their cached models are still found)
    for kind in ("cross_encoder", "bi_encoder"):
        for prof in ("smoke", "full"):
            assert set(training.recipe_for(kind, prof).key_fields()) == CH3_FIELDS
    keyed = training.Recipe(loss="cosent", eval_every=5).key_fields()
    assert keyed["loss"] == "cosent" and keyed["eval_every"] == 5 and "optimizer" not in keyed
    assert training.Recipe(epochs=2).total_steps(33) == 6
    with pytest.raises(ValueError, match="n_examples"):
        training.Recipe().total_steps(0)


def test_warmup_factor_equals_transformers_and_chapter_5():
    from transformers import get_linear_schedule_with_warmup

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = get_linear_schedule_with_warmup(opt, 3, 10)
    for step in range(10):
        assert training.warmup_factor(step, 10, 3) == pytest.approx(sched.get_last_lr()[0], abs=1e-12)
        opt.step()
        sched.step()
    for step in range(12):
        assert training.warmup_factor(step, 12, 4, "linear_shifted") == encoders.warmup_linear(step, 12, 4)
    assert training.warmup_factor(0, 5, 0) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        training.warmup_factor(0, 5, 1, "cosine")
    with pytest.raises(ValueError, match="total"):
        training.warmup_factor(0, 0, 1)
    with pytest.raises(TypeError, match="step"):
        training.warmup_factor(1.5, 5, 1)


def test_make_optimizer_groups_and_kinds():
    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    module.add_module("classifier", torch.nn.Linear(3, 1))
    rec = training.Recipe(lr=1e-3, head_lr=1e-2, weight_decay=0.1, batch_size=4, epochs=2)
    opt, sched = training.make_optimizer(module, rec, 10, head_prefix="classifier")
    assert isinstance(opt, torch.optim.AdamW)
    lrs = {(g["initial_lr"], g["weight_decay"]) for g in opt.param_groups}  # "lr" is 0 at step 0
    assert (1e-2, 0.1) in lrs and (1e-3, 0.0) in lrs and (1e-3, 0.1) in lrs
    assert sched.get_last_lr()[0] == 0.0  # transformers' linear warm-up starts at 0
    adam, shifted = training.make_optimizer(list(module.parameters()),
                                            training.with_overrides(rec, optimizer="adam",
                                                                    schedule="linear_shifted"), 10)
    assert type(adam) is torch.optim.Adam and shifted.get_last_lr()[0] > 0
    with pytest.raises(ValueError, match="no trainable"):
        training.make_optimizer([], rec, 10)
    with pytest.raises(TypeError, match="Recipe"):
        training.make_optimizer(module, {"lr": 1e-3}, 10)


def test_optimizer_step_clips_and_resets():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    value = training.optimizer_step((p * 100).sum(), [p], opt, sched, max_grad_norm=1.0)
    assert value == 0.0 and p.item() == pytest.approx(-1.0) and p.grad is None
    training.optimizer_step((p * 100).sum(), [p], opt, sched, max_grad_norm=None)
    assert p.item() == pytest.approx(-101.0)
    norms: list = []  # the norm before clipping, whether or not the step clips
    training.optimizer_step((p * 3).sum(), [p], opt, sched, max_grad_norm=1.0, norms=norms)
    training.optimizer_step((p * 0.5).sum(), [p], opt, sched, max_grad_norm=None, norms=norms)
    assert norms == pytest.approx([3.0, 0.5]) and p.item() == pytest.approx(-102.5)
    with pytest.raises(TypeError, match="norms"):
        training.optimizer_step((p * 1).sum(), [p], opt, sched, norms=())


def test_load_matryoshka_is_the_pages_model(monkeypatch):
    calls = []
    monkeypatch.setattr(finetune, "load_bi_encoder", lambda *a, **k: calls.append((a, k)) or ("model", [], 0))
    assert finetune.load_matryoshka("smoke") == "model"
    assert calls == [(("matryoshka", "smoke"), {"device": None, "with_dev": False})]


def test_chapter5_recipes_are_recipes_with_the_old_dict_view():
    for name, rec in encoders.GLOVE_RECIPES.items():
        assert isinstance(rec, training.Recipe) and rec.optimizer == "adam" and rec.schedule == "linear_shifted"
        d = encoders.recipe(name, "full")
        assert encoders.as_recipe(d) == training.with_overrides(rec, seed=0)
        assert {"objective", "epochs", "batch_size", "lr", "warmup", "eval_every", "arch"} <= set(d)
    with pytest.raises(ValueError, match="objective"):
        encoders.as_recipe(dict(encoders.recipe("nli_mnrl", "smoke"), objective="hinge"))
    with pytest.raises(ValueError, match="no epochs"):
        encoders.as_recipe({"objective": "mnrl", "batch_size": 4, "lr": 1e-3, "warmup": 0.1})
    with pytest.raises(TypeError, match="dict"):
        encoders.as_recipe(["mnrl"])
    with pytest.raises(TypeError, match="epochs"):
        encoders.as_recipe(dict(encoders.recipe("nli_mnrl", "smoke"), epochs=True))


# ------------------------------------------------------------------------------------------- datasets
def test_pairs_dataset_builds_and_validates():
    ds = finetune.pairs_dataset({"sentence1": ["a", "b"], "sentence2": ["c", "d"]}, [0.2, 1.0], loss="cosine")
    assert ds.column_names == ["sentence1", "sentence2", "label"] and ds[1]["label"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        finetune.pairs_dataset({"a": [], "b": []})
    with pytest.raises(ValueError, match="different lengths"):
        finetune.pairs_dataset({"a": ["x", "y"], "b": ["z"]})
    with pytest.raises(ValueError, match="different lengths"):
        finetune.pairs_dataset({"a": ["x", "y"], "b": ["z", "w"]}, [0.5])
    with pytest.raises(ValueError, match="outside"):
        finetune.pairs_dataset({"a": ["x"], "b": ["y"]}, [4.2], loss="cosine")
    with pytest.raises(ValueError, match="outside"):
        finetune.pairs_dataset({"a": ["x"], "b": ["y"]}, [-0.1], loss="bce")
    assert len(finetune.pairs_dataset({"a": ["x"], "b": ["y"]}, [4.2], loss="cosent")) == 1  # ranks only
    with pytest.raises(ValueError, match="finite"):
        finetune.pairs_dataset({"a": ["x"], "b": ["y"]}, [float("nan")])
    with pytest.raises(TypeError, match="not a text"):
        finetune.pairs_dataset({"a": ["x", 3], "b": ["y", "z"]})
    with pytest.raises(TypeError, match="one string"):
        finetune.pairs_dataset({"a": "xy", "b": ["y", "z"]})
    with pytest.raises(TypeError, match="not a number"):
        finetune.pairs_dataset({"a": ["x"], "b": ["y"]}, [True])
    with pytest.raises(TypeError, match="columns"):
        finetune.pairs_dataset([["x"], ["y"]])


def test_stsb_dataset_divides_scores():
    import pandas as pd

    df = pd.DataFrame({"sentence1": ["a", "b", "c"], "sentence2": ["d", "e", "f"], "score": [5.0, 2.5, 0.0]})
    ds = finetune.stsb_dataset(df)
    assert ds["label"] == [1.0, 0.5, 0.0]
    assert len(finetune.stsb_dataset(df, n=2)) == 2


def test_recipes_of_chapter_6():
    for prof in ("smoke", "full"):
        cos = finetune.recipe("cosine", prof)
        ch3 = training.recipe_for("bi_encoder", prof)
        # the loop of section 3 gets chapter 3's recipe at chapter 6's size; in full it *is* chapter 3's
        loop = training.with_overrides(cos, loss=None, data=None, eval_every=None)
        assert loop == training.with_overrides(ch3, n_train=finetune.size("stsb_train", prof))
        ce = finetune.recipe("cross_encoder", prof)
        assert ce.head_lr == training.recipe_for("cross_encoder", prof).head_lr and ce.loss == "bce"
    assert training.with_overrides(finetune.recipe("cosine", "full"), loss=None, data=None,
                                   eval_every=None) == training.recipe_for("bi_encoder", "full")
    assert finetune.recipe("matryoshka", "smoke").option("dims") == finetune.MATRYOSHKA_DIMS
    assert finetune.recipe("cached_mnrl", "smoke").mini_batch_size < finetune.recipe("cached_mnrl", "smoke").batch_size
    with pytest.raises(ValueError, match="unknown chapter-6 recipe"):
        finetune.recipe("triplet", "smoke")
    with pytest.raises(ValueError, match="unknown size"):
        finetune.size("nope", "smoke")


def test_truncate():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    t = finetune.truncate(x, 2)
    assert t.shape == (3, 2) and np.allclose(np.linalg.norm(t, axis=1), 1)
    for bad in (0, 5, True, 2.0):
        with pytest.raises(ValueError, match="dim"):
            finetune.truncate(x, bad)
    with pytest.raises(ValueError, match="array"):
        finetune.truncate(x[0], 2)


def test_legacy_fit_rejects_bad_arguments_before_training():
    with pytest.raises(TypeError, match="epochs"):
        finetune.legacy_fit(None, ["x"], epochs=True)
    with pytest.raises(ValueError, match="epochs"):
        finetune.legacy_fit(None, ["x"], epochs=0)
    with pytest.raises(TypeError, match="warmup_steps"):
        finetune.legacy_fit(None, ["x"], epochs=1, warmup_steps=0.5)
    with pytest.raises(ValueError, match="no training examples"):
        finetune.legacy_fit(None, [], epochs=1)


def test_history_frame():
    hist = [{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2}, {"eval_dev_spearman_cosine": 0.8, "step": 2},
            {"train_runtime": 3.0, "step": 2}]
    frame = finetune.history_frame(hist)
    assert list(frame["step"]) == [1, 2] and frame.loc[1, "eval_dev_spearman_cosine"] == 0.8
    assert math.isnan(frame.loc[0, "eval_dev_spearman_cosine"])


# ------------------------------------------------------------------------------------ transfer subsets
def test_transfer_subsets_in_smoke():
    sf = finetune.scifact_transfer("smoke")
    assert len(sf.queries) == finetune.size("scifact_queries", "smoke")
    assert len(sf.corpus) == finetune.size("scifact_docs", "smoke")
    judged = {d for docs in sf.qrels.values() for d in docs}
    assert judged <= set(sf.corpus["_id"]) and set(sf.qrels) == set(sf.queries["_id"])
    assert finetune.scifact_transfer("smoke").corpus.equals(sf.corpus)  # seeded
    clinc = finetune.clinc_domains("smoke")
    assert len(clinc) == finetune.size("clinc", "smoke") and "oos" not in set(clinc["domain"])
    assert clinc["domain"].nunique() == 10


# --------------------------------------------------------------------------------- one tiny real run
def test_make_loss_and_tiny_trainer_run_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    P = setup("smoke")
    from sentence_transformers.sentence_transformer import losses as L

    model = finetune.fresh_bi_encoder(P, finetune.recipe("cosine", P))
    for name, cls in (("cosine", L.CosineSimilarityLoss), ("cosent", L.CoSENTLoss), ("angle", L.AnglELoss),
                      ("mnrl", L.MultipleNegativesRankingLoss), ("matryoshka", L.MatryoshkaLoss),
                      ("cached_mnrl", L.CachedMultipleNegativesRankingLoss)):
        assert isinstance(finetune.make_loss(model, finetune.recipe(name, P)), cls)
    with pytest.raises(ValueError, match="no bi-encoder loss"):
        finetune.make_loss(model, finetune.recipe("cross_encoder", P))

    rec = training.with_overrides(finetune.recipe("cosine", P), n_train=4, batch_size=2, max_length=16,
                                  eval_every=None)
    folder = finetune.train_bi_encoder("cosine", P, rec, with_dev=False)
    assert (folder / "history.json").is_file() and (folder / "train_seconds.json").is_file()
    stamp = (folder / "train_seconds.json").stat().st_mtime_ns
    trained, history, seconds = finetune.load_bi_encoder("cosine", P, rec, with_dev=False)
    assert (folder / "train_seconds.json").stat().st_mtime_ns == stamp  # loaded, not retrained
    assert finetune.history_frame(history)["loss"].notna().sum() == rec.total_steps(4) == 2
    assert seconds > 0 and not list(tmp_path.glob("checkpoints"))  # nothing written to the working dir
    assert trained.encode(["a"]).shape == (1, 384)


# ------------------------------------------------------------------ the trainer's arguments (no training)
class _Evaluator:
    name = "stsb-dev"


def test_training_arguments_are_the_recipe_and_decide_the_optimizer(tmp_path):
    from sentence_transformers.base.sampler import BatchSamplers

    rec = finetune.recipe("cosine", "smoke")
    args = finetune.training_arguments(rec, tmp_path, _Evaluator())
    assert args.learning_rate == rec.lr and args.warmup_steps == rec.warmup_fraction
    assert args.per_device_train_batch_size == rec.batch_size and args.weight_decay == rec.weight_decay
    assert args.batch_sampler == BatchSamplers.BATCH_SAMPLER
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_stsb-dev_spearman_cosine"
    assert args.eval_steps == args.save_steps == rec.eval_every
    # 16 steps with a 0.1 warm-up: ceil(1.6) = 2 steps, as the course's round(1.6) = 2
    assert args.get_warmup_steps(16) == rec.warmup_steps(256) == 2
    plain = finetune.training_arguments(finetune.recipe("mnrl", "smoke"), tmp_path)
    assert plain.batch_sampler == BatchSamplers.NO_DUPLICATES  # in-batch negatives: no duplicate texts
    assert plain.eval_strategy == "no" and not plain.load_best_model_at_end
    with pytest.raises(TypeError, match="Recipe"):
        finetune.training_arguments({"lr": 1e-5}, tmp_path)


def test_cached_run_runs_once(monkeypatch, tmp_path):
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    rec = finetune.recipe("cosine", "smoke")
    ds = finetune.pairs_dataset({"a": ["x", "y"], "b": ["z", "w"]}, [0.1, 0.2])
    calls = []

    def run(folder):
        calls.append(folder)
        return {"losses": [0.5, 0.25]}

    assert finetune.cached_run("probe", "smoke", rec, ds, run) == {"losses": [0.5, 0.25]}
    assert finetune.cached_run("probe", "smoke", rec, ds, run) == {"losses": [0.5, 0.25]}
    assert len(calls) == 1 and not calls[0].exists()  # ran once, in a scratch folder since removed
    with pytest.raises(TypeError, match="dict"):
        finetune.cached_run("bad", "smoke", rec, ds, lambda folder: [1])
    with pytest.raises(TypeError, match="run must be"):
        finetune.cached_run("bad", "smoke", rec, ds, None)
