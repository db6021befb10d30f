"""Measuring models side by side, and the geometry that trips them (introduced in chapter 10,
``10_choosing_a_model``).

* :func:`size_on_disk_mb` — the bytes a model's weights occupy;
* :func:`peak_memory_mb` — the peak resident memory of a fresh process that loads one model and encodes
  a batch, minus that of the same process without the model (run in a subprocess so that one model's
  allocations never count against another's);
* :func:`mean_random_cosine` and :func:`centre` — anisotropy: how similar random sentences look, and
  what subtracting the mean vector does to it;
* :func:`score_agreement` — cosine versus dot product: do they rank the same candidates first?
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["centre", "mean_random_cosine", "peak_memory_mb", "score_agreement", "size_on_disk_mb"]

_LOADERS = {
    "sentence": "from sbert_lessons import models; m = models.load_sentence_model({hub!r}, device='cpu')",
    "onnx": "from sbert_lessons import models; m = models.load_onnx({hub!r})",
    "static": "from sbert_lessons import static; m = static.load_static({hub!r}, 'memory')",
}
_BASELINE_IMPORTS = {
    "sentence": "import sentence_transformers, torch; from sbert_lessons import models",
    "onnx": "import onnxruntime, tokenizers; from sbert_lessons import models",
    "static": "import sentence_transformers, torch; from sbert_lessons import static",
}


def size_on_disk_mb(*paths: str | os.PathLike) -> float:
    """Total size in MB (10^6 bytes) of the given files (folders are summed recursively)."""
    if not paths:
        raise ValueError("size_on_disk_mb needs at least one path")
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"size_on_disk_mb takes paths (str or Path), got {type(p).__name__} {p!r}")
    total = 0
    for p in map(Path, paths):
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            total += p.stat().st_size
        else:
            raise FileNotFoundError(f"{p} does not exist")
    return total / 1e6


_PEAK = ("\nimport json\nhwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
         "print(json.dumps(int(hwm[0].split()[1]) if hwm else None))")


def _run_rss(code: str, timeout: int) -> float:
    # VmHWM, the peak resident set of this process image. Not getrusage's ru_maxrss: that survives
    # execve, so a child started from a large parent (a notebook kernel) would report the parent's peak.
    script = code + _PEAK
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                         env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-2000:]}")
    kib = json.loads(out.stdout.strip().splitlines()[-1])
    if kib is None:
        raise RuntimeError("peak memory is measured from /proc/self/status (Linux only)")
    return kib / 1024.0


def peak_memory_mb(hub_id: str, kind: str, texts: list[str], batch_size: int = 32,
                   timeout: int = 600) -> dict[str, float]:
    """Peak resident memory (MiB) of loading ``hub_id`` and encoding ``texts`` in a fresh process.

    ``kind`` is ``"sentence"`` (a SentenceTransformer from the registry), ``"onnx"``
    (:func:`sbert_lessons.models.load_onnx`) or ``"static"`` (``hub_id`` is then the folder of a saved
    Model2Vec model, loaded by :func:`sbert_lessons.static.load_static`; chapter 11). Returns ``peak`` (the whole process), ``baseline`` (the
    same imports without the model) and ``model`` (their difference: weights plus activations).
    """
    if kind not in _LOADERS:
        raise ValueError(f"kind must be one of {', '.join(_LOADERS)}, got {kind!r}")
    if not isinstance(hub_id, str) or not hub_id:
        raise TypeError(f"hub_id must be a model name (a non-empty string), got {hub_id!r}")
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty list of strings")
    for name, value in (("batch_size", batch_size), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    load = _LOADERS[kind].format(hub=hub_id)
    code = f"{load}\nm.encode({list(texts)!r}, batch_size={int(batch_size)})"
    peak = _run_rss(code, timeout)
    base = _run_rss(_BASELINE_IMPORTS[kind], timeout)
    return {"peak": peak, "baseline": base, "model": peak - base}


def _unit(x: np.ndarray, what: str = "embeddings") -> np.ndarray:
    """Rows of a finite float64 array scaled to length 1. Each row is first divided by its largest
    absolute value, so that rows of any magnitude (1e-200, 1e200) keep their direction; an all-zero
    row has none and is refused by its number."""
    peak = np.abs(x).max(axis=1, keepdims=True)
    zero = np.flatnonzero(peak[:, 0] == 0)
    if zero.size:
        raise ValueError(f"{what}: row {zero[0]} is a zero-length embedding ({zero.size} such row(s)); it has "
                         "no direction, so its cosine is undefined")
    with np.errstate(over="ignore", under="ignore"):  # detected below, and then scaled
        n = np.linalg.norm(x, axis=1, keepdims=True)
    if ((n > 1e-150) & (n < 1e150)).all():  # no overflow or underflow in the square sums: the plain path
        return x / n
    y = x / peak
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def _array(x: Any, what: str) -> np.ndarray:
    """``x`` as a float64 array; a clear error for text, ragged rows or other non-numbers."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be numbers (an array), got {type(x).__name__} {str(x)[:60]}") from None


def _finite(x: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: row {bad[0]} holds NaN or infinite values ({bad.size} such row(s))")


def mean_random_cosine(emb: Any, n_pairs: int = 10_000, seed: int = 0) -> float:
    """The mean cosine of ``n_pairs`` random pairs of distinct rows (0 for an isotropic cloud)."""
    x = _array(emb, "embeddings")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need an (n, d) array with at least 2 rows, got shape {x.shape}")
    _finite(x, "embeddings")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), size=n_pairs)
    j = (i + rng.integers(1, len(x), size=n_pairs)) % len(x)  # never i itself
    u = _unit(x)
    return float((u[i] * u[j]).sum(axis=1).mean())


def centre(emb: Any, mean: Any = None) -> np.ndarray:
    """``emb`` minus its mean row (or minus ``mean``, e.g. a mean computed on another sample)."""
    x = _array(emb, "embeddings")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"need a non-empty (n, d) array, got shape {x.shape}")
    _finite(x, "embeddings")
    mu = x.mean(axis=0) if mean is None else _array(mean, "mean")
    if mu.shape != (x.shape[1],):
        raise ValueError(f"mean has shape {mu.shape}, expected ({x.shape[1]},)")
    if not np.isfinite(mu).all():
        raise ValueError("the mean vector holds NaN or infinite values" if mean is not None else
                         "the mean of the embeddings overflows (values too large)")
    out = x - mu
    big = np.flatnonzero(~(np.abs(out) <= np.finfo(np.float32).max).all(axis=1))
    if big.size:
        raise ValueError(f"centred row {big[0]} exceeds the float32 range (values up to "
                         f"{np.abs(out[big[0]]).max():.3g}): rescale the embeddings first")
    return out.astype(np.float32)


def score_agreement(query: Any, candidates: Any) -> dict[str, Any]:
    """Rank ``candidates`` for ``query`` by cosine and by dot product; report both and whether the top
    candidate is the same.

    A candidate row (or query) that is all zeros has no cosine and one with NaN or infinite values no
    score at all: both are refused with the row's number rather than reported as the winner. Ties go to
    the lower row number.
    """
    q = _array(query, "query")
    if q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    if q.ndim != 1 or q.shape[0] == 0:
        raise ValueError(f"query must be one vector (d,), got shape {q.shape}")
    c = _array(candidates, "candidates")
    if c.ndim != 2 or c.shape[1] != q.shape[0] or c.shape[0] == 0:
        raise ValueError(f"candidates must be (n, {q.shape[0]}), got shape {c.shape}")
    _finite(q[None, :], "query")
    _finite(c, "candidates")
    qu = _unit(q[None, :], "query")[0]
    cos = _unit(c, "candidates") @ qu
    with np.errstate(over="ignore", invalid="ignore"):
        dot = c @ q
    if not np.isfinite(dot).all():
        raise ValueError(f"the dot product of candidate row {int(np.flatnonzero(~np.isfinite(dot))[0])} with "
                         "the query overflows float64 (vectors too long to compare by dot product)")
    return {"cosine": cos, "dot": dot, "top_cosine": int(cos.argmax()), "top_dot": int(dot.argmax()),
            "same_top": bool(cos.argmax() == dot.argmax())}
