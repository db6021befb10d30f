"""The house style for figures (introduced in chapter 0; the helpers below are first used in chapter 3).

Rules the lessons follow, so that a reader can read every figure:

- a legend wherever an axis shows more than one series (:func:`legend`, :func:`shared_legend`);
- reference values (a paper's figure, a baseline) drawn as labelled lines that go *into* the legend
  (:func:`reference_line`), never as free text that can run into the legend or the data;
- panels that are compared share their axes (``plt.subplots(..., sharex=True, sharey=True)``);
- a validation curve is compared with a validation baseline, not a test one.
"""

from __future__ import annotations

from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
REFERENCE_STYLE = {"color": "#555555", "linestyle": ":", "linewidth": 1.2}


def use_style() -> None:
    """Apply the course's matplotlib style: readable sizes, light grid, no top/right spines."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 110, "savefig.bbox": "tight",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 12, "axes.labelsize": 11, "legend.frameon": False,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
    })


def _check_axes(ax: Any, name: str = "ax") -> None:
    if not (hasattr(ax, "axhline") and hasattr(ax, "get_legend_handles_labels")):
        raise TypeError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}")


def reference_line(ax: Any, value: float, label: str, orientation: str = "horizontal", **style: Any):
    """Draw a labelled reference line (a paper's value, a baseline) that appears in the legend.

    ``orientation`` is "horizontal" (a y value) or "vertical" (an x value). Returns the line.
    """
    import math

    _check_axes(ax)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"reference value must be a finite number, got {value!r}")
    if not isinstance(label, str) or not label.strip():
        raise ValueError("a reference line needs a non-empty label (it goes into the legend)")
    kw = {**REFERENCE_STYLE, **style}
    if orientation == "horizontal":
        return ax.axhline(value, label=label, **kw)
    if orientation == "vertical":
        return ax.axvline(value, label=label, **kw)
    raise ValueError(f"orientation must be 'horizontal' or 'vertical', got {orientation!r}")


def legend(ax: Any, **kw: Any):
    """A legend for ``ax``; raises ``ValueError`` when the axis has no labelled series to explain."""
    _check_axes(ax)
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        raise ValueError("this axis has no labelled series: pass label=... when plotting")
    return ax.legend(handles, labels, **kw)


def shared_legend(fig: Any, axes: Any, ncol: int | None = None, **kw: Any):
    """One legend for several panels, below them, each label once (panels often repeat series)."""
    axes = list(getattr(axes, "flat", axes))
    if not axes:
        raise ValueError("shared_legend needs at least one axis")
    seen: dict[str, Any] = {}
    for i, ax in enumerate(axes):
        _check_axes(ax, f"axes[{i}]")
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if not seen:
        raise ValueError("none of the axes has a labelled series: pass label=... when plotting")
    ncol = ncol or min(len(seen), 4)
    return fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=ncol,
                      bbox_to_anchor=(0.5, -0.02), **kw)
