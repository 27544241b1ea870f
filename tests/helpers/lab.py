"""What every lab figure must have: a title and labelled axes (its own, a shared axis's, or the
figure's)."""

from __future__ import annotations


def assert_figures_labelled(name: str, figures) -> None:
    assert figures and all(f.axes for f in figures), name
    for figure in figures:
        for ax in figure.axes:
            if ax.get_label() == "<colorbar>":
                continue
            twins = ax.get_shared_x_axes().get_siblings(ax)
            assert any(a.get_title() for a in twins) or figure.get_suptitle(), name
            assert _label(ax, "x", figure) and _label(ax, "y", figure), (name, ax.get_title())


def _label(ax, which: str, figure) -> str:
    """The axis label of ``ax``, of an axes sharing that axis with it, or of the figure."""
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    twins = ax.get_shared_y_axes() if which == "x" else ax.get_shared_x_axes()
    for other in [ax, *shared.get_siblings(ax), *twins.get_siblings(ax)]:
        text = other.get_xlabel() if which == "x" else other.get_ylabel()
        if text:
            return text
    label = figure.get_supxlabel() if which == "x" else figure.get_supylabel()
    return label
