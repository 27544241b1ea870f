"""Figures: object-oriented matplotlib, colour-blind-safe palette, identical bytes every run."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from nablab import viz

SCRIPT = """
import hashlib, sys
from nablab.train import TrainConfig, run_training
from nablab.viz import png_bytes, svg_bytes
history = run_training(TrainConfig(data="moons", hidden=(8,), epochs=3, lr=0.01)).history
figure = history.figures()["loss"]
print(hashlib.sha256(png_bytes(figure)).hexdigest(), hashlib.sha256(svg_bytes(figure)).hexdigest())
print("matplotlib.pyplot" in sys.modules)
"""


def test_the_same_run_draws_byte_identical_png_and_svg_in_separate_processes():
    outputs = [
        subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
        for _ in range(2)
    ]
    for done in outputs:
        assert done.returncode == 0, done.stderr
    assert outputs[0].stdout == outputs[1].stdout
    assert outputs[0].stdout.splitlines()[1] == "False"  # pyplot never imported


def test_figures_are_titled_and_labelled(tmp_path):
    figure, ax = viz.new_figure()
    ax.plot([1, 2, 3], [3, 1, 2], label="a")
    ax.set_title("t")
    path = viz.save(figure, tmp_path / "f.svg")
    assert path.read_bytes().startswith(b"<?xml")
    with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
        viz.save(figure, tmp_path / "f.jpg")
    assert viz.colors(10)[8] == viz.PALETTE[0]
    digest = hashlib.sha256(viz.png_bytes(figure)).hexdigest()
    assert digest == hashlib.sha256(viz.png_bytes(figure)).hexdigest()


def test_history_figures_have_titles_axis_labels_and_legends():
    from nablab.train import TrainConfig, run_training

    history = run_training(TrainConfig(data="moons", hidden=(8,), epochs=2)).history
    for name, figure in history.figures().items():
        (ax,) = figure.axes
        assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert ax.get_legend() is not None, name
