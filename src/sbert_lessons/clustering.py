"""Clustering sentence embeddings and scoring the clusters against labels (introduced in chapter 9,
``09_clustering``).

* :func:`kmeans` and :func:`agglomerative` — scikit-learn's algorithms behind one validated interface:
  rows are L2-normalised first (so the Euclidean geometry k-means uses agrees with the cosine),
  ``k`` must lie between 2 and the number of points, and the result is a label array.
* :func:`adjusted_rand_index` and :func:`normalized_mutual_info` — written from the contingency table
  (tested equal to ``sklearn.metrics``): ARI is 0 for a random partition and 1 for the true one; NMI
  (arithmetic-mean normalisation, scikit-learn's default) is 0 for independent and 1 for identical
  partitions.
* :func:`silhouette_sweep` — the mean silhouette (cosine) for several cluster counts, the usual way to
  "choose k" when no labels exist.
* :func:`communities` and :func:`community_precision` — the library's fast community detection and the
  share of each community's members that carry its majority label.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "adjusted_rand_index",
    "agglomerative",
    "cluster_scores",
    "communities",
    "community_precision",
    "contingency",
    "expected_ari_of_random",
    "kmeans",
    "normalized_mutual_info",
    "silhouette_sweep",
    "unit_rows",
]

LINKAGES = ("average", "complete", "single", "ward")


def _as_matrix(x: Any, what: str = "embeddings") -> np.ndarray:
    """A finite float (n, d) array with n >= 1; a clear error otherwise."""
    if x is None:
        raise TypeError(f"{what} must be an (n, d) array, got None")
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().to("cpu").numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a numeric (n, d) array, got {type(x).__name__}") from None
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (n, d) array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {arr.shape}): there is nothing to cluster")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what} holds NaN or infinite values, first in row {bad[0]} ({bad.size} row(s))")
    return arr


def unit_rows(x: Any, what: str = "embeddings") -> np.ndarray:
    """Rows scaled to length 1; a zero row raises (it has no direction, so no cosine)."""
    arr = _as_matrix(x, what)
    with np.errstate(over="ignore", under="ignore"):  # detected below, and then scaled
        norms = np.linalg.norm(arr, axis=1)
    if ((norms > 1e-150) & (norms < 1e150)).all():  # the square sums neither overflow nor underflow
        return arr / norms[:, None]
    peak = np.abs(arr).max(axis=1)  # rows of extreme magnitude: scale by the largest entry first
    zero = np.flatnonzero(peak == 0)
    if zero.size:
        raise ValueError(f"{what}: {zero.size} zero-length row(s), first at {zero[0]}; drop them first")
    arr = arr / peak[:, None]
    return arr / np.linalg.norm(arr, axis=1)[:, None]


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"the number of clusters k must be an integer, got {type(k).__name__}")
    k = int(k)
    if k < 2:
        raise ValueError(f"the number of clusters k must be at least 2, got {k}")
    if k > n:
        raise ValueError(f"k={k} clusters asked for, but there are only {n} points: k cannot exceed them")
    return k


def kmeans(x: Any, k: int, *, seed: int = 0, n_init: int = 10, normalize: bool = True) -> np.ndarray:
    """k-means labels (``int`` array of length n). Rows are L2-normalised first unless ``normalize=False``."""
    from sklearn.cluster import KMeans

    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    arr = unit_rows(x) if normalize else _as_matrix(x)
    k = _check_k(k, arr.shape[0])
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, got {n_init!r}")
    _check_seed(seed)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    model = KMeans(n_clusters=k, random_state=seed, n_init=int(n_init))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # too few distinct points: refused below instead
        labels = model.fit_predict(arr).astype(np.int64)
    found = len(np.unique(labels))
    if found < k:  # scikit-learn returns fewer clusters than asked for (with a warning only)
        distinct = len(np.unique(arr, axis=0))
        raise ValueError(f"k={k} clusters asked for, but k-means found only {found}: the {arr.shape[0]} points "
                         f"hold only {distinct} distinct {'directions' if normalize else 'vectors'}")
    return labels


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def agglomerative(x: Any, k: int, *, linkage: str = "average") -> np.ndarray:
    """Agglomerative (hierarchical) clustering into ``k`` clusters on unit rows.

    ``average``/``complete``/``single`` linkage use the cosine distance; ``ward`` uses the Euclidean
    distance, which on unit rows is a monotone function of the cosine.
    """
    from sklearn.cluster import AgglomerativeClustering

    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {', '.join(LINKAGES)}, got {linkage!r}")
    arr = unit_rows(x)
    k = _check_k(k, arr.shape[0])
    metric = "euclidean" if linkage == "ward" else "cosine"
    model = AgglomerativeClustering(n_clusters=k, linkage=linkage, metric=metric)
    return model.fit_predict(arr).astype(np.int64)


# ----------------------------------------------------------------------------------------- scores
def _as_labels(a: Any, what: str) -> np.ndarray:
    if isinstance(a, str):
        raise TypeError(f"{what} must be a sequence of labels, not one string")
    if a is None or not hasattr(a, "__iter__"):
        raise TypeError(f"{what} must be a sequence of labels, got {type(a).__name__}")
    if isinstance(a, (set, frozenset, dict)):
        raise TypeError(f"{what} must be an ordered sequence (one label per point, in point order), got a "
                        f"{type(a).__name__}")
    items = a.tolist() if isinstance(a, np.ndarray) else list(a)
    arr = np.asarray(a if isinstance(a, np.ndarray) else items)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} is empty")
    missing = [i for i, v in enumerate(items) if v is None or (isinstance(v, float) and math.isnan(v))]
    if missing:
        raise ValueError(f"{what} has a missing label (None or NaN) at position {missing[0]} "
                         f"({len(missing)} in all): label every point, or drop the unlabelled ones")
    kinds = {"text" if isinstance(v, (str, bytes)) else "number" if isinstance(v, numbers.Number)
             else type(v).__name__ for v in items}
    if len(kinds) > 1:  # numpy would turn [1, "1"] into two equal strings, or sort them and fail
        raise TypeError(f"{what} mixes label types ({', '.join(sorted(kinds))}): 1 and '1' would be "
                        "confused; use one type")
    return arr


def contingency(labels_true: Any, labels_pred: Any) -> np.ndarray:
    """The table ``n[i, j]`` = number of points in true class i and predicted cluster j."""
    a, b = _as_labels(labels_true, "labels_true"), _as_labels(labels_pred, "labels_pred")
    if a.shape != b.shape:
        raise ValueError(f"labels_true has {a.size} items but labels_pred {b.size}")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    return table


def _comb2(x: np.ndarray | int) -> np.ndarray | float:
    x = np.asarray(x, dtype=np.float64)
    return x * (x - 1) / 2


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Hubert & Arabie's adjusted Rand index: (index - expected) / (max - expected), from pair counts."""
    table = contingency(labels_true, labels_pred)
    n = table.sum()
    sum_cells = _comb2(table).sum()
    sum_rows, sum_cols = _comb2(table.sum(axis=1)).sum(), _comb2(table.sum(axis=0)).sum()
    expected = sum_rows * sum_cols / _comb2(n) if n > 1 else 0.0
    max_index = (sum_rows + sum_cols) / 2
    if max_index == expected:  # both partitions trivial (one cluster each, or all singletons)
        return 1.0
    return float((sum_cells - expected) / (max_index - expected))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Mutual information over the arithmetic mean of the two entropies (scikit-learn's default)."""
    table = contingency(labels_true, labels_pred).astype(np.float64)
    n = table.sum()
    h_true, h_pred = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if h_true == 0 and h_pred == 0:  # one class and one cluster: identical partitions
        return 1.0
    nz = table > 0
    pij = table[nz] / n
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))[nz] / n**2
    mi = float((pij * np.log(pij / outer)).sum())
    return max(0.0, mi / ((h_true + h_pred) / 2))


def cluster_scores(labels_true: Any, labels_pred: Any) -> dict[str, float]:
    """``{"ari": ..., "nmi": ...}`` of a predicted partition against the true labels."""
    return {"ari": adjusted_rand_index(labels_true, labels_pred),
            "nmi": normalized_mutual_info(labels_true, labels_pred)}


def silhouette_sweep(x: Any, ks: Sequence[int], *, method: str = "kmeans", seed: int = 0,
                     labels_true: Any = None, n_init: int = 10) -> Any:
    """For each ``k`` in ``ks``: the mean cosine silhouette of the clustering (and its ARI/NMI when
    ``labels_true`` is given). Returns a pandas DataFrame indexed by k."""
    import pandas as pd
    from sklearn.metrics import silhouette_score

    arr = unit_rows(x)
    if method not in ("kmeans", "agglomerative"):
        raise ValueError(f"method must be 'kmeans' or 'agglomerative', got {method!r}")
    if isinstance(ks, (int, np.integer)):
        raise TypeError(f"ks must be a list of cluster counts, got the single number {ks}: wrap it as [{ks}]")
    ks = list(ks)
    if not ks:
        raise ValueError("ks is empty: give at least one cluster count")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks lists a cluster count twice: {ks}")
    if arr.shape[0] < 3:
        raise ValueError(f"the silhouette needs at least 3 points (2 <= k < n), got {arr.shape[0]}")
    if labels_true is not None:
        labels_true = _as_labels(labels_true, "labels_true")
        if labels_true.size != arr.shape[0]:
            raise ValueError(f"{labels_true.size} labels for {arr.shape[0]} points")
    rows = []
    for k in ks:
        k = _check_k(k, arr.shape[0])
        if k >= arr.shape[0]:
            raise ValueError(f"k={k} must not exceed {arr.shape[0] - 1}: the silhouette needs fewer clusters "
                             f"than points ({arr.shape[0]})")
        labels = kmeans(arr, k, seed=seed, n_init=n_init) if method == "kmeans" else agglomerative(arr, k)
        row = {"k": k, "silhouette": float(silhouette_score(arr, labels, metric="cosine"))}
        if labels_true is not None:
            row.update(cluster_scores(labels_true, labels))
        rows.append(row)
    return pd.DataFrame(rows).set_index("k")


# ------------------------------------------------------------------------------------ communities
def communities(x: Any, *, threshold: float = 0.75, min_size: int = 10) -> list[list[int]]:
    """sentence-transformers' fast community detection: groups whose members all have a cosine of at
    least ``threshold`` with the group's centre (its first index), of at least ``min_size`` members,
    largest first, each point in at most one group. The centre counts among its own ``min_size`` nearest
    vectors (at a cosine of 1), so a centre needs ``min_size - 1`` other points above the threshold."""
    import torch
    from sentence_transformers.util import community_detection

    arr = _as_matrix(x)
    unit = unit_rows(arr)  # a zero row has no cosine (the library would give it NaN similarities): refused
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(arr, axis=1)
    if not ((norms > 1e-15) & (norms < 1e15)).all():  # float32 would lose such rows: pass their directions
        arr = unit
    if isinstance(threshold, bool) or not (isinstance(threshold, (int, float)) and -1.0 <= float(threshold) <= 1.0):
        raise ValueError(f"threshold is a cosine and must lie in [-1, 1], got {threshold!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise ValueError(f"min_size must be a positive integer, got {min_size!r}")
    groups = community_detection(torch.from_numpy(arr.astype(np.float32)), threshold=float(threshold),
                                 min_community_size=int(min_size))
    return [[int(i) for i in g] for g in groups]


def community_precision(groups: Sequence[Sequence[int]], labels: Any) -> dict[str, Any]:
    """How pure the groups are: each group's majority label and the share of members that carry it.

    Returns ``precision`` (members carrying their group's majority label / all grouped members),
    ``mean_group_precision`` (the unweighted mean over groups), ``n_groups``, ``n_grouped`` and
    ``coverage`` (grouped points / all points), plus ``per_group`` (majority label, size, precision).
    """
    labels = _as_labels(labels, "labels")
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise TypeError(f"groups must be a list of groups (lists of point indices), got {type(groups).__name__}")
    groups = list(groups)
    for gi, g in enumerate(groups):
        if isinstance(g, (str, bytes, set, frozenset)) or not hasattr(g, "__iter__"):
            raise TypeError(f"group {gi} must be a list of point indices, got {type(g).__name__} {g!r}"
                            + (": groups is a list of lists, as communities() returns" if
                               isinstance(g, (int, np.integer)) else ""))
    groups = [list(g) for g in groups]
    if not groups:
        raise ValueError("no groups to score: community detection found none (lower the threshold "
                         "or min_size)")
    seen: set[int] = set()
    per_group = []
    for gi, g in enumerate(groups):
        if not g:
            raise ValueError(f"group {gi} is empty")
        for i in g:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"group {gi} holds {i!r}; groups hold integer indices")
            if not 0 <= i < labels.size:
                raise ValueError(f"group {gi} holds index {i}, outside 0..{labels.size - 1}")
            if i in seen:
                raise ValueError(f"index {i} appears in more than one group")
            seen.add(int(i))
        label, count = Counter(labels[g].tolist()).most_common(1)[0]
        per_group.append({"label": label, "size": len(g), "precision": count / len(g)})
    n_grouped = sum(p["size"] for p in per_group)
    hits = sum(p["precision"] * p["size"] for p in per_group)
    return {"precision": hits / n_grouped,
            "mean_group_precision": float(np.mean([p["precision"] for p in per_group])),
            "n_groups": len(groups), "n_grouped": n_grouped, "coverage": n_grouped / labels.size,
            "per_group": per_group}


def expected_ari_of_random(labels_true: Any, k: int, seed: int = 0, repeats: int = 5) -> float:
    """The mean ARI of ``repeats`` uniformly random partitions into ``k`` clusters (close to 0)."""
    a = _as_labels(labels_true, "labels_true")
    k = _check_k(k, a.size)
    _check_seed(seed)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    rng = np.random.default_rng(seed)
    return float(np.mean([adjusted_rand_index(a, rng.integers(0, k, size=a.size)) for _ in range(repeats)]))
