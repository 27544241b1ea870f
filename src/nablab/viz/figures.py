"""Making, styling and saving figures deterministically."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency. Black last, for a reference line.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)

_STYLE = {
    "axes.prop_cycle": None,  # set below from PALETTE
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "svg.hashsalt": "nablab",  # SVG element ids from a fixed salt: identical bytes per run
    "svg.fonttype": "none",
}


def colors(n: int) -> list[str]:
    """``n`` colours from the palette (cycled when more are asked for)."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def _rc() -> dict[str, Any]:
    from cycler import cycler

    return {**_STYLE, "axes.prop_cycle": cycler(color=PALETTE)}


def new_figure(
    width: float = 7.0, height: float = 4.0, nrows: int = 1, ncols: int = 1, **subplots: Any
):
    """A new :class:`~matplotlib.figure.Figure` (not registered with pyplot) and its axes,
    in nablab's style: ``figure, ax = new_figure()``."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(nrows, ncols, **{"squeeze": True, **subplots})
    return figure, axes


def blank_figure(width: float = 7.0, height: float = 4.0):
    """A new figure without axes (add them with ``figure.add_subplot``, e.g. 3-D ones)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        return Figure(figsize=(width, height), layout="constrained")


def png_bytes(figure, dpi: int = 110) -> bytes:
    """The figure as PNG; no timestamp or software version, so equal figures give equal bytes."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_rc()):
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def svg_bytes(figure) -> bytes:
    """The figure as SVG with fixed element ids and no date."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_rc()):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def save(figure, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure to ``path`` atomically, as PNG or SVG by the file's extension."""
    from nablab._io import write_atomic

    path = Path(path)
    if path.suffix == ".svg":
        return write_atomic(path, svg_bytes(figure))
    if path.suffix != ".png":
        raise ValueError(f"save: {path} must end in .png or .svg")
    return write_atomic(path, png_bytes(figure, dpi))


def html_img(figure, alt: str, dpi: int = 90) -> str:
    """An ``<img>`` element with the figure inlined as base64 PNG (for reports and notebooks)."""
    from html import escape

    data = base64.b64encode(png_bytes(figure, dpi)).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}"/>'
