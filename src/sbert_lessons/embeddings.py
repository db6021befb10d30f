"""Word vectors and sentences made of them (introduced in chapters 1 and 2).

Chapter 1 (``notebooks/01_word_embeddings.ipynb``) introduces the word-level tools:
:func:`tokenize`, :func:`cosine` (written from scratch), :func:`nearest`, :func:`analogy` (3CosAdd),
and the two benchmark evaluations over the files gensim ships (:func:`evaluate_analogies`,
:func:`evaluate_word_pairs`), which always report their *coverage*: the share of the benchmark whose
words the vocabulary knows. Word vectors are held in :class:`sbert_lessons.models.GloVe`
(``words``, ``vectors``, ``index``); :func:`from_keyed_vectors` wraps a gensim model the same way.

Chapter 2 (``notebooks/02_averaging_failures.ipynb``) builds sentence vectors by averaging word vectors:
the plain average (:func:`average_vectors`), the average without stop words and punctuation
(:func:`content_tokens`), and SIF (Arora et al. 2017): weights ``a / (a + p(w))`` from word
frequencies (:func:`word_frequencies`, :func:`sif_weights`) followed by removing the first principal
component (:func:`first_principal_component`, :func:`remove_component`). The component is fitted on
whatever matrix the caller passes; chapter 2 fits it on the evaluated sentences themselves, as the
paper does, and says so.

Bad input never turns into NaN silently: an empty sentence or one whose words are all out of the
vocabulary raises a :class:`ValueError` naming the sentence, unless the caller asks for the documented
zero vector (``empty="zero"``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TOKEN_RE",
    "analogy",
    "average_vectors",
    "content_tokens",
    "cosine",
    "cosine_to_all",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "first_principal_component",
    "from_keyed_vectors",
    "load_analogies",
    "load_word_pairs",
    "nearest",
    "remove_component",
    "sif_weights",
    "stable_hash",
    "stop_words",
    "tokenize",
    "unit_vectors",
    "word_frequencies",
]

#: A run of ASCII letters/digits, or any other single non-space character (punctuation, an accented
#: letter): applied to lower-cased text, so "Don't!" -> ["don", "'", "t", "!"].
TOKEN_RE = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


# ------------------------------------------------------------------------------------ chapter 1
def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and single punctuation marks (chapter 1).

    ``"The dog's bone."`` -> ``['the', 'dog', "'", 's', 'bone', '.']``. Simple on purpose: it is the
    tokenizer whose plain GloVe average chapter 2 measures.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    return TOKEN_RE.findall(text.lower())


def _as_vector(x: Any, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D vector, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return v


def cosine(u: Any, v: Any) -> float:
    """Cosine similarity ``u·v / (|u| |v|)`` of two vectors, from scratch (chapter 1).

    Raises ``ValueError`` for vectors of different lengths or a zero vector (no direction, so no angle).
    """
    u, v = _as_vector(u, "u"), _as_vector(v, "v")
    if u.shape != v.shape:
        raise ValueError(f"cosine needs two vectors of one length, got {u.size} and {v.size}")
    with np.errstate(over="ignore", under="ignore"):
        nu, nv = np.sqrt(u @ u), np.sqrt(v @ v)
    if not (_SAFE_LO < nu < _SAFE_HI and _SAFE_LO < nv < _SAFE_HI):  # zero, or a square sum out of range
        if not (u.any() and v.any()):
            raise ValueError("cosine is undefined for a zero vector")
        u, v = u / np.abs(u).max(), v / np.abs(v).max()  # cosine does not depend on scale
        nu, nv = np.sqrt(u @ u), np.sqrt(v @ v)
    return float((u @ v) / (nu * nv))


#: Norms whose square sum stays a normal float64 (float32 for word vectors); outside, rows are scaled by
#: their largest entry first, since a square sum that overflows or goes subnormal loses the direction.
_SAFE_LO, _SAFE_HI, _SAFE_LO32 = 1e-150, 1e150, 1e-18


def _unit_rows(m: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(m, axis=1, keepdims=True)
    if not np.isfinite(norms).all() or ((norms < _SAFE_LO32) & (m != 0).any(axis=1, keepdims=True)).any():
        top = np.abs(m).max(axis=1, keepdims=True)  # rows whose square sum over/underflows: scale first
        m = m / np.where(top == 0, 1.0, top)
        norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def _check_finite_rows(m: np.ndarray, wv: Any) -> None:
    bad = ~np.isfinite(m).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        word = wv.words[i] if i < len(getattr(wv, "words", ())) else f"row {i}"
        raise ValueError(f"{int(bad.sum())} word vector(s) contain NaN or infinite values (first: {word!r}); "
                         "they would rank arbitrarily: fix or drop them")


_UNIT_CACHE: dict[int, tuple[Any, np.ndarray]] = {}


def unit_vectors(wv: Any) -> np.ndarray:
    """Row-normalised copy of ``wv.vectors`` (cached per object; zero rows stay zero)."""
    hit = _UNIT_CACHE.get(id(wv))
    if hit is not None and hit[0] is wv:
        return hit[1]
    vectors = np.asarray(wv.vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"word vectors must be a (words, dim) matrix, got shape {vectors.shape}")
    _check_finite_rows(vectors, wv)
    unit = _unit_rows(vectors).astype(np.float32)
    _UNIT_CACHE[id(wv)] = (wv, unit)
    return unit


def cosine_to_all(wv: Any, query: Any) -> np.ndarray:
    """Cosine of ``query`` (a word or a vector) with every word of ``wv`` (chapter 1)."""
    q = _query_vector(wv, query)
    with np.errstate(over="ignore", under="ignore"):
        n = np.linalg.norm(q)
    if not _SAFE_LO < n < _SAFE_HI:
        if not q.any():
            raise ValueError("the query vector is zero: cosine is undefined")
        q = q / np.abs(q).max()  # a square sum that over/underflows: scale first
        n = np.linalg.norm(q)
    return unit_vectors(wv) @ (q / n).astype(np.float32)


def _query_vector(wv: Any, query: Any) -> np.ndarray:
    if isinstance(query, str):
        if query not in wv.index:
            raise KeyError(f"{query!r} is not in the vocabulary")
        return np.asarray(wv.vectors[wv.index[query]], dtype=np.float64)
    q = _as_vector(query, "query")
    if q.size != wv.vectors.shape[1]:
        raise ValueError(f"query has {q.size} dimensions, the vectors have {wv.vectors.shape[1]}")
    return q


def nearest(wv: Any, query: Any, k: int = 10, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
    """The ``k`` words most cosine-similar to ``query`` (a word, excluded itself, or a vector)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if isinstance(exclude, (str, bytes)):
        raise TypeError(f"exclude must be a list of words, not one string: write exclude=[{exclude!r}] "
                        "(a string would exclude its letters)")
    exclude = list(exclude)
    if not all(isinstance(w, str) for w in exclude):
        raise TypeError("exclude must hold words (strings)")
    sims = cosine_to_all(wv, query).copy()
    banned = set(exclude) | ({query} if isinstance(query, str) else set())
    for w in banned:
        if w in wv.index:
            sims[wv.index[w]] = -np.inf
    k = min(k, len(sims) - len({w for w in banned if w in wv.index}))
    if k < 1:
        return []
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [(wv.words[i], float(sims[i])) for i in top]


def analogy(wv: Any, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
    """``a`` is to ``b`` as ``c`` is to ...? 3CosAdd: the words nearest ``b - a + c`` (unit vectors),
    excluding the three query words (chapter 1). ``analogy(glove, "man", "king", "woman")`` -> queen.
    """
    for w in (a, b, c):
        if w not in wv.index:
            raise KeyError(f"{w!r} is not in the vocabulary")
    unit = unit_vectors(wv)
    target = unit[wv.index[b]] - unit[wv.index[a]] + unit[wv.index[c]]
    return nearest(wv, target, k=k, exclude=(a, b, c))


def load_analogies(path: str | Path) -> list[tuple[str, tuple[str, str, str, str]]]:
    """Read a word2vec ``questions-words.txt`` file: ``(section, (a, b, c, d))`` per question, lower-cased."""
    out, section = [], None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if len(words) != 4 or section is None:
            raise ValueError(f"{path}: malformed analogy line {line!r}")
        out.append((section, tuple(words)))
    if not out:
        raise ValueError(f"{path} holds no analogy questions")
    return out


def evaluate_analogies(wv: Any, path: str | Path, restrict_vocab: int | None = None,
                       batch_size: int = 256):
    """Accuracy of 3CosAdd on an analogy file, per section, with coverage (chapter 1).

    Only the first ``restrict_vocab`` words of ``wv`` (the most frequent, for GloVe and word2vec) are
    candidates and known; a question counts as *covered* when its four words are known. Accuracy is
    over covered questions (as in gensim's ``evaluate_word_analogies``). Sections named ``gram*`` are
    syntactic, the others semantic. Returns a DataFrame with one row per section plus ``semantic``,
    ``syntactic`` and ``total`` rows: ``questions, covered, coverage, correct, accuracy``.
    """
    import pandas as pd

    questions = load_analogies(path)
    n_vocab = len(wv.words) if restrict_vocab is None else min(int(restrict_vocab), len(wv.words))
    if n_vocab < 4:
        raise ValueError(f"restrict_vocab must leave at least 4 words, got {n_vocab}")
    unit = unit_vectors(wv)[:n_vocab]
    idx = {w: i for w, i in wv.index.items() if i < n_vocab}
    covered = [(s, q) for s, q in questions if all(w in idx for w in q)]
    correct = np.zeros(len(covered), dtype=bool)
    for start in range(0, len(covered), batch_size):
        chunk = covered[start:start + batch_size]
        ids = np.array([[idx[w] for w in q] for _, q in chunk])
        target = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
        sims = target @ unit.T
        rows = np.arange(len(chunk))
        for j in range(3):
            sims[rows, ids[:, j]] = -np.inf
        correct[start:start + len(chunk)] = sims.argmax(axis=1) == ids[:, 3]
    per = pd.DataFrame({"section": [s for s, _ in covered], "correct": correct})
    total = pd.Series([s for s, _ in questions]).value_counts(sort=False)
    rows = []
    for section in dict.fromkeys(s for s, _ in questions):
        part = per[per["section"] == section]
        rows.append((section, int(total[section]), len(part), int(part["correct"].sum())))
    df = pd.DataFrame(rows, columns=["section", "questions", "covered", "correct"])
    syn = df["section"].str.startswith("gram")
    summary = [("semantic", ~syn), ("syntactic", syn), ("total", slice(None))]
    extra = pd.DataFrame([(name, int(df.loc[m, "questions"].sum()), int(df.loc[m, "covered"].sum()),
                           int(df.loc[m, "correct"].sum())) for name, m in summary], columns=df.columns)
    df = pd.concat([df, extra], ignore_index=True)
    df["coverage"] = df["covered"] / df["questions"]
    with np.errstate(invalid="ignore", divide="ignore"):
        df["accuracy"] = np.where(df["covered"] > 0, df["correct"] / df["covered"].clip(lower=1), np.nan)
    return df.set_index("section")[["questions", "covered", "coverage", "correct", "accuracy"]]


def load_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """Read a tab-separated ``word1 word2 score`` file (``#`` lines are comments), lower-cased."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise ValueError(f"{path}: malformed word-pair line {line!r}")
        out.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    if not out:
        raise ValueError(f"{path} holds no word pairs")
    return out


def evaluate_word_pairs(wv: Any, path: str | Path, restrict_vocab: int | None = None) -> dict[str, float]:
    """Spearman ×100 between cosine and human scores over the covered pairs of a word-similarity file.

    Returns ``{"spearman": ..., "pairs": ..., "covered": ..., "coverage": ...}`` (chapter 1). Pairs with
    an unknown word are skipped and counted, not guessed.
    """
    from .evaluation import spearman

    pairs = load_word_pairs(path)
    n_vocab = len(wv.words) if restrict_vocab is None else min(int(restrict_vocab), len(wv.words))
    known = [(a, b, s) for a, b, s in pairs if wv.index.get(a, n_vocab) < n_vocab
             and wv.index.get(b, n_vocab) < n_vocab]
    if len(known) < 2:
        raise ValueError(f"only {len(known)} of {len(pairs)} pairs of {path} are in the vocabulary")
    unit = unit_vectors(wv)
    cos = [float(unit[wv.index[a]] @ unit[wv.index[b]]) for a, b, _ in known]
    rho = 100.0 * spearman(cos, [s for _, _, s in known])
    return {"spearman": rho, "pairs": len(pairs), "covered": len(known), "coverage": len(known) / len(pairs)}


def from_keyed_vectors(kv: Any):
    """Wrap gensim ``KeyedVectors`` (e.g. ``Word2Vec(...).wv``) as a :class:`models.GloVe` record."""
    from .models import GloVe

    words = list(kv.index_to_key)
    return GloVe(words=words, vectors=np.asarray(kv.vectors, dtype=np.float32),
                 index={w: i for i, w in enumerate(words)})


def stable_hash(text: str) -> int:
    """A hash that does not change between Python processes (gensim's default, ``hash``, does unless
    ``PYTHONHASHSEED`` is fixed before start-up). Pass it as ``Word2Vec(hashfxn=stable_hash)``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


# ------------------------------------------------------------------------------------ chapter 2
def stop_words() -> frozenset[str]:
    """sentence-transformers' default English stop words (the list its ``WhitespaceTokenizer`` drops)."""
    try:
        from sentence_transformers.sentence_transformer.modules.tokenizer import ENGLISH_STOP_WORDS
    except ImportError:  # older layouts of sentence-transformers
        from sentence_transformers.models.tokenizer import ENGLISH_STOP_WORDS  # type: ignore
    return frozenset(ENGLISH_STOP_WORDS)


def content_tokens(tokens: Sequence[str], stop: Iterable[str] | None = None) -> list[str]:
    """``tokens`` without stop words and without tokens that hold no letter or digit (punctuation)."""
    stop = stop_words() if stop is None else frozenset(stop)
    return [t for t in tokens if t not in stop and any(ch.isalnum() for ch in t)]


def average_vectors(token_lists: Sequence[Sequence[str]], wv: Any,
                    weights: Mapping[str, float] | Callable[[str], float] | None = None,
                    empty: str = "raise") -> np.ndarray:
    """One vector per sentence: the (weighted) mean of its in-vocabulary word vectors (chapter 2).

    ``token_lists`` holds one token list per sentence (see :func:`tokenize`). Out-of-vocabulary tokens
    are skipped. ``weights`` maps a word to its weight (SIF: :func:`sif_weights`); words missing from a
    mapping get weight 1. A sentence with no in-vocabulary word raises ``ValueError`` naming it, or,
    with ``empty="zero"``, gets the zero vector (documented; downstream cosine will refuse it).
    Returns a float32 array ``(len(token_lists), dim)``.
    """
    if isinstance(token_lists, str) or (len(token_lists) and isinstance(token_lists[0], str)):
        raise TypeError("average_vectors takes a list of token lists, e.g. [tokenize(s) for s in sentences]")
    if empty not in ("raise", "zero"):
        raise ValueError(f"empty must be 'raise' or 'zero', got {empty!r}")
    if weights is None:
        weight_of: Callable[[str], float] = lambda w: 1.0
    elif callable(weights):
        weight_of = weights
    else:
        weight_of = lambda w: float(weights.get(w, 1.0))
    dim = wv.vectors.shape[1]
    out = np.zeros((len(token_lists), dim), dtype=np.float64)
    for i, tokens in enumerate(token_lists):
        ids = [wv.index[t] for t in tokens if t in wv.index]
        if not ids:
            if empty == "raise":
                what = "is empty" if not tokens else f"has no word in the vocabulary ({' '.join(tokens)[:60]!r})"
                raise ValueError(f"sentence {i} {what}: its average is undefined "
                                 "(pass empty='zero' for a zero vector)")
            continue
        w = np.array([weight_of(wv.words[j]) for j in ids], dtype=np.float64)
        if not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"sentence {i}: weights must be finite and sum to a positive number")
        out[i] = (w[:, None] * np.asarray(wv.vectors[ids], dtype=np.float64)).sum(axis=0) / w.sum()
    result = out.astype(np.float32)
    bad = ~np.isfinite(result).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"sentence {i}: its average has NaN or infinite values (a word vector holds NaN/inf, "
                         "or the values are too large for float32)")
    return result


def word_frequencies(token_lists: Iterable[Sequence[str]]) -> dict[str, float]:
    """Relative frequency ``p(w)`` of each token over a tokenized corpus (sums to 1)."""
    counts = Counter(t for tokens in token_lists for t in tokens)
    total = sum(counts.values())
    if total == 0:
        raise ValueError("word_frequencies got a corpus with no tokens")
    return {w: c / total for w, c in counts.items()}


def sif_weights(freqs: Mapping[str, float], a: float = 1e-3) -> dict[str, float]:
    """SIF weights ``a / (a + p(w))`` (Arora et al. 2017). Unseen words are not in the mapping, so
    :func:`average_vectors` gives them the largest weight, 1 (as if ``p(w) = 0``)."""
    if not a > 0:
        raise ValueError(f"the SIF parameter a must be positive, got {a}")
    return {w: a / (a + p) for w, p in freqs.items()}


def first_principal_component(x: Any) -> np.ndarray:
    """The unit first right-singular vector of ``x`` *without centring* (as Arora et al.'s code does)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need a 2-D matrix with at least two rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the matrix contains NaN or infinite values")
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    if s[0] == 0:
        raise ValueError("the matrix is all zeros: no principal component")
    pc = vt[0]
    return pc if pc[np.argmax(np.abs(pc))] > 0 else -pc  # fixed sign: reproducible across LAPACKs


def remove_component(x: Any, direction: Any) -> np.ndarray:
    """``x - (x·u) uᵀ`` for the unit vector ``u`` along ``direction``: the common component removed."""
    x = np.asarray(x, dtype=np.float64)
    u = _as_vector(direction, "direction")
    if x.ndim != 2 or x.shape[1] != u.size:
        raise ValueError(f"shapes do not match: x {x.shape}, direction {u.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    n = np.linalg.norm(u)
    if n == 0:
        raise ValueError("direction is the zero vector")
    u = u / n
    return (x - np.outer(x @ u, u)).astype(np.float32)
