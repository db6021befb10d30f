"""On-disk cache of embeddings and trained models (introduced in chapter 0, used by every lesson).

Encoding is the cost centre on a CPU, and training even more so. Every lesson therefore encodes through
:func:`encode`, which keys each result by everything that determines it (the weights as they are now,
the architecture, ``truncate_dim``, prompts, tokenizer, options and the exact texts), and trains through
:func:`cached_model`, keyed by the recipe and the data. Entries are written atomically (a temporary file
or folder, then a rename), carry a checksum, and a corrupt entry is recomputed, never used. Folders are
installed under an inter-process lock and a finished folder is never deleted or replaced, so two
notebooks (or a notebook and a test) sharing the cache never destroy each other's work.

The folder is ``$SBERT_LESSONS_CACHE`` or ``~/.cache/sbert_lessons``. A folder that exists but cannot be
written (a teacher's prepared cache on a lab machine, a read-only shared mount) is used read-only: its
entries are served, anything missing is computed in memory, and one notice says that nothing will be saved
(:func:`cache_is_read_only`). ``encode(..., use_cache=False)`` never touches the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ENV_CACHE = "SBERT_LESSONS_CACHE"
COMPLETE_MARKER = ".complete"

_VERIFIED: dict[tuple[str, int, int], str] = {}


class ChecksumError(RuntimeError):
    """A file's sha256 is not the one the registry or manifest expects."""


class CacheFolderError(RuntimeError):
    """The cache folder cannot be used: it is a file, or it cannot be created or written."""


_WRITABLE: set[str] = set()
_READ_ONLY: set[str] = set()
_NOTICES: set[str] = set()


def _notice(key: str, message: str) -> None:
    """Print ``message`` to stderr once per process for ``key``."""
    if key not in _NOTICES:
        _NOTICES.add(key)
        print(message, file=sys.stderr, flush=True)


def _configured_root() -> tuple[Path, str | None]:
    value = os.environ.get(ENV_CACHE)
    return Path(value or Path.home() / ".cache" / "sbert_lessons").expanduser(), value


def cache_root() -> Path:
    """The cache folder (``$SBERT_LESSONS_CACHE`` or ``~/.cache/sbert_lessons``), created if missing.

    Raises :class:`CacheFolderError` naming the folder when it is a file or cannot be created. A folder
    that exists but cannot be written is returned all the same and used read-only (checked once per
    process by creating and removing a small file): its entries are served, nothing is saved, and one
    notice on stderr says so (see :func:`cache_is_read_only`).
    """
    root, value = _configured_root()
    key = str(root)
    if (key in _WRITABLE or key in _READ_ONLY) and root.is_dir():
        return root
    where = f"{ENV_CACHE}={value!r}" if value else f"the default cache folder {root}"
    fix = f"set {ENV_CACHE} to a folder you can write to (for example /tmp/sbert_lessons_cache)"
    if root.exists() and not root.is_dir():
        raise CacheFolderError(f"{where} is a file, not a folder: {fix}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheFolderError(f"{where} cannot be used as the cache ({type(exc).__name__}: "
                               f"{exc.strerror or exc}): {fix}") from exc
    try:
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _READ_ONLY.add(key)
        _notice(f"read-only:{key}", f"[sbert_lessons] {where} is read-only ({exc.strerror or exc}): cached "
                f"embeddings and models found there are used, anything missing is computed in memory and "
                f"nothing will be saved. To keep new results, {fix}.")
        return root
    _WRITABLE.add(key)
    return root


def cache_is_read_only() -> bool:
    """Whether the cache folder is being used read-only (it exists but cannot be written)."""
    root, _ = _configured_root()
    cache_root()
    return str(root) in _READ_ONLY


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


_HELD_LOCKS = threading.local()


@contextlib.contextmanager
def _writing(final: Path) -> Iterator[None]:
    """Turn a failure to create ``final``'s lock or temporary folder into a :class:`CacheFolderError`
    that names the folder (a read-only cache that does not hold ``final`` yet)."""
    try:
        yield
    except OSError as exc:
        raise CacheFolderError(f"cannot write {final.name} into {final.parent} ({type(exc).__name__}: "
                               f"{exc.strerror or exc}): the cache cannot be written there (read-only?) and does not hold "
                               f"it yet; set {ENV_CACHE} to a folder you can write to") from exc


@contextlib.contextmanager
def dir_lock(final: Path) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``final`` (a ``.<name>.lock`` file beside it).

    Re-entrant within one thread. The operating system releases the lock when a process dies, so a
    crashed writer never blocks the others. Where ``fcntl`` does not exist (Windows) it is a no-op:
    installs stay safe there because a finished folder is never replaced (see :func:`atomic_dir`).
    """
    final = Path(final)
    held = getattr(_HELD_LOCKS, "paths", None)
    if held is None:
        held = _HELD_LOCKS.paths = set()
    key = str(final.resolve())
    if key in held:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    with _writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = open(final.parent / f".{final.name}.lock", "a")  # noqa: SIM115 - closed by the with below
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install_dir(tmp: Path, final: Path) -> bool:
    """Move the finished folder ``tmp`` to ``final`` unless a finished ``final`` is already there.

    Returns True when ``tmp`` was installed, False when another writer had already finished (then
    ``tmp`` is left for the caller to discard). A *finished* folder (one with the completion marker)
    is never deleted or replaced; an unfinished one (debris of a crash) is first renamed aside, then
    removed. The whole step holds :func:`dir_lock`, so two writers cannot interleave.
    """
    with dir_lock(final):
        if is_complete(final):
            return False
        if final.exists() or final.is_symlink():
            stale = final.parent / f".{final.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(tmp, final)  # atomic; fails (never overwrites) if a folder appeared meanwhile
        return True


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success mark it complete and rename it into place.

    A crash leaves only a ``.tmp`` folder that is never read. If another process finished ``final``
    first, that folder is kept and this one is discarded (the first finished writer wins): a finished
    folder that someone may be reading is never removed. An existing ``final`` without the completion
    marker is treated as half-written and replaced.
    """
    final = Path(final)
    with _writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        _install_dir(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_complete(folder: Path) -> bool:
    return (Path(folder) / COMPLETE_MARKER).is_file()


# --------------------------------------------------------------------------------------- embeddings
def _is_torch_module(model: Any) -> bool:
    return callable(getattr(model, "state_dict", None)) and callable(getattr(model, "modules", None))


def tensor_hash(model: Any) -> str:
    """sha256 over every tensor of ``model.state_dict()`` (names, shapes, dtypes and bytes).

    It reads the weights themselves, so it sees every way of changing them: an optimizer step,
    ``load_state_dict``, ``param.data = ...``, ``param.data.mul_(...)`` or a write through NumPy. It
    takes about 0.1 s for all-MiniLM-L6-v2 on a CPU, cheap next to encoding.
    """
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            if t.dtype != torch.float32:  # float32 keeps the historical digest (declared labels use it)
                h.update(str(t.dtype).encode())
            flat = t.detach().to("cpu").contiguous().view(-1)
            if flat.numel():
                h.update(memoryview(flat.view(torch.uint8).numpy()))
    return "tensors:" + h.hexdigest()


def set_fingerprint(model: Any, fingerprint: str) -> None:
    """Declare a readable name for ``model``'s current weights (the registry does this on load).

    For a torch module the name is only a label: :func:`model_fingerprint` returns it together with the
    hash of the weights as they are at each call (marked ``changed:`` after any change since the
    declaration: a training step, ``param.data = ...``), so a fine-tuned model never reuses the
    embeddings cached for its base, and two models declared under one name never share entries.
    Objects without weights (stubs, ONNX wrappers) just carry the name, which must then identify them.
    """
    if not isinstance(fingerprint, str) or not fingerprint:
        raise TypeError(f"a fingerprint must be a non-empty string, got {fingerprint!r}")
    if _is_torch_module(model):
        model._sbert_lessons_fp_memo = (tensor_hash(model), fingerprint)
    else:
        model._sbert_lessons_fingerprint = fingerprint


def model_fingerprint(model: Any) -> str:
    """A content hash of a model's weights, prefixed by its declared name if it has one.

    Torch modules are hashed on every call (see :func:`tensor_hash`); nothing is memoised, because no
    cheap signal (tensor identity, data pointer, autograd version counter) sees every way of changing
    a weight. Other objects must declare ``_sbert_lessons_fingerprint``.
    """
    if not _is_torch_module(model):  # a stub, an ONNX wrapper: it must declare its fingerprint
        fp = getattr(model, "_sbert_lessons_fingerprint", None)
        if not fp:
            raise TypeError(f"cannot fingerprint a {type(model).__name__}: it has no state_dict(); "
                            "set its _sbert_lessons_fingerprint attribute")
        return fp
    fp = tensor_hash(model)
    memo = getattr(model, "_sbert_lessons_fp_memo", None)
    if isinstance(memo, tuple) and len(memo) == 2:
        declared_at, label = memo
        # the label names the model, the hash identifies it: two models declared under one label
        # (a notebook re-run with another seed) must never share cache entries
        return f"{label}|{fp}" if declared_at == fp else f"{label}|changed:{fp}"
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


def _jsonable(value: Any) -> Any:
    """``value`` if it can go into a key, else its ``repr`` (stable for the settings read here)."""
    try:
        json.dumps(value, sort_keys=True, default=_json_default)
        return value
    except (TypeError, ValueError):
        return repr(value)


def tokenizer_hash(tokenizer: Any) -> str | None:
    """sha256 of everything a tokenizer does: a fast tokenizer's full JSON (vocabulary, normaliser,
    pre-tokenizer, post-processor, truncation) plus its Python-side settings; a slow one's vocabulary."""
    if tokenizer is None:
        return None
    h = hashlib.sha256(f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}".encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None and callable(getattr(tokenizer, "to_str", None)):  # a bare ``tokenizers.Tokenizer``
        backend = tokenizer
    if backend is not None and callable(getattr(backend, "to_str", None)):
        # "truncation" and "padding" are per-call state: the library sets them on the first encode (from
        # max_seq_length, which the key holds separately), so they would make the key depend on call order.
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        h.update(json.dumps(state, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    elif callable(getattr(tokenizer, "get_vocab", None)):
        h.update(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode("utf-8"))
    else:
        h.update(repr(tokenizer).encode("utf-8"))
    settings = {a: _jsonable(getattr(tokenizer, a, None)) for a in
                ("model_max_length", "padding_side", "truncation_side", "do_lower_case")}
    special = getattr(tokenizer, "special_tokens_map", None)
    settings["special_tokens"] = _jsonable(special)
    h.update(json.dumps(settings, sort_keys=True, default=_json_default).encode("utf-8"))
    return h.hexdigest()


def output_settings(model: Any) -> dict[str, Any]:
    """Everything besides the weights that changes what ``model.encode`` returns.

    ``truncate_dim``, the prompts and the default prompt name, ``max_seq_length``, the tokenizer (its
    full content, see :func:`tokenizer_hash`), each module's own configuration
    (``get_config_dict()``) and each Hugging Face model's config. Attributes a model lacks are None.
    """
    out: dict[str, Any] = {}
    for attr in ("truncate_dim", "default_prompt_name", "prompts", "max_seq_length"):
        try:
            out[attr] = _jsonable(getattr(model, attr, None))
        except Exception:  # noqa: BLE001 - a property that fails on a partly built model
            out[attr] = None
    try:
        tok = getattr(model, "tokenizer", None)
    except Exception:  # noqa: BLE001 - same
        tok = None
    out["tokenizer"] = tokenizer_hash(tok)
    configs: list[tuple[str, str, Any]] = []
    seen: set[int] = set()
    if _is_torch_module(model):
        for name, module in model.named_modules():
            get_config = getattr(module, "get_config_dict", None)
            if callable(get_config) and module is not model:
                with contextlib.suppress(Exception):
                    configs.append((name, "module", _jsonable(get_config())))
            hf_config = getattr(module, "config", None)
            to_json = getattr(hf_config, "to_json_string", None)
            if callable(to_json) and id(hf_config) not in seen:  # submodules share their model's config
                seen.add(id(hf_config))
                with contextlib.suppress(Exception):
                    configs.append((name, "hf", hashlib.sha256(to_json(use_diff=False).encode()).hexdigest()))
            if module is not model:
                sub_tok = getattr(module, "tokenizer", None)
                if sub_tok is not None and sub_tok is not tok:
                    configs.append((name, "tokenizer", tokenizer_hash(sub_tok)))
    out["modules"] = configs
    return out


def encode_key_parts(model: Any, texts_digest: str, normalize: bool = False,
                     **encode_kwargs: Any) -> dict[str, Any]:
    """The description :func:`encode` hashes into its cache key (weights, architecture, settings,
    texts, device, options)."""
    return {
        "model": model_fingerprint(model),
        "structure": model_structure(model),
        "settings": output_settings(model),
        "texts": texts_digest,
        "device": _model_device(model),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "normalize": bool(normalize),
        "kwargs": {k: _jsonable(v) for k, v in sorted(encode_kwargs.items())},
    }


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

    Returns a float32 array of shape ``(len(texts), dim)``. The key (:func:`encode_key_parts`) is
    everything that determines the result: a hash of the weights as they are now, the architecture,
    the settings that change the output without changing the weights (``truncate_dim``, prompts,
    tokenizer, ``max_seq_length``; :func:`output_settings`), the texts' hash, the device type,
    ``normalize`` and any other keyword passed on to ``model.encode`` (``batch_size`` does not change
    the result, so it is not part of the key). A model output with NaN or infinite values raises
    ``ValueError`` and is not cached. With ``use_cache=False`` the cache folder is not touched at all; in
    a read-only cache folder hits are served and misses are computed without being saved.
    """
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not one string: wrap it as [text]")
    for name, flag in (("normalize", normalize), ("use_cache", use_cache)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {type(flag).__name__} {flag!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    texts = list(texts)
    if not texts:
        raise ValueError("encode() got an empty list of texts")
    th = texts_hash(texts)  # also rejects non-strings with a clear message
    path = parts = None
    if use_cache:  # use_cache=False never touches the cache folder (no folder created, no write check)
        parts = encode_key_parts(model, th, normalize, **encode_kwargs)
        path = embeddings_path(key_of(parts))
        if path.exists():
            hit = _load_npy_checked(path, len(texts))
            if hit is not None:
                return hit
    emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                       convert_to_numpy=True, show_progress_bar=False, **encode_kwargs)
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim < 1 or emb.shape[0] != len(texts):
        raise ValueError(f"{type(model).__name__}.encode returned shape {emb.shape} for {len(texts)} texts")
    bad = ~np.isfinite(emb.reshape(len(texts), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{type(model).__name__}.encode returned NaN or infinite values for "
                         f"{int(bad.sum())} of {len(texts)} texts (first: text {first}, {texts[first][:60]!r}); "
                         "nothing was cached. Check the model's weights (a diverged training run?).")
    if use_cache and not cache_is_read_only():
        try:
            _save_npy(path, emb, dict(parts) | {"n": len(texts)})
        except OSError as exc:  # a full disk, a sub-folder that cannot be written: keep the result anyway
            _notice(f"save:{path.parent.parent}", f"[sbert_lessons] could not save embeddings under "
                    f"{path.parent.parent} ({type(exc).__name__}: {exc.strerror or exc}); results are kept "
                    "in memory only, and this notice is not repeated.")
    return emb


# -------------------------------------------------------------------------------------------- models
def model_dir(kind: str, key_parts: dict) -> Path:
    return cache_root() / "models" / kind / key_of(key_parts)[:24]


def cached_model(kind: str, key_parts: dict, train: Callable[[Path], Any]) -> Path:
    """Return the folder of a trained model, training it once with ``train(tmp_folder)`` if needed.

    ``key_parts`` must name everything that changes the result: profile, recipe (hyper-parameters),
    base model fingerprint and a hash of the training data. ``train`` saves the model into the folder it
    is given; the folder only becomes visible once ``train`` returned without error.

    Two processes asking for the same model (two notebooks, a notebook and a test) do not both train:
    the second waits on a lock beside the folder (:func:`dir_lock`) and then uses the first one's
    result. A finished folder is never deleted or replaced, so a process reading it is never disturbed.
    In a read-only cache folder a model found there is used; a missing one is trained into a temporary
    folder outside the cache (removed when the process exits), once per process.
    """
    if not isinstance(kind, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", kind):
        raise ValueError(f"kind must be a short name of letters, digits, '_', '.' or '-', got {kind!r}")
    if not isinstance(key_parts, dict):
        raise TypeError(f"key_parts must be a dict describing the recipe, got {type(key_parts).__name__}")
    if not callable(train):
        raise TypeError(f"train must be a function train(folder), got {type(train).__name__}")
    final = model_dir(kind, key_parts)
    if is_complete(final):
        return final
    if cache_is_read_only():
        return _unsaved_model(kind, key_parts, final, train)
    with dir_lock(final):
        if is_complete(final):  # another process finished it while we waited
            return final
        with atomic_dir(final) as tmp:
            train(tmp)
            _atomic_write_bytes(tmp / "sbert_lessons_key.json",
                                json.dumps(key_parts, indent=1, sort_keys=True, default=_json_default).encode())
    return final


_UNSAVED: dict[str, Path] = {}


def _unsaved_model(kind: str, key_parts: dict, final: Path, train: Callable[[Path], Any]) -> Path:
    """Train into a temporary folder outside a read-only cache (kept for this process only)."""
    if str(final) in _UNSAVED and is_complete(_UNSAVED[str(final)]):
        return _UNSAVED[str(final)]
    import atexit

    parent = Path(tempfile.mkdtemp(prefix="sbert_lessons_unsaved_"))
    atexit.register(shutil.rmtree, parent, True)
    folder = parent / "models" / kind / final.name  # the same folder name as in the cache
    folder.mkdir(parents=True)
    try:
        train(folder)
        _atomic_write_bytes(folder / "sbert_lessons_key.json",
                            json.dumps(key_parts, indent=1, sort_keys=True, default=_json_default).encode())
        (folder / COMPLETE_MARKER).write_text("ok\n")
    except BaseException:
        shutil.rmtree(parent, ignore_errors=True)
        raise
    _UNSAVED[str(final)] = folder
    return folder
