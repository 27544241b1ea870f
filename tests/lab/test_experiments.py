"""Every optimization experiment's quick mode: the verdict of each sub-claim, asserted."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import lab

# experiment → the expected outcome of each of its checks, in order (False: the claim is
# false under these parameters and the experiment must say so)
EXPECTED = {
    "optimizer-paths": (True, True, True, True),
    "stability-limits": (True, True, True, False),
    "adaptive-step-sizes": (True, True),
    "adam-bias-correction": (True, True),
    "newton": (True, True, True),
    "saddle-escape": (True, True, True, True),
    "learning-rate-sweep": (True, False, False, True),
    "lr-range-test": (False, True),
    "batch-size-noise": (True, True),
    "gradient-centralization": (True, True, True, False),
    "loss-landscape": (True, True),
}


@pytest.fixture(scope="module")
def results():
    return {name: lab.run(name, quick=True) for name in EXPECTED}


def test_every_registered_optimization_experiment_is_covered():
    names = [e.name for e in lab.EXPERIMENTS.entries() if e.value.topic == "optimization"]
    assert sorted(names) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_verdicts(results, name):
    result = results[name]
    outcome = tuple(check.holds for check in result.checks)
    assert outcome == EXPECTED[name], [c.line() for c in result.checks]
    assert result.figures and all(f.axes for f in result.figures)
    for figure in result.figures:
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


def test_numbers_match_independent_computations(results):
    stability = results["stability-limits"].numbers
    assert stability["largest_rate_error_vs_spectral_radius"] < 0.01
    analytic = stability["analytic_limits_at_mu_0.95"]
    assert analytic["heavy_ball"] == pytest.approx(2 * 1.95)
    assert analytic["nesterov"] == pytest.approx(2 * 1.95 / 2.9)
    adam = results["adam-bias-correction"].numbers
    assert adam["first_step_ratio"] == pytest.approx((1 - 0.9) / np.sqrt(1 - 0.999), rel=1e-6)
    newton = results["newton"].numbers
    assert newton["quadratic"]["after_one_step"] < 1e-9
    assert newton["logistic"]["newton_order"] == pytest.approx(2.0, abs=0.2)
    saddle = results["saddle-escape"].numbers
    assert saddle["hessian_eigenvalues_at_saddle"] == [-2.0, 2.0]
    expected_k = np.log(0.1 / 1e-8) / np.log(1.1)
    assert abs(saddle["perturbed_gd_escape_step"] - expected_k) <= 1.5


def test_the_same_run_gives_the_same_numbers_and_figure_bytes():
    from nablab.viz import png_bytes

    first = lab.run("adam-bias-correction", quick=True)
    second = lab.run("adam-bias-correction", quick=True)
    assert first.to_json() == second.to_json()
    assert png_bytes(first.figures[0]) == png_bytes(second.figures[0])


def test_parameters_are_checked_and_reported():
    with pytest.raises(lab.ExperimentError, match="unknown parameter 'stepz'; valid: function"):
        lab.run("optimizer-paths", stepz=3)
    with pytest.raises(lab.ExperimentError, match=r"steps must be in \[10, 5000\], got 3"):
        lab.run("optimizer-paths", steps=3)
    result = lab.run("adam-bias-correction", quick=True, steps=10)
    assert result.params["steps"] == 10
    assert result.command() == "nablab lab run adam-bias-correction --quick --set steps=10"
    assert "Verdict: holds" in result._repr_html_()


def test_the_obd_experiment_is_in_the_lab_with_the_paper_checks(monkeypatch):
    """The computation is tested in tests/prune/test_experiment.py; here, the lab's view."""
    import nablab.lab.pruning.obd as obd

    spec = lab.EXPERIMENTS["optimal-brain-damage"]
    assert spec.topic == "pruning" and "OBD saliency" in spec.claim
    seen = {}

    def fake(params):
        seen.update(params)
        checks = [{"claim": "c", "holds": True, "evidence": "e"}]
        return {"weights": 10, "checks": checks}, [], "reproduced"

    monkeypatch.setattr(obd, "obd_figures", fake)
    result = lab.run("optimal-brain-damage", quick=True)
    assert result.verdict == "holds" and "checks" not in result.numbers
    assert seen["hidden"] == spec.quick["hidden"]
