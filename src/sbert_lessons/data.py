"""Dataset registry and loaders, one documented schema per set (introduced in chapter 0).

Every loader reads the offline mirror named by ``$SBERT_LESSONS_DATA`` (the course's ``../shared/data``)
and checks each file's sha256 against that folder's ``MANIFEST.json`` before trusting it. Without the
variable, the loaders fall back to the real hub datasets (``datasets.load_dataset``) mapped to the same
schema. Smoke-profile subsets are defined here, once, and never ad hoc in a notebook.

Schemas (pandas DataFrames, one row per example):

========== ===================== ================================================================
set        splits                columns
========== ===================== ================================================================
stsb       train validation test ``sentence1, sentence2, score`` (0-5 float), ``genre, source, year``
snli       train_sample          ``premise, hypothesis, label`` (entailment / neutral /
           validation test       contradiction), ``pair_id, caption_id``
scifact    train test            :class:`SciFact` (``corpus``: ``_id, title, text``; ``queries``:
                                 ``_id, text``; ``qrels``: {query id: {doc id: score}})
clinc150   train val test        ``text, intent, domain, split`` (out-of-scope rows: intent and
           oos_train oos_val     domain ``oos``)
           oos_test all
banking77  train test            ``text, label``
corpus     all                   ``text`` (the 88,726 unique sentences of the sets above, less the
                                 5,406 lines that are STS-B evaluation sentences: 83,320)
========== ===================== ================================================================

The course corpus is built from STS-B's *all* splits, among others, so it holds every STS-B validation and
test sentence. :func:`load_corpus` leaves those out (:data:`HELD_OUT`; matched by :func:`sentence_key`,
which ignores case, punctuation and spacing), since the course fits things on the corpus (chapter 1's
word2vec, chapter 2's SIF word frequencies and common component) and scores them on STS-B;
``load_corpus(keep_held_out=True)`` is the
file as it is.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .cache import verify_sha256

ENV_DATA = "SBERT_LESSONS_DATA"
MANIFEST = "MANIFEST.json"


class DataUnavailableError(RuntimeError):
    """The offline mirror is missing or incomplete, and the hub cannot be used."""


class SplitError(ValueError):
    """An unknown split name (the message lists the valid ones)."""


class UnknownDatasetError(KeyError, ValueError):
    """An unknown dataset name (the message lists the known ones). A ``KeyError`` for old callers."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    splits: dict[str, str]             # split -> file inside the mirror
    columns: tuple[str, ...]
    hub_id: str
    license: str
    citation: str
    license_file: str = ""


DATASETS: dict[str, DatasetSpec] = {
    "stsb": DatasetSpec(
        "stsb", {s: f"stsb/{s}.jsonl" for s in ("train", "validation", "test")},
        ("sentence1", "sentence2", "score", "genre", "source", "year"),
        "sentence-transformers/stsb", "scores CC BY-SA 4.0; texts under their sources' terms",
        "Cer et al. (2017), SemEval-2017 Task 1: Semantic Textual Similarity", "stsb/LICENSE.txt"),
    "snli": DatasetSpec(
        "snli", {s: f"snli/{s}.jsonl.gz" for s in ("train_sample", "validation", "test")},
        ("premise", "hypothesis", "label", "pair_id", "caption_id"),
        "stanfordnlp/snli", "CC BY-SA 4.0",
        "Bowman et al. (2015), A large annotated corpus for learning natural language inference"),
    "scifact": DatasetSpec(
        "scifact", {"train": "scifact/qrels/train.tsv", "test": "scifact/qrels/test.tsv"},
        ("_id", "title", "text"), "BeIR/scifact", "claims CC BY 4.0, abstracts ODC-By 1.0",
        "Wadden et al. (2020), Fact or Fiction: Verifying Scientific Claims; "
        "Thakur et al. (2021), BEIR", "scifact/LICENSE.md"),
    "clinc150": DatasetSpec(
        "clinc150", {s: "clinc150/data.jsonl" for s in
                     ("train", "val", "test", "oos_train", "oos_val", "oos_test", "all")},
        ("text", "intent", "domain", "split"), "clinc_oos", "CC BY 3.0",
        "Larson et al. (2019), An Evaluation Dataset for Intent Classification and Out-of-Scope "
        "Prediction", "clinc150/LICENSE"),
    "banking77": DatasetSpec(
        "banking77", {s: f"banking77/{s}.jsonl" for s in ("train", "test")}, ("text", "label"),
        "PolyAI/banking77", "CC BY 4.0",
        "Casanueva et al. (2020), Efficient Intent Detection with Dual Sentence Encoders",
        "banking77/LICENSE"),
    "corpus": DatasetSpec(
        "corpus", {"all": "corpus/sentences.txt.gz"}, ("text",), "(derived; no hub copy)",
        "as its sources (STS-B, SNLI, CLINC150, Banking77)", "see the four source sets"),
}

#: Smoke-profile sizes, the one place where they are defined: (set, split) -> rows (None = all).
#: Test splits stay whole so that every profile reports comparable test figures.
SMOKE_ROWS: dict[tuple[str, str], int | None] = {
    ("stsb", "train"): 2_000,
    ("stsb", "validation"): 500,
    ("snli", "validation"): 2_000,
    ("clinc150", "train"): 3_000,
    ("banking77", "train"): 3_000,
    ("corpus", "all"): 10_000,
}
SMOKE_SCIFACT_DOCS = 1_000

#: Evaluation splits whose sentences the course corpus must not contain (see :func:`load_corpus`).
HELD_OUT: tuple[tuple[str, str], ...] = (("stsb", "validation"), ("stsb", "test"))
DEFAULT_SEED = 0


def _check_split(name: str, split: str) -> DatasetSpec:
    if not isinstance(name, str) or name not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if not isinstance(split, str) or split not in spec.splits:
        raise SplitError(f"{name} has no split {split!r}; valid splits: {', '.join(spec.splits)}")
    return spec


def data_root(required: bool = False) -> Path | None:
    """The offline mirror named by ``$SBERT_LESSONS_DATA`` (None when unset and not ``required``)."""
    value = os.environ.get(ENV_DATA, "").strip()
    if not value:
        if required:
            raise DataUnavailableError(
                f"no offline data: set {ENV_DATA} to the folder holding MANIFEST.json "
                "(in this course's checkout: ../shared/data)")
        return None
    root = Path(value).expanduser()
    if not (root / MANIFEST).is_file():
        raise DataUnavailableError(
            f"{ENV_DATA}={value!r} is not a data folder: {root / MANIFEST} does not exist. "
            f"Point {ENV_DATA} at the folder that holds MANIFEST.json (../shared/data), or unset it "
            "to download from the Hugging Face hub.")
    return root


_MANIFESTS: dict[Path, dict] = {}


def manifest(root: Path | None = None) -> dict:
    """The mirror's ``MANIFEST.json``: ``{relative path: {"sha256": ..., "rows": ...}}``, checked."""
    root = root or data_root(required=True)
    if root not in _MANIFESTS:
        path = root / MANIFEST
        fix = "restore it from the course's data mirror (../shared/data)"
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataUnavailableError(f"{path} cannot be read as JSON ({type(exc).__name__}: {exc}); {fix}") from exc
        if not isinstance(content, dict):
            raise DataUnavailableError(f"{path} must hold a JSON object of files, got a {type(content).__name__}; "
                                       f"{fix}")
        for rel, entry in content.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                    and len(entry["sha256"]) == 64):
                raise DataUnavailableError(f"{path}: the entry for {rel!r} has no valid sha256 "
                                           f"(got {entry!r:.80}); {fix}")
            rows = entry.get("rows")
            if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
                raise DataUnavailableError(f"{path}: the entry for {rel!r} has an invalid row count {rows!r}; {fix}")
        _MANIFESTS[root] = content
    return _MANIFESTS[root]


def verified_file(rel: str, root: Path | None = None) -> Path:
    """Path of ``rel`` inside the mirror after its sha256 matched ``MANIFEST.json`` (refused otherwise)."""
    root = root or data_root(required=True)
    entry = manifest(root).get(rel)
    if entry is None:
        raise DataUnavailableError(f"{rel} is not listed in {root / MANIFEST}")
    path = root / rel
    if not path.is_file():
        raise DataUnavailableError(f"{path} is listed in the manifest but missing; restore the mirror")
    return verify_sha256(path, entry["sha256"], "data file")


def _read_lines(path: Path) -> list[str]:
    """The file's lines (gunzipped for ``.gz``); a truncated or undecodable file raises
    :class:`DataUnavailableError` naming it, even when its checksum matched the manifest."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read().splitlines()
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as exc:
        raise DataUnavailableError(
            f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}), although its sha256 matched the "
            "manifest: the manifest was made from a damaged copy. Restore the file and its MANIFEST.json "
            "entry from the course's data mirror.") from exc


def _read_jsonl(rel: str, root: Path) -> pd.DataFrame:
    path = verified_file(rel, root)
    rows = []
    for n, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataUnavailableError(f"{path}, line {n}: not valid JSON ({exc}); the file is damaged: "
                                       "restore it from the course's data mirror") from exc
        if not isinstance(row, dict):
            raise DataUnavailableError(f"{path}, line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    expected = manifest(root)[rel].get("rows")
    if expected is not None and len(rows) != expected:
        raise DataUnavailableError(f"{rel}: {len(rows)} rows, the manifest says {expected}")
    return pd.DataFrame(rows)


def _hub(name: str, *args: Any, **kwargs: Any):
    """``datasets.load_dataset`` with a clear error when the hub cannot be reached."""
    try:
        from datasets import load_dataset

        return load_dataset(*args, **kwargs)
    except Exception as exc:
        raise DataUnavailableError(
            f"{name}: {ENV_DATA} is unset and the hub download failed ({type(exc).__name__}: {exc}). "
            f"Set {ENV_DATA} to the offline mirror (../shared/data).") from exc


# --------------------------------------------------------------------------------------- loaders
def load_stsb(split: str) -> pd.DataFrame:
    spec = _check_split("stsb", split)
    root = data_root()
    if root is not None:
        df = _read_jsonl(spec.splits[split], root)
    else:
        ds = _hub("stsb", spec.hub_id, split=split).to_pandas()
        df = pd.DataFrame({"sentence1": ds["sentence1"], "sentence2": ds["sentence2"],
                           "score": ds["score"].astype(float) * 5.0,  # the hub copy scales to 0-1
                           "genre": None, "source": None, "year": None})
    df["score"] = df["score"].astype(float)
    return df[list(spec.columns)]


_SNLI_LABELS = ("entailment", "neutral", "contradiction")


def load_snli(split: str) -> pd.DataFrame:
    spec = _check_split("snli", split)
    root = data_root()
    if root is not None:
        return _read_jsonl(spec.splits[split], root)[list(spec.columns)]
    hub_split = "train" if split == "train_sample" else split
    ds = _hub("snli", spec.hub_id, split=hub_split).to_pandas()
    ds = ds[ds["label"] >= 0].reset_index(drop=True)
    if split == "train_sample":  # the mirror holds a 1% sample of train; draw the same share
        ds = ds.sample(frac=0.01, random_state=DEFAULT_SEED).reset_index(drop=True)
    return pd.DataFrame({"premise": ds["premise"], "hypothesis": ds["hypothesis"],
                         "label": [_SNLI_LABELS[i] for i in ds["label"]],
                         "pair_id": None, "caption_id": None})


@dataclass
class SciFact:
    """SciFact in BEIR layout: ``qrels[query_id][doc_id] = relevance`` for the split's queries."""

    corpus: pd.DataFrame
    queries: pd.DataFrame
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)


def load_scifact(split: str = "test") -> SciFact:
    spec = _check_split("scifact", split)
    root = data_root()
    if root is not None:
        corpus = _read_jsonl("scifact/corpus.jsonl.gz", root)
        queries = _read_jsonl("scifact/queries.jsonl", root)
        qrels_df = pd.read_csv(verified_file(spec.splits[split], root), sep="\t", dtype=str)
    else:
        corpus = _hub("scifact", "BeIR/scifact", "corpus", split="corpus").to_pandas()
        queries = _hub("scifact", "BeIR/scifact", "queries", split="queries").to_pandas()
        qrels_df = _hub("scifact", "BeIR/scifact-qrels", split=split).to_pandas().astype(str)
    qrels: dict[str, dict[str, int]] = {}
    for q, d, s in zip(qrels_df["query-id"], qrels_df["corpus-id"], qrels_df["score"]):
        qrels.setdefault(str(q), {})[str(d)] = int(float(s))
    corpus = corpus.astype({"_id": str})[["_id", "title", "text"]]
    queries = queries.astype({"_id": str})
    queries = queries[queries["_id"].isin(qrels)][["_id", "text"]].reset_index(drop=True)
    return SciFact(corpus=corpus.reset_index(drop=True), queries=queries, qrels=qrels)


def load_clinc150(split: str = "all") -> pd.DataFrame:
    spec = _check_split("clinc150", split)
    root = data_root()
    if root is not None:
        df = _read_jsonl("clinc150/data.jsonl", root)
    else:
        frames = []
        for hub_split, ours in (("train", "train"), ("validation", "val"), ("test", "test")):
            ds = _hub("clinc150", spec.hub_id, "plus", split=hub_split)
            names = ds.features["intent"].names
            part = ds.to_pandas()
            intent = [names[i] for i in part["intent"]]
            frames.append(pd.DataFrame({
                "text": part["text"], "intent": intent, "domain": None,
                "split": [("oos_" + ours) if i == "oos" else ours for i in intent]}))
        df = pd.concat(frames, ignore_index=True)
    if split != "all":
        df = df[df["split"] == split].reset_index(drop=True)
    return df[list(spec.columns)]


def load_banking77(split: str) -> pd.DataFrame:
    spec = _check_split("banking77", split)
    root = data_root()
    if root is not None:
        return _read_jsonl(spec.splits[split], root)[list(spec.columns)]
    ds = _hub("banking77", spec.hub_id, split=split)
    names = ds.features["label"].names
    part = ds.to_pandas()
    return pd.DataFrame({"text": part["text"], "label": [names[i] for i in part["label"]]})


_WORD = re.compile(r"[a-z0-9]+")


def sentence_key(s: str) -> str:
    """What two sentences must share to count as the same one: their lower-case letter and digit runs, in
    order ("Yes, you got it." and "yes you got it" match; punctuation and spacing do not count)."""
    return " ".join(_WORD.findall(s.lower()))


def scifact_test_twins(train: SciFact, test: SciFact | None = None) -> list[str]:
    """The ids of ``train``'s claims whose text is also a claim of ``test`` (default: SciFact's whole test
    split), compared as :func:`sentence_key` keys, in ``train``'s order.

    SciFact's BEIR split has such twins: the same sentence under a train id and a test id, citing the same
    abstract (2 of the 809 train claims, ids 871 and 1291). A claim that is tuned or trained on must not be
    one of them (chapters 7 and 8)."""
    for name, sf in (("train", train), ("test", test)):
        if sf is not None and not isinstance(sf, SciFact):
            raise TypeError(f"{name} must be a data.SciFact (corpus, queries, qrels), got {type(sf).__name__}")
    test = load_scifact("test") if test is None else test
    keys = {sentence_key(t) for t in test.queries["text"]}
    return [str(q) for q, t in zip(train.queries["_id"], train.queries["text"]) if sentence_key(t) in keys]


def held_out_sentences() -> set[str]:
    """The sentences of every :data:`HELD_OUT` split, as :func:`sentence_key` keys."""
    out: set[str] = set()
    for name, split in HELD_OUT:
        df = LOADERS[name](split)
        for col in ("sentence1", "sentence2"):
            out.update(sentence_key(t) for t in df[col])
    return out


def load_corpus(split: str = "all", keep_held_out: bool = False) -> pd.DataFrame:
    """The course corpus, without the STS-B validation and test sentences unless ``keep_held_out``.

    ``df.attrs["held_out_removed"]`` says how many sentences were left out."""
    spec = _check_split("corpus", split)
    root = data_root(required=True)  # derived set: it exists only in the mirror
    lines = _read_lines(verified_file(spec.splits[split], root))
    expected = manifest(root)[spec.splits[split]].get("rows")
    if expected is not None and len(lines) != expected:
        raise DataUnavailableError(f"corpus: {len(lines)} sentences, the manifest says {expected}")
    kept = lines
    if not keep_held_out:
        held = held_out_sentences()
        kept = [t for t in lines if sentence_key(t) not in held]
    df = pd.DataFrame({"text": kept})
    df.attrs["held_out_removed"] = len(lines) - len(kept)
    return df


LOADERS: dict[str, Callable[..., Any]] = {
    "stsb": load_stsb, "snli": load_snli, "scifact": load_scifact, "clinc150": load_clinc150,
    "banking77": load_banking77, "corpus": load_corpus,
}


def sample_rows(df: pd.DataFrame, n: int | None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """A seeded sample of ``n`` rows (all rows, in order, when ``n`` is None or not smaller)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))):
        raise TypeError(f"sample size must be an integer or None, got {type(n).__name__}")
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    if n <= 0:
        raise ValueError(f"sample size must be positive, got {n}")
    return df.sample(n=n, random_state=seed).reset_index(drop=True)


def load(name: str, split: str, profile: str | None = None, seed: int = DEFAULT_SEED):
    """Load ``name``/``split``, cut to the smoke size of ``SMOKE_ROWS`` when the profile is smoke."""
    from .profile import active, get_profile

    _check_split(name, split)
    prof = get_profile(profile) if profile else active().name
    data = LOADERS[name](split)
    if name == "scifact":
        return scifact_subset(data, prof, seed=seed)
    if prof == "smoke":
        return sample_rows(data, SMOKE_ROWS.get((name, split)), seed=seed)
    return data


def scifact_subset(sf: SciFact, profile: str, n_docs: int = SMOKE_SCIFACT_DOCS,
                   seed: int = DEFAULT_SEED) -> SciFact:
    """Smoke SciFact: every document judged for the split's queries plus seeded distractors."""
    if profile != "smoke":
        return sf
    judged = {d for docs in sf.qrels.values() for d in docs}
    is_judged = sf.corpus["_id"].isin(judged)
    others = sf.corpus[~is_judged]
    extra = max(0, n_docs - int(is_judged.sum()))
    pick = others.sample(n=min(extra, len(others)), random_state=seed)
    corpus = pd.concat([sf.corpus[is_judged], pick]).sort_index().reset_index(drop=True)
    return SciFact(corpus=corpus, queries=sf.queries, qrels=sf.qrels)


def snli_triplets(split: str) -> pd.DataFrame:
    """(anchor, positive, negative): premise, an entailed and a contradicting hypothesis of it."""
    df = load_snli(split)
    ent = df[df["label"] == "entailment"].drop_duplicates("premise")[["premise", "hypothesis"]]
    con = df[df["label"] == "contradiction"].drop_duplicates("premise")[["premise", "hypothesis"]]
    t = ent.merge(con, on="premise", suffixes=("_pos", "_neg"))
    return pd.DataFrame({"anchor": t["premise"], "positive": t["hypothesis_pos"],
                         "negative": t["hypothesis_neg"]}).reset_index(drop=True)


def attribution(name: str) -> str:
    spec = DATASETS[name]
    lic = f" (`{spec.license_file}` in the data mirror)" if spec.license_file else ""
    return f"**{name}** — license {spec.license}{lic}; cite {spec.citation}; hub id `{spec.hub_id}`"


def unique_texts(*columns: Any) -> list[str]:
    """The distinct texts of several columns, in first-seen order (encode once, look up many)."""
    seen: dict[str, None] = {}
    for n, col in enumerate(columns):
        if isinstance(col, str):
            raise TypeError(f"unique_texts takes columns (lists of texts); argument {n} is one string: "
                            "wrap it as [text]")
        for t in col:
            seen.setdefault(t, None)
    return list(seen)


def stsb_gold(df: pd.DataFrame) -> np.ndarray:
    """The gold STS-B scores (0-5) as floats, in row order (chapter 2 plots predictions against them)."""
    if "score" not in getattr(df, "columns", ()):
        raise ValueError(f"stsb_gold needs an STS-B table with a 'score' column; got columns "
                         f"{list(getattr(df, 'columns', []))}")
    return df["score"].to_numpy(dtype=float)
