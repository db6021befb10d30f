"""plots: the reference line goes into the legend, legends refuse empty axes, bad input is refused."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from sbert_lessons import plots


def test_reference_line_is_in_the_legend():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="measured")
    plots.reference_line(ax, 0.5, "paper: 0.5")
    plots.reference_line(ax, 0.2, "threshold", orientation="vertical")
    leg = plots.legend(ax)
    assert [t.get_text() for t in leg.get_texts()] == ["measured", "paper: 0.5", "threshold"]
    plt.close(fig)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1", None, True])
def test_reference_line_refuses_bad_values(value):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="finite number"):
        plots.reference_line(ax, value, "x")
    plt.close(fig)


def test_reference_line_needs_a_label_and_an_axis():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="label"):
        plots.reference_line(ax, 1.0, " ")
    with pytest.raises(ValueError, match="orientation"):
        plots.reference_line(ax, 1.0, "x", orientation="diagonal")
    with pytest.raises(TypeError, match="Axes"):
        plots.reference_line("not an axis", 1.0, "x")
    plt.close(fig)


def test_legend_refuses_an_axis_without_labels():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="no labelled series"):
        plots.legend(ax)
    plt.close(fig)


def test_shared_legend_lists_each_label_once():
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a")
        ax.plot([0, 1], [1, 0], label="b")
    plots.reference_line(axes[1], 0.5, "baseline")
    leg = plots.shared_legend(fig, axes)
    assert [t.get_text() for t in leg.get_texts()] == ["a", "b", "baseline"]
    with pytest.raises(ValueError, match="at least one axis"):
        plots.shared_legend(fig, [])
    plt.close(fig)
