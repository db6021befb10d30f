"""Every headline figure goes through :func:`record` (introduced in chapter 0; design §5).

``record("ch02.stsb_test.avg_glove", 39.1, ref=58.02, ref_source="SBERT paper, 840B-300d")``

* glues the value under its key for the prose (myst-nb ``{glue:text}`ch02.stsb_test.avg_glove:.2f```),
* appends it to ``_build/metrics.json`` (one object keyed by figure name) with the profile, device and
  library versions that produced it. Tests hold those figures in bands; the book's figures page
  renders the file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_METRICS = "SBERT_LESSONS_METRICS"
KEY_RE = re.compile(r"^ch\d{2}\.[a-z0-9_]+(\.[a-z0-9_]+)+$")
_VERSION_PACKAGES = ("torch", "sentence-transformers", "transformers", "numpy", "scikit-learn", "gensim")


class MetricError(ValueError):
    """A figure with a malformed key or a value that is not a finite number."""


def project_root(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return None


def metrics_path() -> Path:
    """``$SBERT_LESSONS_METRICS``, else ``<book root>/_build/metrics.json``, else ``./_build/…``."""
    env = os.environ.get(ENV_METRICS)
    if env:
        return Path(env).expanduser()
    return (project_root() or Path.cwd()) / "_build" / "metrics.json"


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _VERSION_PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_metrics(path: Path | None = None) -> dict[str, dict[str, Any]]:
    path = path or metrics_path()
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MetricError(f"{path} is not valid JSON ({exc}); delete it and re-run the notebooks") from exc


def _as_number(key: str, value: Any) -> float | int | bool:
    if hasattr(value, "item"):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, bool):
        return value
    if not isinstance(value, (int, float)):
        raise MetricError(f"{key}: value must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise MetricError(f"{key}: value is {value}, not a finite number; the computation failed")
    return value


def _interval(key: str, ci95: Any, number: float) -> list[float]:
    try:
        low, high = (float(_as_number(key + " (ci95)", x)) for x in ci95)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{key}: ci95 must be a pair (low, high) of finite numbers, got {ci95!r}") from exc
    if not low <= high:
        raise MetricError(f"{key}: ci95 low {low} is above high {high}")
    if isinstance(number, (int, float)) and not isinstance(number, bool) and not low <= number <= high:
        # a percentile interval can miss its point estimate only in pathological cases: say so, do not hide
        raise MetricError(f"{key}: the value {number} lies outside its interval [{low}, {high}]")
    return [low, high]


def record(key: str, value: Any, *, ref: float | None = None, ref_source: str | None = None,
           unit: str | None = None, note: str | None = None, glue: bool = True,
           ci95: tuple[float, float] | None = None, extra: dict[str, Any] | None = None) -> Any:
    """Record a headline figure; returns ``value`` so that it can be printed in the same line.

    ``ci95``: the figure's 95 % interval (from :mod:`sbert_lessons.uncertainty`), stored beside it and
    glued as ``<key>.ci95`` (Markdown, e.g. ``[0.612, 0.689]``). ``extra``: further JSON fields."""
    from .profile import active

    if not KEY_RE.match(key):
        raise MetricError(f"figure key {key!r} must look like 'chNN.<what>.<variant>' (lower case)")
    number = _as_number(key, value)
    if ref is not None:
        ref = _as_number(key + " (ref)", ref)
    interval = _interval(key, ci95, number) if ci95 is not None else None
    prof = active()
    entry = {
        "value": number, "ref": ref, "ref_source": ref_source, "unit": unit, "note": note,
        "profile": prof.name, "device": prof.device, "device_name": _device_name(prof.device),
        "versions": library_versions(),
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if interval is not None:
        entry["ci95"] = interval
    if extra:
        clash = set(extra) & set(entry)
        if clash:
            raise MetricError(f"{key}: extra fields {sorted(clash)} would overwrite the record's own")
        entry.update(extra)
    path = metrics_path()
    with _locked(path):
        data = load_metrics(path)
        data[key] = entry
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1))
        os.replace(tmp, path)
    if glue:
        _glue(key, number)
        if interval is not None:
            _glue_md(key + ".ci95", _fmt_interval(interval, number))
    return value


def _fmt_interval(interval: list[float], number: Any) -> str:
    digits = 2 if abs(float(number)) >= 10 else 3
    return f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def record_comparison(key: str, comparison: Any, *, unit: str | None = None, note: str | None = None,
                      digits: int | None = None) -> Any:
    """Record a :class:`~sbert_lessons.uncertainty.Comparison` under ``key`` and glue its words.

    The figure is the difference A − B with its interval; the record also holds both values, n, the
    method and the verdict. Glued for the prose (all Markdown, pasted with ``{glue:md}``):
    ``<key>.verdict`` ("dense ahead" / "no detectable difference"), ``<key>.summary``
    ("+0.019 [−0.018, +0.058]") and ``<key>.ci95``; ``<key>`` itself is the difference (``{glue:text}``).
    Returns the comparison so that a cell can show it."""
    from .uncertainty import Comparison

    if not isinstance(comparison, Comparison):
        raise MetricError(f"{key}: record_comparison needs a uncertainty.Comparison, got "
                          f"{type(comparison).__name__}")
    fields = comparison.as_dict()
    record(key, comparison.difference, unit=unit, note=note, ci95=(comparison.low, comparison.high),
           extra={"comparison": {k: v for k, v in fields.items() if k != "verdict"},
                  "verdict": comparison.verdict, "detected": comparison.detected})
    d = digits if digits is not None else (2 if max(abs(comparison.a_value), abs(comparison.b_value)) >= 10
                                           else 3)
    _glue_md(key + ".verdict", comparison.verdict)
    _glue_md(key + ".summary", f"{comparison.difference:+.{d}f} {comparison.interval(d)}")
    return comparison


def _glue_md(key: str, text: str) -> None:
    try:
        from IPython.display import Markdown
        from myst_nb import glue
    except ImportError:
        return
    with contextlib.suppress(Exception):
        glue(key, Markdown(text), display=False)


def drop_stale(chapter: str, since: str, path: Path | None = None) -> list[str]:
    """Remove chapter ``chapter``'s figures recorded before ``since`` (ISO time, UTC) and return their keys.

    Called after a lesson ran to the end: a figure it did not record this time comes from an earlier
    version of the lesson, and would otherwise stay on the figures page with nothing behind it."""
    if not re.fullmatch(r"\d{2}", chapter):
        raise MetricError(f"chapter must be two digits, got {chapter!r}")
    path = path or metrics_path()
    with _locked(path):
        data = load_metrics(path)
        stale = sorted(k for k, e in data.items()
                       if k.startswith(f"ch{chapter}.") and e.get("recorded_at", "") < since)
        if stale:
            for k in stale:
                del data[k]
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1))
            os.replace(tmp, path)
    return stale


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        with contextlib.suppress(Exception):
            import torch

            return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"{platform.processor() or platform.machine()} x{os.cpu_count()}"


def _glue(key: str, value: Any) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # outside the book toolchain (e.g. a bare Colab) gluing is not needed
        return
    with contextlib.suppress(Exception):
        glue(key, value, display=False)


def show_attribution(models: tuple[str, ...] = (), datasets: tuple[str, ...] = ()):
    """A Markdown block with the license and citation of every model and dataset a lesson uses."""
    from IPython.display import Markdown

    from . import data as _data
    from . import models as _models

    lines = ["**Models and data used on this page**", ""]
    lines += [f"- {_models.attribution(m)}" for m in models]
    lines += [f"- {_data.attribution(d)}" for d in datasets]
    return Markdown("\n".join(lines))


def claim_rows(rows: list[tuple[str, float, float, float]]) -> list[dict[str, Any]]:
    """Judge claims: each row is ``(what, claimed, measured, tolerance)``; 'held' is computed, not typed."""
    out = []
    for n, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or len(row) != 4:
            raise MetricError(f"claim row {n} must be (what, claimed, measured, tolerance), got {row!r:.80}")
        what, claimed, measured, tol = row
        claimed = _as_number(f"{what} (claimed)", claimed)
        measured = _as_number(f"{what} (measured)", measured)
        tol = _as_number(f"{what} (tolerance)", tol)
        if tol < 0 or isinstance(tol, bool):
            raise MetricError(f"{what}: the tolerance must be a non-negative number, got {tol}")
        claimed, measured = float(claimed), float(measured)
        diff = measured - claimed
        out.append({"what": what, "claimed": claimed, "measured": measured, "difference": diff,
                    "tolerance": tol, "held": abs(diff) <= tol})
    return out


def claim_table(rows: list[tuple[str, float, float, float]], source: str, digits: int = 4):
    """A "claim vs measured" Markdown table; the verdict column is computed from the tolerance."""
    from IPython.display import Markdown

    lines = [f"**Claim vs measured** — source: {source}", "",
             "| what | claimed | measured | difference | held (± tolerance)? |", "|---|---:|---:|---:|---|"]
    for r in claim_rows(rows):
        verdict = "yes" if r["held"] else "**no**"
        lines.append(f"| {r['what']} | {r['claimed']:.{digits}f} | {r['measured']:.{digits}f} | "
                     f"{r['difference']:+.{digits}f} | {verdict} (± {r['tolerance']:g}) |")
    return Markdown("\n".join(lines))
