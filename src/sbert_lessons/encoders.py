"""Small GloVe-based bi-encoders and their (cached) Siamese training (introduced in chapter 5, ``05_losses``).

Chapter 5 trains sentence encoders from a weak start on a CPU in seconds to minutes:

``avg``
    the plain average of frozen GloVe 6B-50d vectors over regex tokens (punctuation and stop words
    kept): the baseline of chapter 2, nothing trained.
``mean``
    the same average followed by a small trainable ``Linear`` layer (50 -> ``out_dim``).
``bilstm``
    InferSent-style: frozen GloVe, a bidirectional LSTM, max pooling over the real tokens.

Each is a ``torch.nn.Module`` with an ``encode(texts, ...)`` method that follows the
``SentenceTransformer.encode`` protocol, so ``cache.encode`` and ``evaluation.evaluate_sts`` use it as
they use any model. Training is a plain torch loop over the from-scratch objectives of
:mod:`sbert_lessons.losses` (shown equal to the library's in chapter 5), with Adam and an explicit
linear warm-up; :func:`trained_encoder` caches the result with ``cache.cached_model``, keyed by profile,
recipe and a hash of the training data.

To keep models small and fast, the frozen embedding matrix holds only the GloVe words that occur in
the course's STS-B and SNLI texts (:func:`course_vocabulary`), not all 400,000: the vectors of those
words are unchanged, and a word outside that list is dropped, as a word outside GloVe is.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import cache, training
from . import losses as L

TOKEN_RE = re.compile(r"\w+|[^\w\s]")

def _glove_recipe(loss: str, data: str, epochs: int, batch_size: int, eval_every: int,
                  **arch: Any) -> training.Recipe:
    """Chapter 5's training set-up as a :class:`~sbert_lessons.training.Recipe`: Adam without weight
    decay at lr 2e-3 (only a small layer learns), 10 % warm-up with the loop's shifted linear schedule,
    no gradient clipping; the architecture goes into ``options``."""
    return training.Recipe(epochs=epochs, batch_size=batch_size, lr=2e-3, warmup_fraction=0.1, loss=loss,
                           data=data, eval_every=eval_every, optimizer="adam", weight_decay=0.0,
                           schedule="linear_shifted", max_grad_norm=None, options=tuple(arch.items()))


#: Chapter 5's recipes, in the course's one recipe type (``training.Recipe``).
GLOVE_RECIPES: dict[str, training.Recipe] = {
    "nli_softmax": _glove_recipe("softmax", "snli_pairs", 8, 16, 100, arch="mean", out_dim=512),
    "nli_mnrl": _glove_recipe("mnrl", "snli_triplets", 4, 64, 20, arch="mean", out_dim=256),
    "bilstm_mnrl": _glove_recipe("mnrl", "snli_triplets", 3, 64, 20, arch="bilstm", hidden=128),
}


def recipe_dict(rec: training.Recipe) -> dict[str, Any]:
    """The plain-dict view of a chapter-5 recipe (what :func:`recipe` returns and the cache key holds)."""
    if not isinstance(rec, training.Recipe):
        raise TypeError(f"recipe_dict expects a training.Recipe, got {type(rec).__name__}")
    d: dict[str, Any] = dict(rec.options)
    d.update({"objective": rec.loss, "data": rec.data, "epochs": rec.epochs, "batch_size": rec.batch_size,
              "lr": rec.lr, "warmup": rec.warmup_fraction, "eval_every": rec.eval_every})
    return d


_DICT_FIELDS = {"objective": "loss", "data": "data", "epochs": "epochs", "batch_size": "batch_size",
                "lr": "lr", "warmup": "warmup_fraction", "eval_every": "eval_every"}


def as_recipe(rec: dict[str, Any] | training.Recipe, seed: int = 0) -> training.Recipe:
    """A chapter-5 recipe dict (as :func:`recipe` returns, possibly edited) as a validated ``Recipe``.

    Keys other than the recipe's fields (``arch``, ``out_dim``, ``hidden``, ``hard_negatives``,
    ``scale``) become options. Bad values raise ``ValueError`` / ``TypeError`` naming the field.
    """
    if isinstance(rec, training.Recipe):
        return rec
    if not isinstance(rec, dict):
        raise TypeError(f"a recipe must be a dict or a training.Recipe, got {type(rec).__name__}")
    missing = [k for k in ("objective", "epochs", "batch_size", "lr", "warmup") if k not in rec]
    if missing:
        raise ValueError(f"the recipe has no {', '.join(missing)}")
    if rec["objective"] not in ("softmax", "mnrl"):
        raise ValueError(f"unknown objective {rec['objective']!r}: chapter 5 trains 'softmax' or 'mnrl'")
    fields = {_DICT_FIELDS[k]: v for k, v in rec.items() if k in _DICT_FIELDS}
    fields.setdefault("eval_every", None)
    options = tuple((k, v) for k, v in rec.items() if k not in _DICT_FIELDS)
    return training.Recipe(**fields, seed=seed, optimizer="adam", weight_decay=0.0,
                           schedule="linear_shifted", max_grad_norm=None, options=options)


#: Training recipes as plain dicts (the hyper-parameters are part of each trained model's cache key).
#: ``smoke`` overrides apply in the smoke profile only; everything else is identical in both profiles.
RECIPES: dict[str, dict[str, Any]] = {name: recipe_dict(r) for name, r in GLOVE_RECIPES.items()}
SMOKE_OVERRIDES: dict[str, dict[str, Any]] = {
    "bilstm_mnrl": {"epochs": 2},
}
NLI_LABELS = ("entailment", "neutral", "contradiction")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"A man's hat."`` -> ``a man ' s hat .``"""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    return TOKEN_RE.findall(text.lower())


def recipe(name: str, profile: str) -> dict[str, Any]:
    """The hyper-parameters of recipe ``name`` in ``profile`` ("smoke" or "full")."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    if profile not in ("smoke", "full"):
        raise ValueError(f"profile must be 'smoke' or 'full', got {profile!r}")
    r = dict(RECIPES[name])
    if profile == "smoke":
        r.update(SMOKE_OVERRIDES.get(name, {}))
    return r


# ------------------------------------------------------------------------------------ vocabulary
def course_texts() -> list[str]:
    """Every STS-B and SNLI sentence of the offline mirror (the texts the chapter-5 encoders meet)."""
    from . import data

    cols: list[Sequence[str]] = []
    for split in ("train", "validation", "test"):
        df = data.load_stsb(split)
        cols += [df["sentence1"], df["sentence2"]]
    for split in ("train_sample", "validation", "test"):
        df = data.load_snli(split)
        cols += [df["premise"], df["hypothesis"]]
    return data.unique_texts(*cols)


def course_vocabulary(glove: Any, texts: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """The GloVe words occurring in ``texts`` (default :func:`course_texts`), sorted, and their vectors."""
    texts = course_texts() if texts is None else texts
    seen = {tok for t in texts for tok in tokenize(t)}
    words = sorted(w for w in seen if w in glove.index)
    if not words:
        raise ValueError("none of the texts' words is in GloVe")
    vectors = np.stack([glove.vectors[glove.index[w]] for w in words]).astype(np.float32)
    return words, vectors


# -------------------------------------------------------------------------------------- encoder
class GloveEncoder(nn.Module):
    """Frozen GloVe vectors -> (``avg`` | ``mean`` + Linear | ``bilstm`` + max) -> sentence vector."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, arch: str = "mean",
                 out_dim: int = 256, hidden: int = 128, seed: int = 0):
        super().__init__()
        if arch not in ("avg", "mean", "bilstm"):
            raise ValueError(f"arch must be 'avg', 'mean' or 'bilstm', got {arch!r}")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but a vector matrix of shape {vectors.shape}")
        self.words = list(words)
        self.index = {w: i + 1 for i, w in enumerate(self.words)}  # row 0 = padding
        self.config = {"arch": arch, "out_dim": int(out_dim), "hidden": int(hidden), "seed": int(seed)}
        matrix = torch.cat([torch.zeros(1, vectors.shape[1]), torch.from_numpy(vectors)])
        self.embedding = nn.Embedding.from_pretrained(matrix, freeze=True, padding_idx=0)
        dim = vectors.shape[1]
        g = torch.Generator().manual_seed(int(seed))
        if arch == "mean":
            self.dense = nn.Linear(dim, out_dim)
            self._init_from(g)
        elif arch == "bilstm":
            self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
            self._init_from(g)
        self.arch = arch
        self.max_seq_length = 128

    def _init_from(self, g: torch.Generator) -> None:
        for name, p in self.named_parameters():
            if p.requires_grad:
                with torch.no_grad():
                    if p.ndim >= 2:
                        bound = 1.0 / math.sqrt(p.shape[1])
                        p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
                    else:
                        p.zero_()

    @property
    def dim(self) -> int:
        return {"avg": self.embedding.embedding_dim, "mean": self.config["out_dim"],
                "bilstm": 2 * self.config["hidden"]}[self.arch]

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def tokenize_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``(batch, tokens)`` (0 = padding, unknown words dropped) and the attention mask."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not one string")
        ids = [[self.index[t] for t in tokenize(x) if t in self.index][: self.max_seq_length] for x in texts]
        if not ids:
            raise ValueError("empty batch of texts")
        width = max(1, max(len(i) for i in ids))
        out = torch.zeros(len(ids), width, dtype=torch.long)
        mask = torch.zeros(len(ids), width, dtype=torch.long)
        for r, row in enumerate(ids):
            out[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, : len(row)] = 1
        mask[:, 0] = 1  # a sentence with no known word pools its single (zero) padding vector
        return out.to(self.device), mask.to(self.device)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from .pooling import max_pool, mean_pool

        x = self.embedding(ids)
        if self.arch == "avg":
            return mean_pool(x, mask)
        if self.arch == "mean":
            return self.dense(mean_pool(x, mask))
        lengths = mask.sum(dim=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return max_pool(out, mask)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        return self(*self.tokenize_batch(texts))

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 256, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        was_training = self.training
        self.eval()
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got an empty list of texts")
        with torch_threads(1):
            parts = [self.embed(texts[i:i + batch_size]).cpu() for i in range(0, len(texts), batch_size)]
        self.train(was_training)
        emb = torch.cat(parts).numpy().astype(np.float32)
        if normalize_embeddings:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({k: v for k, v in self.state_dict().items()}, folder / "weights.pt")
        (folder / "config.json").write_text(json.dumps(self.config))
        (folder / "vocab.txt").write_text("\n".join(self.words) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> GloveEncoder:
        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        words = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        vectors = state["embedding.weight"][1:].numpy()
        model = cls(words, vectors, **cfg)
        model.load_state_dict(state)
        return fingerprint(model)


class torch_threads:
    """Run a block with ``n`` torch threads (then restore). Small models train many times faster on one
    thread than on two when the CPU is shared: thread synchronisation dominates their tiny operations."""

    def __init__(self, n: int = 1):
        self.n = n

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


def fingerprint(model: GloveEncoder) -> GloveEncoder:
    """Declare ``model``'s cache fingerprint: its tensors (the cache's own hash) plus its vocabulary,
    which maps tokens to rows and is not a tensor. Like every declared fingerprint, it lapses by itself
    after any in-place weight update (see :func:`sbert_lessons.cache.set_fingerprint`)."""
    weights = cache.tensor_hash(model)
    cache.set_fingerprint(model, f"glove-encoder:{weights}:vocab={cache.texts_hash(model.words)}")
    return model


# ------------------------------------------------------------------------------------- training
def training_data(kind: str) -> Any:
    """``snli_pairs``: SNLI ``train_sample`` (premise, hypothesis, label); ``snli_triplets``: the
    (premise, entailed, contradicting) triplets of SNLI validation + test. Never STS-B."""
    import pandas as pd

    from . import data

    if kind == "snli_pairs":
        df = data.load_snli("train_sample")
        return df[df["label"].isin(NLI_LABELS)].reset_index(drop=True)
    if kind == "snli_triplets":
        return pd.concat([data.snli_triplets("validation"), data.snli_triplets("test")], ignore_index=True)
    raise ValueError(f"unknown training data {kind!r}: 'snli_pairs' or 'snli_triplets'")


def data_hash(df: Any) -> str:
    from .cache import texts_hash

    return texts_hash([str(v) for col in df.columns for v in df[col]])


def warmup_linear(step: int, total: int, warmup_steps: int) -> float:
    """Learning-rate factor: linear warm-up from 0 to 1, then linear decay to 0 (chapter 5's
    ``linear_shifted`` schedule of :func:`sbert_lessons.training.warmup_factor`)."""
    if total <= 0:
        raise ValueError("total steps must be positive")
    return training.warmup_factor(step, total, warmup_steps, "linear_shifted")


def train(model: GloveEncoder, rec: dict[str, Any] | training.Recipe, df: Any, dev: Any = None,
          seed: int = 0) -> dict[str, Any]:
    """Train ``model`` in place with recipe ``rec`` (a dict as :func:`recipe` returns, or a
    ``training.Recipe``) on ``df``; return the history.

    The history holds the loss of every step, and the STS-B dev Spearman (×100) every
    ``eval_every`` steps (and before the first step) when a ``dev`` table is given. The optimizer, the
    warm-up schedule, the batches and the step come from :mod:`sbert_lessons.training`.
    """
    from .evaluation import sts_spearman

    r = as_recipe(rec, seed=seed)
    if r.loss not in ("softmax", "mnrl"):
        raise ValueError(f"unknown objective {r.loss!r}: chapter 5 trains 'softmax' or 'mnrl'")
    torch.manual_seed(seed)
    n = len(df)
    if n < 2:
        raise ValueError(f"need at least two training examples, got {n}")
    params = [p for p in model.parameters() if p.requires_grad]
    classifier = None
    label_ids = None
    if r.loss == "softmax":
        classifier = nn.Linear(3 * model.dim, len(NLI_LABELS))
        params += list(classifier.parameters())
        label_ids = torch.tensor([NLI_LABELS.index(x) for x in df["label"]])
    opt, sched = training.make_optimizer(params, r, n)
    hist: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "dev_spearman": []}

    def evaluate(step: int) -> None:
        if dev is None:
            return
        e1 = model.encode(list(dev["sentence1"]))
        e2 = model.encode(list(dev["sentence2"]))
        hist["eval_step"].append(step)
        hist["dev_spearman"].append(sts_spearman(e1, e2, dev["score"].to_numpy(dtype=float)))

    start = time.perf_counter()
    evaluate(0)
    model.train()
    with torch_threads(1):
        _loop(model, r, df, classifier, label_ids, opt, sched, seed, hist, evaluate)
    step = hist["step"][-1] if hist["step"] else 0
    if not hist["eval_step"] or hist["eval_step"][-1] != step:
        evaluate(step)
    hist["seconds"] = time.perf_counter() - start
    hist["total_steps"] = r.total_steps(n)
    model.eval()
    return hist


def _loop(model, r: training.Recipe, df, classifier, label_ids, opt, sched, seed, hist, evaluate) -> None:
    step = 0
    eval_every = r.eval_every or r.total_steps(len(df))
    for idx in training.batches(len(df), r.batch_size, r.epochs, seed):
        if len(idx) < 2:
            continue
        rows = df.iloc[idx]
        if classifier is not None:
            u, v = model.embed(list(rows["premise"])), model.embed(list(rows["hypothesis"]))
            loss = L.softmax_loss(u, v, label_ids[idx], classifier)
        else:
            a, p = model.embed(list(rows["anchor"])), model.embed(list(rows["positive"]))
            q = model.embed(list(rows["negative"])) if r.option("hard_negatives", True) else None
            loss = L.mnrl_loss(a, p, q, scale=float(r.option("scale", 20.0)))
        step += 1
        hist["step"].append(step)
        hist["loss"].append(training.optimizer_step(loss, opt.param_groups[0]["params"], opt, sched,
                                                    r.max_grad_norm))
        if step % eval_every == 0:
            evaluate(step)


def trained_encoder(name: str, profile: str, words: Sequence[str], vectors: np.ndarray,
                    dev: Any = None, seed: int = 0) -> tuple[GloveEncoder, dict[str, Any]]:
    """Recipe ``name`` trained once per (profile, recipe, data, vocabulary, dev set), then cached.

    Returns the trained model (with a cache fingerprint) and its training history.
    """
    from .cache import cached_model, key_of, texts_hash

    rec = recipe(name, profile)
    df = training_data(rec["data"])  # the key below holds the dict view, as it always has
    key = {"profile": profile, "recipe": name, "hyper": rec, "data": data_hash(df), "seed": seed,
           "base": "glove-6B-50d", "vocab": texts_hash(list(words)),
           "vectors": key_of(np.asarray(vectors, dtype=np.float32)[:: max(1, len(words) // 64)].round(5).tolist()),
           "dev": data_hash(dev) if dev is not None else None, "code": 1}

    def _train(folder: Path) -> None:
        model = GloveEncoder(words, vectors, arch=rec["arch"], out_dim=rec.get("out_dim", 256),
                             hidden=rec.get("hidden", 128), seed=seed)
        hist = train(model, as_recipe(rec, seed=seed), df, dev=dev, seed=seed)
        model.save(folder)
        (folder / "history.json").write_text(json.dumps(hist))

    folder = cached_model(f"ch05_glove_{name}", key, _train)
    model = GloveEncoder.load(folder)
    hist = json.loads((folder / "history.json").read_text())
    hist["n_train"] = len(df)
    return model, hist
