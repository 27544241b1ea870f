"""Figures with matplotlib's object-oriented API: no pyplot state, no backend switching.

Every figure is a :class:`matplotlib.figure.Figure` made by :func:`new_figure` and saved by
:func:`save`, :func:`png_bytes` or :func:`svg_bytes` with fixed metadata, so the same numbers
give the same bytes. Colours come from the Okabe–Ito palette, which stays distinguishable
under the common forms of colour blindness. matplotlib is imported only when a figure is made.
"""

from nablab.viz.figures import (
    PALETTE,
    blank_figure,
    colors,
    html_img,
    new_figure,
    png_bytes,
    save,
    svg_bytes,
)

__all__ = [
    "PALETTE",
    "blank_figure",
    "colors",
    "html_img",
    "new_figure",
    "png_bytes",
    "save",
    "svg_bytes",
]
