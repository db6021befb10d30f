"""Throughput and latency measurement (introduced in chapter 3, reused by the speed chapters).

Timing on a shared machine is noisy, so every measurement here follows one protocol: run the work once
untimed (warm-up: lazy initialisation, caches, kernel selection), then time it ``repeats`` times and
report the **median**. GPU work is synchronised before the clock is read.

* :func:`time_call` — median seconds of one call;
* :func:`throughput` — items per second of a batched function;
* :func:`pair_count` / :func:`extrapolate_pairs` — the n(n-1)/2 arithmetic behind the SBERT paper's
  "65 hours for 10,000 sentences" claim;
* :func:`most_similar_pair` and :func:`cross_encoder_pair_search` — the two workloads that claim compares.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Timing",
    "cross_encoder_pair_search",
    "extrapolate_linear",
    "extrapolate_pairs",
    "format_duration",
    "most_similar_pair",
    "pair_count",
    "throughput",
    "time_call",
]


@dataclass(frozen=True)
class Timing:
    """The outcome of :func:`time_call`: the median and every timed run, in seconds."""

    median_s: float
    runs_s: tuple[float, ...] = field(default_factory=tuple)
    result: Any = None

    @property
    def min_s(self) -> float:
        return min(self.runs_s)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _sync() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_call(fn: Callable[..., Any], *args: Any, warmup: int = 1, repeats: int = 3,
              **kwargs: Any) -> Timing:
    """Call ``fn(*args, **kwargs)`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns a :class:`Timing` with the median seconds, all runs, and the last call's result.
    """
    if not callable(fn):
        raise TypeError(f"time_call needs a callable, got {type(fn).__name__}")
    warmup = _check_int("warmup", warmup, 0)
    repeats = _check_int("repeats", repeats, 1)
    result = None
    for _ in range(warmup):
        result = fn(*args, **kwargs)
    _sync()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        _sync()
        runs.append(time.perf_counter() - start)
    return Timing(median_s=float(statistics.median(runs)), runs_s=tuple(runs), result=result)


def throughput(fn: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch: int | None = None, *,
               warmup: int = 1, repeats: int = 3) -> float:
    """Items per second of ``fn`` over ``items`` (median of ``repeats`` timed passes).

    ``fn`` receives a list of at most ``batch`` items per call (all items at once when ``batch`` is
    None). The warm-up pass uses the first batch only.
    """
    if not callable(fn):
        raise TypeError(f"throughput needs a callable, got {type(fn).__name__}")
    if isinstance(items, (str, bytes)):
        raise TypeError("items must be a sequence of items, not one string")
    items = list(items)
    if not items:
        raise ValueError("throughput needs at least one item")
    batch = len(items) if batch is None else _check_int("batch", batch, 1)
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]

    def run_all() -> None:
        for b in batches:
            fn(b)

    for _ in range(_check_int("warmup", warmup, 0)):
        fn(batches[0])
    t = time_call(run_all, warmup=0, repeats=repeats)
    if t.median_s <= 0:
        raise ValueError("the timed work took no measurable time; give it more items")
    return len(items) / t.median_s


def pair_count(n: int) -> int:
    """Number of unordered pairs among ``n`` items, n(n-1)/2."""
    n = _check_int("n", n, 0)
    return n * (n - 1) // 2


def extrapolate_pairs(n_measured: int, t_measured: float, n_target: int) -> float:
    """Seconds for an all-pairs job on ``n_target`` items, scaled from one measured at ``n_measured``.

    The work is proportional to the number of pairs, n(n-1)/2, so the estimate is
    ``t_measured * pairs(n_target) / pairs(n_measured)``. It is an extrapolation: label it as such.
    """
    n_measured = _check_int("n_measured", n_measured, 2)
    n_target = _check_int("n_target", n_target, 2)
    t = _check_seconds(t_measured)
    return t * pair_count(n_target) / pair_count(n_measured)


def extrapolate_linear(n_measured: int, t_measured: float, n_target: int) -> float:
    """Seconds for ``n_target`` items of a job linear in n (encoding), scaled from ``n_measured``."""
    n_measured = _check_int("n_measured", n_measured, 1)
    n_target = _check_int("n_target", n_target, 1)
    return _check_seconds(t_measured) * n_target / n_measured


def _check_seconds(t: Any, name: str = "t_measured") -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number of seconds, got {type(t).__name__}")
    t = float(t)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, got {t}")
    return t


def most_similar_pair(emb: Any, chunk: int = 2048) -> tuple[int, int, float]:
    """``(i, j, cosine)`` of the most similar pair i < j among the rows of ``emb``.

    The cosine matrix is computed in row chunks so that 10,000+ rows never need an n x n matrix at
    once. Works on NumPy arrays and torch tensors (on their device). A row with NaN or infinite values,
    or a zero row, raises ``ValueError`` (it has no cosine); ties go to the first pair in row order.
    """
    import torch

    chunk = _check_int("chunk", chunk, 1)
    if not isinstance(emb, torch.Tensor):
        arr = np.asarray(emb)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"most_similar_pair needs a numeric (n, d) matrix, got dtype {arr.dtype}")
    t = torch.as_tensor(emb)
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 1:
        raise ValueError(f"most_similar_pair needs an (n >= 2, d >= 1) matrix, got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"most_similar_pair needs real numbers, got {t.dtype}")
    finite = torch.isfinite(t).all(dim=1) if t.is_floating_point() else torch.ones(len(t), dtype=torch.bool)
    if not bool(finite.all()):
        raise ValueError(f"row {int(torch.nonzero(~finite).flatten()[0])} of the embeddings contains NaN or "
                         "infinite values: no cosine similarity can be computed for it")
    if bool((t == 0).all(dim=1).any()):
        raise ValueError("a zero-length embedding has no cosine similarity")
    t32 = t.float()
    norms = t32.norm(dim=1, keepdim=True)
    if not bool(torch.isfinite(t32).all() & torch.isfinite(norms).all() & (norms > 1e-18).all()):
        # finite input whose float32 square sum overflows or goes subnormal: scale each row first
        t64 = t.double()
        t64 = t64 / t64.abs().amax(dim=1, keepdim=True)
        t32 = t64.float()
        norms = t32.norm(dim=1, keepdim=True)
    t = t32 / norms
    best = (-1, -1, -math.inf)
    n = t.shape[0]
    for start in range(0, n, chunk):
        block = t[start:start + chunk] @ t.T                      # (c, n)
        rows = torch.arange(start, min(start + chunk, n), device=t.device)
        cols = torch.arange(n, device=t.device)
        block = block.masked_fill(cols[None, :] <= rows[:, None], -math.inf)  # keep j > i
        flat = int(torch.argmax(block))
        value = float(block.flatten()[flat])
        if value > best[2]:
            best = (start + flat // n, flat % n, value)
    return int(best[0]), int(best[1]), float(best[2])


def cross_encoder_pair_search(cross_encoder: Any, texts: Sequence[str], batch_size: int = 64
                              ) -> tuple[int, int, float]:
    """The most similar pair among ``texts`` the cross-encoder way: score every one of n(n-1)/2 pairs."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of sentences, not one string")
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError("a pair search needs at least two sentences")
    idx = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    scores = np.asarray(cross_encoder.predict([(texts[i], texts[j]) for i, j in idx],
                                              batch_size=batch_size, show_progress_bar=False))
    k = int(np.argmax(scores))
    return idx[k][0], idx[k][1], float(scores[k])


def format_duration(seconds: float) -> str:
    """Human-readable duration: '4.2 s', '3.1 min', '65.0 h', '2.3 days'."""
    s = _check_seconds(seconds, "seconds") if seconds != 0 else 0.0
    if s < 120:
        return f"{s:.3g} s" if s < 10 else f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
