"""The OBD paper's figures, in their quick version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nablab.prune.experiment import OPTIONS, QUICK, combined_figure, obd_figures, resolve
from nablab.viz import png_bytes


@pytest.fixture(scope="module")
def quick():
    return obd_figures({"quick": True})


def test_quick_run_reproduces_the_papers_findings(quick):
    numbers, figures, verdict = quick
    assert verdict.startswith("reproduced: ")
    assert [c["holds"] for c in numbers["checks"]] == [True] * 4
    assert all(c["claim"] and c["evidence"] for c in numbers["checks"])
    assert numbers["weights"] == 64 * 16 + 16 * 10
    deleted, loss = numbers["deleted"], numbers["loss"]
    assert deleted[0] == 0 and deleted[-1] == numbers["weights"]
    for method in ("obd", "magnitude", "random"):
        assert loss[method][0] == numbers["baseline_loss"]  # nothing deleted yet
        # everything deleted: the same bias-only network whatever the order
        assert loss[method][-1] == pytest.approx(loss["obd"][-1], rel=1e-12)
    assert numbers["predicted"][0] == numbers["baseline_loss"]
    assert np.all(np.diff(numbers["predicted"]) >= 0)  # saliencies at a minimum are ≥ 0 (LM)
    half = len(deleted) // 2
    assert loss["obd"][half] < loss["magnitude"][half] < loss["random"][half]
    r = numbers["retraining"]
    assert r["deleted"] == [round(0.9 * k / 4 * numbers["weights"]) for k in range(1, 5)]
    assert len(figures) == 3
    json.dumps(numbers)  # plain numbers, ready for a results file


def test_figures_are_titled_and_labelled(quick):
    numbers, figures, _ = quick
    for figure in figures:
        (ax,) = figure.axes
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert png_bytes(combined_figure(numbers)) == png_bytes(combined_figure(numbers))


def test_parameters_are_checked():
    assert set(QUICK) <= {o.name for o in OPTIONS}
    assert resolve({"quick": True, "hidden": 8})["hidden"] == 8
    assert resolve({"quick": True})["epochs"] == QUICK["epochs"]
    assert resolve()["hidden"] == 64
    with pytest.raises(ValueError, match="unknown parameters \\['hiden'\\]; valid: quick, seed"):
        obd_figures({"hiden": 3})
    with pytest.raises(ValueError, match="obd_figures: curvature must be one of"):
        obd_figures({"curvature": "newton"})
