import random

import numpy as np
import pytest
import torch

from sbert_lessons import profile


def test_env_chooses_profile(monkeypatch):
    monkeypatch.setenv("SBERT_LESSONS_PROFILE", "full")
    assert profile.get_profile() == "full"
    assert profile.get_profile("smoke") == "smoke"  # the notebook parameter wins


def test_default_follows_hardware(monkeypatch):
    monkeypatch.delenv("SBERT_LESSONS_PROFILE", raising=False)
    monkeypatch.setattr(profile, "cuda_available", lambda: False)
    assert profile.get_profile() == "smoke"
    monkeypatch.setattr(profile, "cuda_available", lambda: True)
    assert profile.get_profile() == "full"


def test_unknown_profile_lists_choices():
    with pytest.raises(profile.ProfileError, match="smoke, full"):
        profile.get_profile("fast")


def test_device(monkeypatch):
    monkeypatch.delenv("SBERT_LESSONS_DEVICE", raising=False)
    monkeypatch.setattr(profile, "cuda_available", lambda: False)
    assert profile.get_device() == "cpu"
    with pytest.raises(profile.ProfileError, match="no CUDA"):
        profile.get_device("cuda")
    with pytest.raises(profile.ProfileError, match="unknown device"):
        profile.get_device("tpu")


def test_pick_and_setup(monkeypatch):
    monkeypatch.setattr(profile, "cuda_available", lambda: False)
    p = profile.setup("smoke", seed=3)
    assert p.pick(smoke=1, full=2) == 1 and p.is_smoke and p.device == "cpu"
    assert profile.active() == p
    assert profile.pick(smoke="a", full="b") == "a"
    assert profile.Profile("full", "cpu").pick(smoke=1, full=2) == 2


def test_seed_everything_repeats():
    def draw():
        profile.seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()
