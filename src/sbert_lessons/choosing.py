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
}
_BASELINE_IMPORTS = {
    "sentence": "import sentence_transformers, torch; from sbert_lessons import models",
    "onnx": "import onnxruntime, tokenizers; from sbert_lessons import models",
}


def size_on_disk_mb(*paths: str | os.PathLike) -> float:
    """Total size in MB (10^6 bytes) of the given files (folders are summed recursively)."""
    if not paths:
        raise ValueError("size_on_disk_mb needs at least one path")
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

    ``kind`` is ``"sentence"`` (a SentenceTransformer from the registry) or ``"onnx"``
    (:func:`sbert_lessons.models.load_onnx`). Returns ``peak`` (the whole process), ``baseline`` (the
    same imports without the model) and ``model`` (their difference: weights plus activations).
    """
    if kind not in _LOADERS:
        raise ValueError(f"kind must be one of {', '.join(_LOADERS)}, got {kind!r}")
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty list of strings")
    load = _LOADERS[kind].format(hub=hub_id)
    code = f"{load}\nm.encode({list(texts)!r}, batch_size={int(batch_size)})"
    peak = _run_rss(code, timeout)
    base = _run_rss(_BASELINE_IMPORTS[kind], timeout)
    return {"peak": peak, "baseline": base, "model": peak - base}


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    if (n < 1e-12).any():
        raise ValueError("a zero-length embedding has no direction (cosine undefined)")
    return x / n


def mean_random_cosine(emb: Any, n_pairs: int = 10_000, seed: int = 0) -> float:
    """The mean cosine of ``n_pairs`` random pairs of distinct rows (0 for an isotropic cloud)."""
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need an (n, d) array with at least 2 rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or infinite values")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), size=n_pairs)
    j = (i + rng.integers(1, len(x), size=n_pairs)) % len(x)  # never i itself
    u = _unit(x)
    return float((u[i] * u[j]).sum(axis=1).mean())


def centre(emb: Any, mean: Any = None) -> np.ndarray:
    """``emb`` minus its mean row (or minus ``mean``, e.g. a mean computed on another sample)."""
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"need a non-empty (n, d) array, got shape {x.shape}")
    mu = x.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    if mu.shape != (x.shape[1],):
        raise ValueError(f"mean has shape {mu.shape}, expected ({x.shape[1]},)")
    return (x - mu).astype(np.float32)


def score_agreement(query: Any, candidates: Any) -> dict[str, Any]:
    """Rank ``candidates`` for ``query`` by cosine and by dot product; report both and whether the top
    candidate is the same."""
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    c = np.asarray(candidates, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != q.shape[0] or c.shape[0] == 0:
        raise ValueError(f"candidates must be (n, {q.shape[0]}), got shape {c.shape}")
    dot = c @ q
    cos = dot / (np.linalg.norm(c, axis=1) * np.linalg.norm(q))
    return {"cosine": cos, "dot": dot, "top_cosine": int(cos.argmax()), "top_dot": int(dot.argmax()),
            "same_top": bool(cos.argmax() == dot.argmax())}
