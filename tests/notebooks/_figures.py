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
