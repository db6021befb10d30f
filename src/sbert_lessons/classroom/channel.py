"""The data channel between the grader and a submission's process: framed JSON, data only.

Numbers, strings, lists, dicts, numpy arrays and torch tensors go across (never pickles). Everything the
grader reads from the submission is untrusted: a frame that is too large, not JSON, nested too deeply or
shaped wrongly raises :class:`ChannelError`, which the grader turns into that submission's failure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import struct
import time
from typing import Any

import numpy as np

MAX_FRAME = 64 << 20             # one message may carry at most 64 MiB
MAX_DEPTH = 32                   # nesting of values (lists, dicts) inside a message
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"}


class ChannelError(RuntimeError):
    """The worker's side of the channel sent something that is not a well-formed message."""


class StudentCodeError(Exception):
    """The submission's own code raised (or returned something the grader cannot read)."""


class WorkerGone(StudentCodeError):
    """The submission's process is no longer running (time or memory limit, crash, protocol violation)."""


def encode_value(x: Any, depth: int = 0) -> dict:
    """Data-only wire form of ``x``; objects that are not plain data become references (``ref``)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send")
    if x is None:
        return {"t": "none"}
    if isinstance(x, (bool, int, float, str)) and not isinstance(x, np.generic):
        return {"t": "json", "v": x}
    if isinstance(x, np.generic):
        return {"t": "json", "v": x.item()}
    if isinstance(x, np.ndarray) and x.dtype.name in _DTYPES:
        return _array("nd", x)
    if type(x).__module__ == "torch" and type(x).__name__ in ("Tensor", "Parameter"):
        return _array("torch", x.detach().cpu().numpy())
    if isinstance(x, (list, tuple)):
        return {"t": "list" if isinstance(x, list) else "tuple",
                "v": [encode_value(i, depth + 1) for i in x]}
    if isinstance(x, dict) and all(isinstance(k, str) for k in x):
        return {"t": "dict", "v": [[k, encode_value(v, depth + 1)] for k, v in x.items()]}
    return {"t": "ref", "type": type(x).__name__, "callable": callable(x)}


def _array(kind: str, a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"t": kind, "dtype": a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _items(d: dict) -> list:
    v = d.get("v", [])
    if not isinstance(v, list):
        raise ChannelError("malformed list")
    return v


def decode_value(d: Any, depth: int = 0, ref_factory=None) -> Any:
    """Inverse of :func:`encode_value`; never unpickles, never imports or calls anything it is sent."""
    if depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if not isinstance(d, dict):
        raise ChannelError("malformed value")
    t = d.get("t")
    if t == "none":
        return None
    if t == "json":
        v = d.get("v")
        if not isinstance(v, (bool, int, float, str)):
            raise ChannelError("malformed scalar")
        return v
    if t in ("nd", "torch"):
        dtype, shape, b64 = d.get("dtype"), d.get("shape"), d.get("b64", "")
        if (dtype not in _DTYPES or not isinstance(shape, list) or len(shape) > 32
                or not all(type(s) is int and 0 <= s <= MAX_FRAME for s in shape) or not isinstance(b64, str)):
            raise ChannelError("malformed array")
        n = 1
        for s in shape:
            n *= s
        if n * np.dtype(dtype).itemsize > MAX_FRAME:
            raise ChannelError("array too large")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError as e:
            raise ChannelError("malformed array data") from e
        if len(raw) != n * np.dtype(dtype).itemsize:
            raise ChannelError("array size does not match its shape")
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if t == "torch":
            import torch

            return torch.from_numpy(a)
        return a
    if t in ("list", "tuple"):
        items = [decode_value(i, depth + 1, ref_factory) for i in _items(d)]
        return items if t == "list" else tuple(items)
    if t == "dict":
        out = {}
        for pair in _items(d):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ChannelError("malformed dict")
            out[pair[0]] = decode_value(pair[1], depth + 1, ref_factory)
        return out
    if t == "ref":
        if ref_factory is None:
            raise StudentCodeError(f"returned an object of type {str(d.get('type'))[:60]} that the grader "
                                   "cannot read: return numbers, lists, numpy arrays or torch tensors")
        return ref_factory(d)
    raise ChannelError(f"unknown value kind {str(t)[:20]!r}")


def _write_frame(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise ValueError("message too large")
    buf = struct.pack(">Q", len(data)) + data
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> dict:
    """One message. Raises ``TimeoutError``, ``EOFError`` or :class:`ChannelError` (never anything else
    for bad input: a frame nested thousands deep is a ``ChannelError``, not a ``RecursionError``)."""
    (n,) = struct.unpack(">Q", _read_exact(fd, 8, deadline))
    if n > MAX_FRAME:
        raise ChannelError(f"message too large ({n} bytes, at most {MAX_FRAME})")
    try:
        obj = json.loads(_read_exact(fd, n, deadline).decode("utf-8"))
    except RecursionError:
        raise ChannelError("message nested too deeply") from None
    except MemoryError:
        raise ChannelError("message too large to read") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, ints too long to convert
        raise ChannelError(f"message is not JSON ({str(e)[:80]})") from None
    if not isinstance(obj, dict):
        raise ChannelError("message is not an object")
    return obj


# ------------------------------------------------------------------------------ helpers for tests
def value_and_grad(fn: Any, *tensors: Any, **kwargs: Any):
    """``(loss, [d loss / d tensor ...])`` of a scalar-valued ``fn(*tensors, **kwargs)``.

    Test files use it so that one test works both in the student's notebook (``grader.check``: ``fn``
    is their function) and in the grader (``fn`` is a :class:`RemoteRef`: the gradient is taken in the
    student's process and comes back as data).
    """
    if isinstance(fn, RemoteRef):
        return fn._call(tensors, kwargs, grad=True)
    import torch

    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    loss = fn(*leaves, **kwargs)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError("the function must return a scalar torch tensor")
    loss.backward()
    return loss.detach(), [t.grad for t in leaves]


def raises(exc_type: type[BaseException], fn: Any, *args: Any, **kwargs: Any) -> bool:
    """Whether ``fn(*args, **kwargs)`` raises ``exc_type`` (or a subclass of it).

    Works for the student's own function (``grader.check`` in their notebook) and for a
    :class:`RemoteRef` (the grader), where the exception is reported by name across the channel.
    """
    try:
        fn(*args, **kwargs)
    except StudentCodeError as e:
        if isinstance(e, WorkerGone):
            return False
        m = re.search(r" raised (\w+):", str(e))
        if not m:
            return False
        import builtins

        raised = getattr(builtins, m.group(1), None)
        return isinstance(raised, type) and issubclass(raised, exc_type)
    except exc_type:
        return True
    except Exception:  # noqa: BLE001 - another exception is a "no"
        return False
    return False


class RemoteRef:
    """A name (or attribute) in the submission's namespace that is not plain data: call it to run it there.

    ``worker`` is the grader's side of a submission's process (``sandbox.Worker``): its ``request``
    sends one message and returns the answer, and ``protocol_error`` ends the submission when the answer
    is not well formed.
    """

    def __init__(self, worker: Any, path: list[str], type_name: str = "object"):
        self._worker, self._path, self._type = worker, path, type_name

    def __getattr__(self, name: str) -> RemoteRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteRef(self._worker, self._path + [name])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, grad=False)

    def _call(self, args, kwargs, grad: bool):
        req = {"op": "call", "path": self._path, "args": [encode_value(a) for a in args],
               "kwargs": {k: encode_value(v) for k, v in kwargs.items()}, "grad": grad}
        if any(a["t"] == "ref" for a in req["args"]) or any(v["t"] == "ref" for v in req["kwargs"].values()):
            raise TypeError("only data can be passed to the submission's functions")
        resp = self._worker.request(req, self._worker.limits.call_s)
        try:
            if not resp.get("ok"):
                raise StudentCodeError(f"{'.'.join(self._path)} raised {str(resp.get('error'))[:500]}")
            value = decode_value(resp.get("value"))
            if grad:
                grads = resp.get("grads", [])
                if not isinstance(grads, list):
                    raise ChannelError("malformed gradients")
                return value, [decode_value(g) for g in grads]
            return value
        except ChannelError as e:
            raise self._worker.protocol_error(str(e)) from None

    def __repr__(self) -> str:
        return f"<the submission's {'.'.join(self._path)}>"
