"""Run profiles, device choice and seeding (introduced in chapter 0, used by every lesson).

Two profiles exist:

``smoke``
    CPU-sized slices of the data so that each notebook runs in minutes on two cores. CI runs this one.
``full``
    The real sizes (whole splits, full epochs). The published site is built with it on a GPU.

The profile is chosen, in order, by the ``profile`` argument (a notebook's ``parameters`` cell, which
papermill can set with ``-p profile full``), by the environment variable ``SBERT_LESSONS_PROFILE``, and
otherwise by the hardware: ``full`` when CUDA is available, ``smoke`` when it is not.
"""

from __future__ import annotations

import numbers
import os
import random
import re
from dataclasses import dataclass
from typing import Any, TypeVar

PROFILES = ("smoke", "full")
ENV_PROFILE = "SBERT_LESSONS_PROFILE"
ENV_DEVICE = "SBERT_LESSONS_DEVICE"
DEFAULT_SEED = 0

T = TypeVar("T")

_ACTIVE: Profile | None = None


class ProfileError(ValueError):
    """Raised for an unknown profile or device name."""


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


def get_device(device: str | None = None) -> str:
    """The torch device lessons run on: ``device``, else ``$SBERT_LESSONS_DEVICE``, else cuda/cpu."""
    if device is not None and not isinstance(device, str):
        if type(device).__name__ == "device" and type(device).__module__ == "torch":
            device = str(device)
        else:
            raise ProfileError(f"device must be a string such as 'cpu' or 'cuda:0', got {type(device).__name__}")
    source = "argument device" if device else f"${ENV_DEVICE}" if os.environ.get(ENV_DEVICE) else "default"
    choice = (device or os.environ.get(ENV_DEVICE) or ("cuda" if cuda_available() else "cpu")).strip().lower()
    m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", choice)
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise ProfileError(f"unknown device {choice!r} (from {source}): use 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if m.group(1) == "cuda":
        if not cuda_available():
            raise ProfileError(f"device {choice!r} was asked for ({source}), but torch sees no CUDA GPU here; "
                               "use 'cpu'")
        import torch

        count = torch.cuda.device_count()
        if m.group(2) is not None and int(m.group(2)) >= count:
            raise ProfileError(f"device {choice!r} ({source}) does not exist: torch sees {count} GPU(s), "
                               f"cuda:0..cuda:{count - 1}")
    if m.group(1) == "mps" and not _mps_available():
        raise ProfileError(f"device 'mps' was asked for ({source}), but this torch has no Apple GPU; use 'cpu'")
    return choice


def _mps_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_profile(profile: str | None = None) -> str:
    """Resolve the profile name: argument, then ``$SBERT_LESSONS_PROFILE``, then the hardware."""
    if profile is not None and not isinstance(profile, str):
        raise ProfileError(f"profile must be 'smoke' or 'full', got {type(profile).__name__} {profile!r}")
    name = profile or os.environ.get(ENV_PROFILE) or ("full" if cuda_available() else "smoke")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ProfileError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
            f"(argument `profile` or environment variable {ENV_PROFILE})"
        )
    return name


def seed_everything(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and torch (CPU and every GPU) so that reruns give the same numbers."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed


@dataclass(frozen=True)
class Profile:
    """The resolved run settings of a lesson. ``P.pick(smoke=..., full=...)`` chooses sizes."""

    name: str
    device: str
    seed: int = DEFAULT_SEED

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"

    @property
    def is_full(self) -> bool:
        return self.name == "full"

    def pick(self, smoke: T, full: T) -> T:
        """Return the value for this profile, e.g. ``n_train = P.pick(smoke=2_000, full=None)``."""
        return smoke if self.is_smoke else full

    def __str__(self) -> str:
        return f"profile={self.name} device={self.device} seed={self.seed}"


def quiet_libraries() -> None:
    """Silence progress bars and chatty loggers so that executed notebooks show results, not noise."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging
    import warnings

    for name in ("sentence_transformers", "transformers", "datasets", "huggingface_hub", "gensim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except (ImportError, AttributeError):  # pragma: no cover - stay quiet if transformers moved these
        pass


def setup(profile: str | None = None, *, seed: int = DEFAULT_SEED, device: str | None = None,
          quiet: bool = True) -> Profile:
    """Resolve profile and device, seed everything and make this the active profile.

    Call it once at the top of a lesson, right after the ``parameters`` cell::

        P = setup(profile)
        print(P)
    """
    global _ACTIVE
    if quiet:
        quiet_libraries()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ProfileError(f"seed must be a non-negative integer, got {seed!r}")
    resolved = Profile(name=get_profile(profile), device=get_device(device), seed=int(seed))
    seed_everything(resolved.seed)
    _ACTIVE = resolved
    return resolved


def active() -> Profile:
    """The profile set by :func:`setup`, or the one the environment implies if none was set."""
    return _ACTIVE if _ACTIVE is not None else Profile(name=get_profile(), device=get_device())


def pick(smoke: Any, full: Any, profile: str | None = None) -> Any:
    """Module-level shortcut for :meth:`Profile.pick` on the active (or named) profile."""
    return smoke if (get_profile(profile) if profile else active().name) == "smoke" else full
