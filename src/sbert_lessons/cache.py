"""On-disk cache of embeddings and trained models (introduced in chapter 0, used by every lesson).

Encoding is the cost centre on a CPU, and training even more so. Every lesson therefore encodes through
:func:`encode`, which keys each result by the model's weights and the exact texts, and trains through
:func:`cached_model`, keyed by the recipe and the data. Entries are written atomically (a temporary file
or folder, then a rename), carry a checksum, and a corrupt entry is recomputed, never used.

The folder is ``$SBERT_LESSONS_CACHE`` or ``~/.cache/sbert_lessons``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ENV_CACHE = "SBERT_LESSONS_CACHE"
COMPLETE_MARKER = ".complete"

_VERIFIED: dict[tuple[str, int, int], str] = {}


class ChecksumError(RuntimeError):
    """A file's sha256 is not the one the registry or manifest expects."""


def cache_root() -> Path:
    root = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "sbert_lessons").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str, what: str = "file") -> Path:
    """Check ``path`` against ``expected`` once per process (re-checked if the file changes).

    Raises :class:`ChecksumError` naming the file and both digests on a mismatch.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    got = _VERIFIED.get(key) or file_sha256(p)
    if got != expected.lower():
        _VERIFIED.pop(key, None)
        raise ChecksumError(
            f"{what} {p} has sha256 {got}, expected {expected}. The file is corrupt or was modified; "
            "reinstall the package or restore the file, and do not use it."
        )
    _VERIFIED[key] = got
    return p


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    raise TypeError(f"cannot put {type(o).__name__} into a cache key")


def key_of(parts: Any) -> str:
    """A stable sha256 of any JSON-serialisable description (dict keys are sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def texts_hash(texts: Iterable[str]) -> str:
    """sha256 over the texts, order included (each text is length-prefixed, so no two lists collide)."""
    h = hashlib.sha256()
    n = 0
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"texts must be strings; item {n} is {type(t).__name__}")
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
        n += 1
    h.update(n.to_bytes(8, "little"))
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success mark it complete and rename it into place.

    A crash leaves only a ``.tmp`` folder that is never read. An existing ``final`` without the
    completion marker is treated as half-written and replaced.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_complete(folder: Path) -> bool:
    return (Path(folder) / COMPLETE_MARKER).is_file()


# --------------------------------------------------------------------------------------- embeddings
def _param_probe(model: Any) -> tuple | None:
    """Identity and in-place version counter of every tensor: any optimizer step or load changes it."""
    state_dict = getattr(model, "state_dict", None)
    if state_dict is None:
        return None
    return tuple((k, id(t), t._version) for k, t in state_dict(keep_vars=True).items())


def tensor_hash(model: Any) -> str:
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return "tensors:" + h.hexdigest()


def set_fingerprint(model: Any, fingerprint: str) -> None:
    """Declare the content hash of ``model``'s current weights (the registry does this on load).

    The declaration holds only while the weights stay as they are: after any in-place update (a training
    step) :func:`model_fingerprint` hashes the tensors again, so a fine-tuned model never reuses the
    embeddings cached for its base.
    """
    model._sbert_lessons_fp_memo = (_param_probe(model), fingerprint)


def model_fingerprint(model: Any) -> str:
    """A content hash of a model's weights, memoised until the weights change."""
    probe = _param_probe(model)
    if probe is None:  # not a torch module (a stub, an ONNX wrapper): it must declare its fingerprint
        fp = getattr(model, "_sbert_lessons_fingerprint", None)
        if not fp:
            raise TypeError(f"cannot fingerprint a {type(model).__name__}: it has no state_dict(); "
                            "set its _sbert_lessons_fingerprint attribute")
        return fp
    memo = getattr(model, "_sbert_lessons_fp_memo", None)
    if memo is not None and memo[0] == probe:
        return memo[1]
    fp = tensor_hash(model)
    with contextlib.suppress(AttributeError, TypeError):
        set_fingerprint(model, fp)
    return fp


def model_structure(model: Any) -> str:
    """A hash of the model's architecture as its ``repr`` prints it (modules and their configs).

    Weights alone do not identify an encoder: the same transformer with CLS instead of mean pooling, or
    without the final normalisation, gives other vectors. A ``repr`` that embeds a memory address is not
    stable across processes, so such objects are described by their class name only.
    """
    text = repr(model)
    if re.search(r" at 0x[0-9a-fA-F]+", text):
        text = f"{type(model).__module__}.{type(model).__qualname__}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _model_device(model: Any) -> str:
    dev = getattr(model, "device", None)
    return str(getattr(dev, "type", dev) or "cpu")


def embeddings_path(key: str) -> Path:
    return cache_root() / "embeddings" / key[:2] / f"{key}.npy"


def _load_npy_checked(path: Path, expected_rows: int) -> np.ndarray | None:
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
        if file_sha256(path) != meta["sha256"]:
            return None
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError):
        return None
    if arr.ndim < 1 or arr.shape[0] != expected_rows or not np.isfinite(arr).all():
        return None
    return arr


def _save_npy(path: Path, arr: np.ndarray, meta: dict) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    data = buf.getvalue()
    _atomic_write_bytes(path, data)
    meta = dict(meta, sha256=hashlib.sha256(data).hexdigest(), shape=list(arr.shape))
    _atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())


def encode(model: Any, texts: Sequence[str], *, batch_size: int = 64, normalize: bool = False,
           use_cache: bool = True, **encode_kwargs: Any) -> np.ndarray:
    """Encode ``texts`` with a ``SentenceTransformer``-like ``model``, through the on-disk cache.

    Returns a float32 array of shape ``(len(texts), dim)``. The key is the model's fingerprint, the
    texts' hash, the device type, ``max_seq_length``, ``normalize`` and any other keyword passed on to
    ``model.encode`` (``batch_size`` does not change the result, so it is not part of the key).
    """
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not one string: wrap it as [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("encode() got an empty list of texts")
    th = texts_hash(texts)  # also rejects non-strings with a clear message
    parts = {
        "model": model_fingerprint(model),
        "structure": model_structure(model),
        "texts": th,
        "device": _model_device(model),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "normalize": bool(normalize),
        "kwargs": {k: v for k, v in sorted(encode_kwargs.items())},
    }
    key = key_of(parts)
    path = embeddings_path(key)
    if use_cache and path.exists():
        hit = _load_npy_checked(path, len(texts))
        if hit is not None:
            return hit
    emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                       convert_to_numpy=True, show_progress_bar=False, **encode_kwargs)
    emb = np.asarray(emb, dtype=np.float32)
    if use_cache:
        _save_npy(path, emb, {k: v for k, v in parts.items()} | {"n": len(texts)})
    return emb


# -------------------------------------------------------------------------------------------- models
def model_dir(kind: str, key_parts: dict) -> Path:
    return cache_root() / "models" / kind / key_of(key_parts)[:24]


def cached_model(kind: str, key_parts: dict, train: Callable[[Path], Any]) -> Path:
    """Return the folder of a trained model, training it once with ``train(tmp_folder)`` if needed.

    ``key_parts`` must name everything that changes the result: profile, recipe (hyper-parameters),
    base model fingerprint and a hash of the training data. ``train`` saves the model into the folder it
    is given; the folder only becomes visible once ``train`` returned without error.
    """
    final = model_dir(kind, key_parts)
    if is_complete(final):
        return final
    with atomic_dir(final) as tmp:
        train(tmp)
        _atomic_write_bytes(tmp / "sbert_lessons_key.json",
                            json.dumps(key_parts, indent=1, sort_keys=True, default=_json_default).encode())
    return final
