"""Helpers shared by the figure-band tests: read one recorded figure, with a clear failure if absent."""

from __future__ import annotations

from typing import Any


def entry(metrics: dict, key: str) -> dict[str, Any]:
    assert key in metrics, f"{key} was not recorded; did its notebook run? (make test executes them all)"
    return metrics[key]


def value(metrics: dict, key: str) -> Any:
    return entry(metrics, key)["value"]


def profile(metrics: dict, key: str) -> str:
    return entry(metrics, key)["profile"]


def held_comparison(metrics: dict, key: str, low: float, high: float, verdicts: dict,
                    full: tuple[float, float] | None = None) -> dict[str, Any]:
    """A recorded comparison held: its difference lies in [low, high] (``full``: the range for a full-profile
    record, where it differs from smoke's) and inside its own interval, its verdict follows from that
    interval, and it is one of ``verdicts[key][profile]`` (a verdict or a tuple of accepted ones;
    ``{a}``/``{b}`` stand for the comparison's two names). No verdict held for the profile of the record: the
    check skips, saying so."""
    import pytest

    e = entry(metrics, key)
    if full is not None and e["profile"] == "full":
        low, high = full
    assert low <= e["value"] <= high, (key, e["value"])
    lo, hi = e["ci95"]
    assert lo <= e["value"] <= hi, (key, e["ci95"])
    c = e["comparison"]
    expected = "no detectable difference" if lo <= 0 <= hi else f"{c['a'] if lo > 0 else c['b']} ahead"
    assert e["verdict"] == expected, (key, e["verdict"], e["ci95"])  # the verdict follows from the interval
    want = verdicts[key].get(e["profile"])
    if want is None:
        pytest.skip(f"{key}: no verdict is held for the {e['profile']} profile")
    want = tuple(w.format(a=c["a"], b=c["b"]) for w in (want if isinstance(want, tuple) else (want,)))
    assert e["verdict"] in want, (key, e["profile"], e["verdict"])
    return e
